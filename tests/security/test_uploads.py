"""Weakness 4: a refused upload was read whole into memory before the 403 (400 MiB upload →
+790 MiB RSS). Now it is answered at once and its body dropped as it arrives."""

import subprocess
import time
from pathlib import Path

import pytest

from ..proxy import running_proxy
from ..upstream import Upstream

pytestmark = [pytest.mark.security, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("http", ["--http1.1", "--http2"])
def test_a_refused_upload_is_answered_without_holding_its_body(
    tmp_path: Path, upstream: Upstream, http: str
) -> None:
    upload = tmp_path / "upload.bin"
    with upload.open("wb") as file:
        file.truncate(300 * MIB)  # sparse: no disk, but curl sends every byte
    rules = Path(__file__).parent / "rules.yaml"
    upstream.clear()
    with running_proxy(tmp_path / "proxy", upstream, rules, ROOT / "policies") as proxy:
        proxy.curl("https://chat.deepseek.com/warm-up", "-H", "Accept: application/json")
        before = peak_rss(proxy.process.pid)
        started = time.monotonic()
        result = subprocess.run(
            [
                "curl",
                "-sS",
                http,
                "--max-time",
                "60",
                "-x",
                proxy.url,
                "--cacert",
                str(proxy.ca),
                "-H",
                "Accept: application/json",
                "-T",
                str(upload),
                "-w",
                "\n%{http_code}",
                "https://chat.deepseek.com/api/upload",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        took = time.monotonic() - started
        grown = peak_rss(proxy.process.pid) - before
        events = proxy.events()
    assert result.stdout.rsplit("\n", 1)[-1] == "403", result.stderr
    assert '"aiwall_blocked"' in result.stdout
    assert grown < 64 * MIB, f"the proxy grew by {grown // MIB} MiB"
    assert took < 60
    assert not upstream.saw("deepseek.com")
    refusals = [e for e in events if e["event"]["action"] == "decision"]
    assert refusals[-1]["url"]["path"] == "/api/upload"
    assert refusals[-1]["http"]["response"]["status_code"] == 403
