"""`aiwall run`: mitmproxy with aiwall loaded and safe defaults, in one process."""

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from mitmproxy.exceptions import OptionsError
from mitmproxy.options import Options

from aiwall.proxy.addon import AiWall
from aiwall.proxy.master import PolicyMaster


def serve(
    listen: tuple[str, int],
    rules: Path,
    policies: Path | None,
    log: str,
    intercept: str,
    confdir: str,
    options: dict[str, str | int] | None = None,
    mitmproxy_options: list[str] | None = None,
) -> int:
    """Proxy. The addon validates the configuration and says on stderr what is wrong with it;
    with a state directory a start with broken files serves the last good configuration, and
    without one (or with none kept yet) it ends here with exit status 1."""
    options = options or {}
    ca = Path(confdir).expanduser() / "mitmproxy-ca-cert.pem"
    host, port = listen
    destination = "stdout" if log == "-" else log
    print(
        f"aiwall: proxy on {host or '*'}:{port}; rules {rules}; log {destination}\n"
        f"aiwall: CA certificate {ca} (created on first start). Clients must trust it:\n"
        f"  curl -x http://{host or '127.0.0.1'}:{port} --cacert {ca} https://chat.deepseek.com/\n"
        "  for browsers and operating systems see deploy/README.md (Trusting the CA)",
        file=sys.stderr,
    )
    if not options.get("aiwall_state_dir"):
        print(
            "aiwall: no --state-dir: the last good configuration is not kept, so a restart that"
            " finds broken files will not start",
            file=sys.stderr,
        )
    settings = {
        "aiwall_rules": str(rules),
        "aiwall_policies": str(policies or ""),
        "aiwall_log": log,
        "aiwall_intercept": intercept,
        **options,
    }
    try:
        return asyncio.run(_run(listen, confdir, settings, mitmproxy_options or []))
    except OptionsError as error:
        # Its first line: aiwall has already said every problem of a rejected configuration.
        print(f"aiwall: {str(error).splitlines()[0].rstrip(':')}", file=sys.stderr)
        return 1


async def _run(
    listen: tuple[str, int], confdir: str, settings: dict[str, str | int], specs: list[str]
) -> int:
    options = Options(listen_host=listen[0], listen_port=listen[1], confdir=confdir)
    master = PolicyMaster(options, AiWall())
    options.update(connection_strategy="lazy", **settings)
    # Like mitmdump --set (aiwall keeps connection_strategy=lazy); an option of a script in
    # `scripts` is known once the script is loaded: the master refuses what is still unknown.
    options.set(*specs, defer=True)
    # As mitmdump does: a container's first process (PID 1) gets no default for SIGTERM, so
    # without this `podman stop` or Kubernetes would wait out their grace period and kill it.
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(number, master.shutdown)
    await master.run()
    return 1 if master.unknown_options else 0
