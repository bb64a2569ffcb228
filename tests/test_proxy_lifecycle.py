"""The proxy as an IT engineer runs it: start-up errors, `aiwall run`, failing closed."""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import FIXTURES, ROOT, start_proxy
from .mitm import free_port, mitmdump_command
from .proxy import Proxy
from .upstream import Upstream

pytestmark = pytest.mark.e2e  # a real mitmdump: `pytest -m 'not e2e'` skips it


@pytest.fixture(scope="module")
def faulty_proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    script = Path(__file__).parent / "fault_injection.py"
    with start_proxy(tmp_path_factory, upstream, scripts=(script,)) as running:
        yield running


@pytest.mark.parametrize(
    "url",
    [
        "https://explode.deepseek.com/",
        "http://explode.deepseek.com/",
        "https://explode.example.org/",  # not known to be AI, but aiwall could not tell: closed
        "https://api.anthropic.com/explode",  # allowed vendor; the fault is in the Host only
    ],
)
def test_an_internal_error_fails_closed(faulty_proxy: Proxy, url: str) -> None:
    faulty_proxy.upstream.clear()
    host = url.split("/")[2]
    args = ("-H", "Accept: application/json")
    if "explode" not in host:
        args += ("-H", "Host: explode.anthropic.com")
    before = faulty_proxy.event_count()
    status, body = faulty_proxy.curl(url, *args)
    assert status == 503
    assert json.loads(body)["error"]["code"] == "aiwall_error"
    assert not faulty_proxy.upstream.saw("explode.deepseek.com")
    assert faulty_proxy.upstream.requests == []
    errors = [e for e in faulty_proxy.new_events(before) if e["event"]["action"] == "error"]
    assert errors and "injected fault" in errors[-1]["error"]["message"]


def test_the_proxy_keeps_serving_after_an_internal_error(faulty_proxy: Proxy) -> None:
    faulty_proxy.curl("https://explode.deepseek.com/")
    status, _ = faulty_proxy.curl("https://chat.deepseek.com/", "-H", "Accept: application/json")
    assert status == 403
    assert faulty_proxy.process.poll() is None


def test_a_broken_rules_file_stops_mitmdump_with_the_check_message(tmp_path: Path) -> None:
    case = FIXTURES / "broken" / "rules-unknown-action"
    command = mitmdump_command(
        free_port(),
        tmp_path,
        rules=case / "rules.yaml",
        policies=FIXTURES / "policies",
        events=tmp_path / "log",
    )
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    expected = (
        (case / "expected.txt").read_text().strip().replace("rules.yaml", str(case / "rules.yaml"))
    )
    assert expected in result.stdout + result.stderr


def test_aiwall_run_refuses_a_broken_configuration(tmp_path: Path) -> None:
    case = FIXTURES / "broken" / "rules-duplicate-rule-id"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "aiwall",
            "run",
            "--rules",
            "rules.yaml",
            "--policies",
            "../../policies",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--confdir",
            str(tmp_path),
        ],
        cwd=case,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    problems = [f"  {line}" for line in (case / "expected.txt").read_text().splitlines()]
    lines = result.stderr.splitlines()
    start = lines.index(
        "aiwall: ERROR: rejected the configuration, and there is no last good configuration to"
        " serve (aiwall_state_dir / aiwall run --state-dir keeps one): aiwall does not start:"
    )
    assert lines[start + 1 : start + 1 + len(problems)] == problems
    assert "aiwall: no --state-dir: the last good configuration is not kept" in result.stderr


def test_aiwall_run_with_the_example_rules_blocks_deepseek(tmp_path: Path) -> None:
    """The README's promise: `make run`, then curl shows the block page and one JSON event."""
    port = free_port()
    log = tmp_path / "events.jsonl"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiwall",
            "run",
            "--rules",
            str(ROOT / "rules.example.yaml"),
            "--listen",
            f"127.0.0.1:{port}",
            "--confdir",
            str(tmp_path / "conf"),
            "--log",
            str(log),
            "--set",
            "block_global=false",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        ca = tmp_path / "conf" / "mitmproxy-ca-cert.pem"
        deadline = time.monotonic() + 30
        while (
            not (ca.exists() and log.exists() and log.read_text()) and time.monotonic() < deadline
        ):
            assert process.poll() is None, process.communicate()
            time.sleep(0.1)
        result = subprocess.run(
            [
                "curl",
                "-sS",
                "--max-time",
                "10",
                "-x",
                f"http://127.0.0.1:{port}",
                "--cacert",
                str(ca),
                "-w",
                "\n%{http_code}",
                "https://chat.deepseek.com/",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        body, _, status = result.stdout.rpartition("\n")
        assert status == "403"
        assert "DeepSeek consumer app / web is blocked by company policy" in body
        assert "Northwind ChatGPT Enterprise" in body
        time.sleep(0.3)
        decisions = [json.loads(line) for line in log.read_text().splitlines()]
        decisions = [e for e in decisions if e["event"]["action"] == "decision"]
        assert len(decisions) == 1
        assert decisions[0]["rule"]["id"] == "block-cn-residency"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert str(tmp_path / "conf" / "mitmproxy-ca-cert.pem") in stderr


def test_an_ignored_tunnel_to_a_blocked_vendor_is_refused_at_connect(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> None:
    with start_proxy(tmp_path_factory, upstream, options=("ignore_hosts=deepseek",)) as proxy:
        upstream.clear()
        result = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "-x", proxy.url, "https://chat.deepseek.com/"],
            capture_output=True,
            text=True,
        )
        assert "403" in result.stderr  # curl: CONNECT tunnel failed, response 403
        assert not upstream.saw("deepseek.com")
        status, _ = proxy.curl("https://api.openai.com/", "-H", "Accept: application/json")
        assert status == 200


def test_intercept_all_catches_a_vendor_host_header_inside_any_tunnel(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> None:
    with start_proxy(tmp_path_factory, upstream, options=("aiwall_intercept=all",)) as proxy:
        upstream.clear()
        status, _ = proxy.curl(
            "https://example.org/",
            "-H",
            "Host: chat.deepseek.com",
            "-H",
            "Accept: application/json",
        )
        assert status == 403
        assert not upstream.saw("deepseek.com")
        status, body = proxy.curl("https://example.org/")  # decrypted, not AI: passed, unlogged
        assert status == 200 and "Upstream page for example.org" in body


def test_stream_large_bodies_gives_way_so_blocked_uploads_are_still_refused(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> None:
    with start_proxy(tmp_path_factory, upstream, options=("stream_large_bodies=1m",)) as proxy:
        upstream.clear()
        result = subprocess.run(
            ["curl", "-sS", "--max-time", "30", "-x", proxy.url, "--cacert", str(proxy.ca),
             "-H", "Accept: application/json", "--data-binary", "@-", "-w", "\n%{http_code}",
             "https://chat.deepseek.com/upload"],
            input=b"z" * (4 * 1024 * 1024), capture_output=True, timeout=60,
        )  # fmt: skip
        assert result.stdout.rsplit(b"\n", 1)[-1] == b"403"
        assert not upstream.saw("deepseek.com")
        assert "NotImplementedError" not in proxy.stderr_path.read_text()
