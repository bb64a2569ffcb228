"""bench/proxy.py's processes: the local upstream and the proxies in front of it."""

import asyncio
import contextlib
import multiprocessing
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processes import stop_multiprocess, stop_process, tail

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "tests" / "fixtures" / "proxy" / "rules.yaml"
POLICIES = ROOT / "policies"
RESOLVER = Path(__file__).resolve().parent / "upstream_resolver.py"
START_TIMEOUT = 30.0
BODY = b"ok\n"
UPSTREAM_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
    % (len(BODY), BODY)
)
# The proxies: plain mitmdump; aiwall as deployed (`aiwall run`); aiwall as a mitmdump script;
# mitmdump's own block_list of the registry's hosts.
PLAIN, AIWALL, AIWALL_SCRIPT, BLOCK_LIST = "plain", "aiwall", "aiwall -s", "block_list"


class BenchError(Exception):
    """The benchmark cannot go on: a process did not start, or too many requests failed."""


# --- the upstream -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    kind: str  # what serves: "nginx 1.22.1" or "asyncio"
    http_port: int
    https_port: int
    certificate: Path


class FixedAnswer(asyncio.Protocol):
    """Answers every request head with the same small response (the requests carry no body)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.pending = b""

    def data_received(self, data: bytes) -> None:
        data = self.pending + data
        heads = data.count(b"\r\n\r\n")
        if heads:
            self.transport.write(UPSTREAM_RESPONSE * heads)
            data = data[data.rfind(b"\r\n\r\n") + 4 :]
        self.pending = data


def serve_asyncio_upstream(http_port: int, https_port: int, cert: Path, key: Path) -> None:
    """The upstream when nginx is not installed; runs in a process of its own."""

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.set_alpn_protocols(["http/1.1"])
        await loop.create_server(FixedAnswer, "127.0.0.1", http_port, backlog=1024)
        await loop.create_server(FixedAnswer, "127.0.0.1", https_port, ssl=context, backlog=1024)
        await asyncio.Event().wait()

    asyncio.run(serve())


NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/nginx.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
    client_body_temp_path {folder}/body;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{http_port} backlog=1024;
        listen 127.0.0.1:{https_port} ssl backlog=1024;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "{body}"; }}
    }}
}}
"""


def start_upstream(folder: Path, choice: str, stack: contextlib.ExitStack) -> Upstream:
    from tests.mitm import free_port
    from tests.upstream import self_signed_certificate

    folder.mkdir()
    cert, key = self_signed_certificate(folder)
    http_port, https_port = free_port(), free_port()
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if choice == "nginx" and not nginx:
        raise BenchError("--upstream nginx: no nginx found (Debian: apt-get install nginx-light)")
    if nginx and choice != "asyncio":
        config = folder / "nginx.conf"
        config.write_text(
            NGINX_CONF.format(
                folder=folder,
                http_port=http_port,
                https_port=https_port,
                cert=cert,
                key=key,
                body=BODY.decode().replace("\n", "\\n"),
            )
        )
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
        log: Path | None = folder / "nginx.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [nginx, "-p", str(folder), "-c", str(config), "-e", str(log)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        stack.callback(stop_process, process)
        exit_code: Callable[[], int | None] = process.poll
        kind = version.strip().removeprefix("nginx version: ").replace("/", " ")
    else:
        server = multiprocessing.get_context("spawn").Process(
            target=serve_asyncio_upstream, args=(http_port, https_port, cert, key), daemon=True
        )
        server.start()
        stack.callback(stop_multiprocess, server)
        log = None  # the child's errors go to this process's stderr

        def exit_code() -> int | None:
            return None if server.is_alive() else server.exitcode

        kind = "asyncio"
    for port in (http_port, https_port):
        wait_until_listening(port, exit_code, log)
    return Upstream(kind, http_port, https_port, cert)


# --- the proxies ------------------------------------------------------------------------------


@dataclass
class Proxy:
    name: str
    port: int
    command: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    rss_at_start: float = 0.0


def registry_hosts() -> list[str]:
    from aiwall.core.registry import load_registry

    return load_registry(POLICIES).index.hosts()


def proxy_command(
    name: str, port: int, folder: Path, upstream: Upstream, hosts: Sequence[str]
) -> list[str]:
    """aiwall as deployed (`aiwall run`); the others are mitmdump with the test suite's command
    line (tests/mitm.py): plain, with aiwall as a script, or with a block_list of the hosts."""
    from tests.mitm import MITMDUMP, mitmdump_command

    events = folder / "events.jsonl"
    options = [
        f"bench_upstream_http={upstream.http_port}",
        f"bench_upstream_https={upstream.https_port}",
    ]
    if name == AIWALL:
        command = [str(MITMDUMP.parent / "aiwall"), "run", "--listen", f"127.0.0.1:{port}"]
        command += ["--rules", str(RULES), "--policies", str(POLICIES), "--log", str(events)]
        settings = [f"confdir={folder / 'confdir'}", "ssl_insecure=true"]
        for setting in [*settings, f"scripts={RESOLVER}", *options]:
            command += ["--set", setting]
        return command
    own: dict[str, Any] = {}
    if name == AIWALL_SCRIPT:
        own = {"rules": RULES, "policies": POLICIES, "events": events}
    elif name == BLOCK_LIST:
        options += [f"block_list=/~d {host}/403" for host in hosts]
    return mitmdump_command(port, folder / "confdir", scripts=[RESOLVER], options=options, **own)


def start_proxy(
    name: str, folder: Path, upstream: Upstream, hosts: Sequence[str], stack: contextlib.ExitStack
) -> Proxy:
    from tests.mitm import free_port

    folder.mkdir()
    port = free_port()
    command = proxy_command(name, port, folder, upstream, hosts)
    log = folder / "mitmdump.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(stop_process, process)
    wait_until_listening(port, process.poll, log)
    return Proxy(name, port, command, process, log)


def wait_until_listening(port: int, exit_code: Callable[[], int | None], log: Path | None) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if exit_code() is not None:
            raise BenchError(f"exited before listening on {port}: {tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise BenchError(
        f"nothing listens on 127.0.0.1:{port} after {START_TIMEOUT:.0f} s: {tail(log)}"
    )


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    """Resident memory from /proc/PID/status, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    raise BenchError(f"no {field_name} in /proc/{pid}/status")
