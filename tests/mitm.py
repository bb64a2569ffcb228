"""The proxies' command lines, built once for the tests and the benchmarks (bench/ imports it).

Every proxy they start listens on 127.0.0.1, keeps its CA in its own folder, trusts the local
upstream's self-signed certificate, and connects upstream only when a request goes on
(connection_strategy=lazy, as aiwall needs). `mitmdump_command`: with `rules`, aiwall is
loaded, first, through the same shim as `mitmdump -s addon/mitmproxy_addon.py`;
`aiwall_run_command`: aiwall as deployed, `aiwall run` (its own lean mitmproxy).
"""

import socket
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MITMDUMP = Path(sys.executable).parent / "mitmdump"
AIWALL = Path(sys.executable).parent / "aiwall"
SHIM = ROOT / "addon" / "mitmproxy_addon.py"
# Makes every host name resolve to the local test upstream (tests/redirect_upstream.py).
REDIRECT = Path(__file__).resolve().parent / "redirect_upstream.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mitmdump_command(
    port: int,
    confdir: Path,
    *,
    rules: Path | None = None,
    policies: Path | None = None,
    events: Path | None = None,
    scripts: Sequence[Path] = (),
    options: Sequence[str] = (),
) -> list[str]:
    """mitmdump on 127.0.0.1:`port`; with `rules`, aiwall with those rules, `policies` (default:
    the shipped ones) and its event log in `events`; then each of `scripts`, and each of
    `options` (`NAME=VALUE`) as `--set`."""
    command = [str(MITMDUMP), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port)]
    settings = [f"confdir={confdir}", "ssl_insecure=true", "connection_strategy=lazy"]
    if rules is not None:
        command += ["-s", str(SHIM)]
        settings.append(f"aiwall_rules={rules}")
        if policies is not None:
            settings.append(f"aiwall_policies={policies}")
        if events is not None:
            settings.append(f"aiwall_log={events}")
    for script in scripts:
        command += ["-s", str(script)]
    for setting in [*settings, *options]:
        command += ["--set", setting]
    return command


def aiwall_run_command(
    port: int,
    confdir: Path,
    *,
    rules: Path,
    policies: Path,
    events: Path,
    scripts: Sequence[Path] = (),
    options: Sequence[str] = (),
) -> list[str]:
    """`aiwall run` on 127.0.0.1:`port`, as mitmdump_command's aiwall, scripts and options."""
    command = [str(AIWALL), "run", "--listen", f"127.0.0.1:{port}", "--confdir", str(confdir)]
    command += ["--rules", str(rules), "--policies", str(policies), "--log", str(events)]
    settings = ["ssl_insecure=true", *(f"scripts={script}" for script in scripts)]
    for setting in [*settings, *options]:
        command += ["--set", setting]
    return command
