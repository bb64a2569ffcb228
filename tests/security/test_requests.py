"""Bypasses 2, 3 and weaknesses 6-12 of the attack on a running proxy (issue "Close the
bypasses"): each test failed before its fix. The proxy runs with proxy authentication (any name
is accepted) so that identities are people."""

import html
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import start_proxy
from ..proxy import Proxy
from ..upstream import Upstream

pytestmark = [pytest.mark.security, pytest.mark.e2e]

RULES = Path(__file__).parent / "rules.yaml"
JSON = ("-H", "Accept: application/json")
PAGE = ("-H", "Accept: text/html", "-H", "Sec-Fetch-Mode: navigate")
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory, upstream: Upstream) -> Iterator[Proxy]:
    with start_proxy(tmp_path_factory, upstream, RULES, options=("proxyauth=any",)) as running:
        yield running


def curl(proxy: Proxy, url: str, *args: str, user: str = "tess") -> tuple[int, str]:
    return proxy.curl(url, *args, proxy_user=f"{user}:pw")


# 2. HTTP/2 bodies without a length


def test_an_http2_upload_without_a_length_is_an_upload(proxy: Proxy) -> None:
    proxy.upstream.clear()
    before = proxy.event_count()
    command = [
        "curl", "-sS", "--max-time", "20", "--http2", "-x", proxy.url, "--cacert", str(proxy.ca),
        "--proxy-user", "tess:pw",
        "-T", "-", "-w", "\n%{http_code} %{http_version}", "https://huggingface.co/api/upload",
    ]  # fmt: skip
    result = subprocess.run(command, input=b"u" * (3 * MIB), capture_output=True, timeout=30)
    status, version = result.stdout.decode().rsplit("\n", 1)[1].split()
    assert (status, version) == ("403", "2")
    assert not proxy.upstream.saw("huggingface.co")
    [event] = proxy.new_events(before)
    assert event["rule"]["id"] == "block-uploads"


def test_an_http2_get_without_a_length_is_no_upload(proxy: Proxy) -> None:
    status, _ = curl(proxy, "https://huggingface.co/api/models", "--http2", *JSON)
    assert status == 200


# 3. Dot-segments and path parameters


@pytest.mark.parametrize(
    "path",
    [
        "/chat/../api/upload",
        "/chat/%2e%2e/api/upload",
        "/chat/%2E%2E/api/upload",
        "/chat/./../api/upload",
        "/chat/..%2fapi/upload",
        "/chat/..%5capi/upload",
        "/chat;x=1/../api/upload",
    ],
)
def test_dot_segments_cannot_pick_a_laxer_product(proxy: Proxy, path: str) -> None:
    proxy.upstream.clear()
    before = proxy.event_count()
    status, _ = curl(
        proxy,
        f"https://huggingface.co{path}",
        "--path-as-is",
        "-X",
        "POST",
        "-F",
        "f=@/etc/hostname",
        *JSON,
    )
    assert status == 403
    assert not proxy.upstream.saw("huggingface.co")
    [event] = proxy.new_events(before)
    assert event["aiwall"]["product"] == "huggingface/hub"
    assert event["url"]["path"] == "/api/upload"  # the path aiwall judged


def test_path_parameters_never_reach_the_log(proxy: Proxy) -> None:
    before = proxy.event_count()
    curl(proxy, "https://api.mistral.ai/v1/chat;jsessionid=SECRET0123/x", *JSON)
    [event] = proxy.new_events(before)
    assert "SECRET0123" not in str(event)
    assert event["url"]["path"] == "/v1/chat/x"


# 6. An acknowledgement is bound to its rule


def warning_token(proxy: Proxy, url: str, user: str) -> str:
    status, body = curl(proxy, url, *PAGE, user=user)
    assert status == 403, body
    found = re.search(r'name="token" value="([^"]+)"', body)
    assert found, body
    return html.unescape(found.group(1))


def acknowledge(proxy: Proxy, host: str, user: str, token: str, justification: str = "") -> int:
    status, _ = curl(
        proxy,
        f"https://{host}/.well-known/aiwall/ack",
        "--data-urlencode", f"token={token}",
        "--data-urlencode", f"justification={justification}",
        "-H", f"Origin: https://{host}",
        user=user,
    )  # fmt: skip
    return status


