"""A real mitmdump with aiwall loaded, on 127.0.0.1, in front of the local test upstream."""

import base64
import hashlib
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .mitm import REDIRECT, ROOT, aiwall_run_command, free_port, mitmdump_command
from .upstream import Upstream

START_TIMEOUT = 30.0


@dataclass
class Proxy:
    port: int
    confdir: Path
    events_path: Path
    upstream: Upstream
    process: subprocess.Popen[bytes]
    stderr_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def spki_hash(self) -> str:
        """base64 SHA-256 of the CA's SubjectPublicKeyInfo, for Chromium's SPKI allow-list."""
        certificate = x509.load_pem_x509_certificate(self.ca.read_bytes())
        spki = certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        text = self.events_path.read_text()
        complete = text[: text.rfind("\n") + 1]  # a line still being written is not read yet
        return [json.loads(line) for line in complete.splitlines() if line]

    def event_count(self) -> int:
        return len(self.events())

    def new_events(self, since: int, wait: float = 2.0) -> list[dict[str, Any]]:
        """Events written after the first `since`, waiting briefly for the log to catch up."""
        deadline = time.monotonic() + wait
        while True:
            events = self.events()[since:]
            if events or time.monotonic() > deadline:
                return events
            time.sleep(0.02)

    def wait_for(self, since: int, action: str, timeout: float = 15) -> dict[str, Any]:
        """The first event of this kind written after the first `since` events."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events()[since:]:
                if event["event"]["action"] == action:
                    return event
            time.sleep(0.1)
        raise AssertionError(f"no {action} event within {timeout} s")

    def curl(self, url: str, *args: str, proxy_user: str | None = None) -> tuple[int, str]:
        """Run curl through the proxy; return the status code and body."""
        command = ["curl", "-sS", "--max-time", "10", "-x", self.url, "--cacert", str(self.ca)]
        if proxy_user:
            command += ["--proxy-user", proxy_user]
        command += [*args, "-w", "\n%{http_code}", url]
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
        body, _, status = result.stdout.rpartition("\n")
        return int(status or 0), body


@contextmanager
def running_proxy(
    folder: Path,
    upstream: Upstream,
    rules: Path,
    policies: Path | None = None,
    options: Sequence[str] = (),
    scripts: Sequence[Path] = (),
    env: Mapping[str, str] | None = None,
    redirect: bool = True,
    deployed: bool = False,
) -> Iterator[Proxy]:
    """`redirect`: resolve every name to the test upstream (off where another proxy, a parent
    in upstream mode, connects to the upstream instead). `env`: the process's environment.
    `deployed`: `aiwall run` (aiwall's own lean mitmproxy) instead of `mitmdump -s`."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    events = folder / "events.jsonl"
    stderr_path = folder / "mitmdump.log"
    if not any(option.startswith("aiwall_refusal_events=") for option in options):
        # Suites ask the same refused URL many times; tests/security checks the bound. (Given
        # twice, mitmproxy's --set drops both this and every later option.)
        options = [*options, "aiwall_refusal_events=0"]
    scripts = [*([REDIRECT] if redirect else []), *scripts]
    if deployed:
        command = aiwall_run_command(
            port,
            folder / "confdir",
            rules=rules,
            policies=policies or ROOT / "policies",
            events=events,
            scripts=scripts,
            options=options,
        )
    else:
        command = mitmdump_command(
            port,
            folder / "confdir",
            rules=rules,
            policies=policies,
            events=events,
            scripts=scripts,
            options=options,
        )
    env = dict(
        env or os.environ,
        AIWALL_TEST_TLS_PORT=str(upstream.tls_port),
        AIWALL_TEST_PLAIN_PORT=str(upstream.plain_port),
    )
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stderr, stderr=subprocess.STDOUT, env=env)
    proxy = Proxy(port, folder / "confdir", events, upstream, process, stderr_path)
    try:
        _wait_until_listening(proxy)
        yield proxy
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_listening(proxy: Proxy) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proxy.process.poll() is not None:
            raise RuntimeError(f"mitmdump exited: {proxy.stderr_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=0.5):
                if proxy.ca.exists() and proxy.event_count():  # config.loaded is written
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"mitmdump did not start: {proxy.stderr_path.read_text()}")