def test_acknowledging_a_lax_rule_does_not_pass_a_stricter_one(proxy: Proxy) -> None:
    token = warning_token(proxy, "https://chat.mistral.ai/", "lena")
    assert acknowledge(proxy, "chat.mistral.ai", "lena", token) == 303
    assert curl(proxy, "https://chat.mistral.ai/", *JSON, user="lena")[0] == 200
    before = proxy.event_count()
    status, _ = curl(proxy, "https://chat.mistral.ai/privileged/brief", *JSON, user="lena")
    assert status == 403  # the 1-hour rule with a justification was never acknowledged
    [event] = proxy.new_events(before)
    assert event["rule"]["id"] == "warn-mistral-privileged"
    token = warning_token(proxy, "https://chat.mistral.ai/privileged/brief", "lena")
    before = proxy.event_count()
    reason = "Reviewing a public brief for the appeal, no client data."
    assert acknowledge(proxy, "chat.mistral.ai", "lena", token, reason) == 303
    [ack] = proxy.new_events(before)
    assert ack["aiwall"]["ack"]["rule"] == "warn-mistral-privileged"
    assert ack["aiwall"]["ack"]["ttl_seconds"] == 3600  # the TTL that applies is logged
    assert curl(proxy, "https://chat.mistral.ai/privileged/brief", *JSON, user="lena")[0] == 200


# 7. Tenant binding and path-scoped products


def test_logged_out_chatgpt_stays_logged_out_with_a_tenant(proxy: Proxy) -> None:
    before = proxy.event_count()
    status, _ = curl(proxy, "https://chatgpt.com/backend-anon/conversation", *JSON)
    assert status == 403
    [event] = proxy.new_events(before)
    assert event["aiwall"]["product"] == "openai/chatgpt-logged-out"
    assert curl(proxy, "https://chatgpt.com/backend-api/conversation", *JSON)[0] == 200


# 8. Two warned vendors among a request's names


def test_every_warned_vendor_among_the_names_must_be_acknowledged(proxy: Proxy) -> None:
    token = warning_token(proxy, "https://chat.mistral.ai/", "nina")
    assert acknowledge(proxy, "chat.mistral.ai", "nina", token) == 303
    fronted = ("-H", "Host: grok.com")  # mistral's tunnel and SNI, Grok's Host header
    status, _ = curl(proxy, "https://chat.mistral.ai/", *fronted, *JSON, user="nina")
    assert status == 403
    token = warning_token(proxy, "https://grok.com/", "nina")
    assert acknowledge(proxy, "grok.com", "nina", token) == 303
    status, _ = curl(proxy, "https://chat.mistral.ai/", *fronted, *JSON, user="nina")
    assert status == 200


# 10. Justifications are counted in visible characters


@pytest.mark.parametrize("invisible", ["\u200b" * 12, "\u202e\u2066" * 8, "\ufeff\u2060" * 6])
def test_an_invisible_justification_is_refused(proxy: Proxy, invisible: str) -> None:
    token = warning_token(proxy, "https://chat.mistral.ai/privileged/x", "omar")
    before = proxy.event_count()
    assert acknowledge(proxy, "chat.mistral.ai", "omar", token, invisible) == 403
    [ack] = proxy.new_events(before)
    assert ack["aiwall"]["ack"]["accepted"] is False


# 11. Secrets in a Host header


def test_a_password_in_the_host_header_never_reaches_the_log(proxy: Proxy) -> None:
    before = proxy.event_count()
    status, body = curl(
        proxy, "http://chat.deepseek.com/", "-H", "Host: user:hunter2@chat.deepseek.com", *JSON
    )
    assert status in (400, 403)
    assert "hunter2" not in body
    events = proxy.new_events(before)
    assert events and "hunter2" not in str(events)


# 12. Metric labels stay bounded


def test_client_chosen_subdomains_add_no_metric_series(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream
) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    options = ("proxyauth=any", f"aiwall_metrics=127.0.0.1:{port}")
    with start_proxy(tmp_path_factory, upstream, RULES, options=options) as running:
        for n in range(30):
            host = f"x{n}.ai.corp.test"
            token = warning_token(running, f"http://{host}/", "pat")
            curl(
                running,
                f"http://{host}/.well-known/aiwall/ack",
                "--data-urlencode", f"token={token}",
                "-H", f"Origin: http://{host}",
                user="pat",
            )  # fmt: skip
        metrics = subprocess.run(
            ["curl", "-sS", f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True
        ).stdout
    series = [line for line in metrics.splitlines() if line.startswith("aiwall_")]
    assert not any("x1.ai.corp.test" in line for line in series)
    assert len([s for s in series if s.startswith("aiwall_acknowledgements_total")]) <= 2
