"""The addon's request hooks in-process: each request from the flow it is given through the
enforcement step to the answer and the event it writes; warn → acknowledge → continue.

What only a real mitmdump can show (TLS, HTTP/2, the order mitmproxy calls the hooks in, real
clients and browsers) stays in the end-to-end tests (marker `e2e`).
"""

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from .conftest import ACK, API, BROWSER, Wall, decision, json_error, token_of

# requestheaders → the enforcement step → the answer and the event


def test_a_blocked_vendor_gets_the_block_page_and_one_event(wall: Wall) -> None:
    flow = wall.request("https://chat.deepseek.com/chat?secret=1", headers=BROWSER)
    assert flow.response is not None and flow.response.status_code == 403
    assert flow.response.headers["cache-control"] == "no-store"
    assert "text/html" in flow.response.headers["content-type"]
    assert "DeepSeek" in (flow.response.text or "")
    event = decision(wall)
    assert event["event"]["outcome"] == "failure"
    assert event["rule"]["id"] == "block-cn"
    assert event["aiwall"]["vendor"] == "deepseek"
    assert event["http"]["response"]["status_code"] == 403
    assert event["url"] == {"domain": "chat.deepseek.com", "path": "/chat", "scheme": "https"}
    assert event["tls"]["client"]["server_name"] == "chat.deepseek.com"
    assert {n["seen_in"] for n in event["aiwall"]["names"]} == {"connect", "sni", "host"}


def test_an_api_client_of_a_blocked_vendor_gets_the_json_denial(wall: Wall) -> None:
    flow = wall.request("https://api.deepseek.com/v1/chat/completions", "POST", API, content=b"{}")
    assert flow.response is not None and flow.response.status_code == 403
    error = json_error(flow)
    assert (error["code"], error["vendor"], error["rule"]) == (
        "aiwall_blocked",
        "deepseek",
        "block-cn",
    )
    assert error["acknowledge_url"] is None
    assert flow.request.content == b""  # a refused body is not kept while the flow lives
    assert decision(wall)["http"]["request"]["method"] == "POST"


def test_a_plain_http_request_to_a_blocked_vendor_is_blocked(wall: Wall) -> None:
    flow = wall.request("http://chat.deepseek.com/", headers=API)
    assert flow.response is not None and flow.response.status_code == 403
    assert [n["seen_in"] for n in decision(wall)["aiwall"]["names"]] == ["host", "url", "url"]


def test_a_logged_vendor_is_forwarded_and_logged_once(wall: Wall) -> None:
    flow = wall.request("https://api.openai.com/v1/models", headers=API)
    assert flow.response is None
    event = decision(wall)
    assert event["event"]["outcome"] == "success"
    assert event["aiwall"]["action"] == "log"
    assert event["aiwall"]["product"] == "openai/api"
    assert "response" not in event["http"]


def test_an_allowed_vendor_is_forwarded_and_not_logged(wall: Wall) -> None:
    flow = wall.request("https://api.anthropic.com/v1/messages", "POST", API, b"{}")
    assert flow.response is None
    assert wall.events("decision") == []


def test_traffic_that_is_not_ai_is_untouched_and_unlogged(wall: Wall) -> None:
    flow = wall.request("https://example.org/page", headers={"x-client": "1"})
    assert flow.response is None
    assert flow.request.headers["x-client"] == "1"
    assert wall.events("decision") == []


def test_the_tenant_header_replaces_every_copy_the_client_sent(wall: Wall) -> None:
    sent = [("ChatGPT-Allowed-Workspace-Id", "evil-1"), ("chatgpt-allowed-workspace-id", "x")]
    flow = wall.request("https://chatgpt.com/c/1", headers=sent)
    assert flow.response is None
    assert flow.request.headers.get_all("chatgpt-allowed-workspace-id") == ["ws-test-1"]
    assert wall.events("decision") == []  # the enterprise tier is allowed, not logged


def test_a_shadow_rule_is_logged_and_not_enforced(wall: Wall) -> None:
    flow = wall.request("https://www.perplexity.ai/", headers=BROWSER)
    assert flow.response is None
    event = decision(wall)
    assert event["aiwall"]["shadow"] == [{"rule": "shadow-block-perplexity", "action": "block"}]
    assert event["event"]["outcome"] == "success"


def test_a_group_exception_applies_to_its_proxy_auth_user(wall: Wall) -> None:
    assert wall.request("https://chat.deepseek.com/", user="audrey").response is None
    assert wall.request("https://chat.deepseek.com/", user="mallory").response is not None
    actions = [(e["user"]["name"], e["aiwall"]["action"]) for e in wall.events("decision")]
    assert actions == [("audrey", "log"), ("mallory", "block")]


@pytest.mark.parametrize("host", ["chat_bot.deepseek.com", "chat..deepseek.com", "a b"])
def test_an_invalid_host_header_is_refused_with_400_and_logged(wall: Wall, host: str) -> None:
    flow = wall.request("https://example.org/", headers={"host": host, **API})
    assert flow.response is not None and flow.response.status_code == 400
    assert json_error(flow)["code"] == "aiwall_invalid_host"
    assert decision(wall)["aiwall"]["invalid_host"]


def test_two_host_headers_are_refused_and_logged(wall: Wall) -> None:
    headers = [("Host", "example.org"), ("Host", "chat.deepseek.com"), ("accept", "*/*")]
    flow = wall.request("https://example.org/", headers=headers)
    assert flow.response is not None and flow.response.status_code == 400
    assert decision(wall)["aiwall"]["invalid_host"] == "two Host headers"


def test_a_vendor_host_header_inside_a_tunnel_to_another_host_is_blocked(wall: Wall) -> None:
    client = wall.client(sni="example.org")
    flow = wall.request(
        "https://example.org/", headers={"host": "chat.deepseek.com", **API}, client=client
    )
    assert flow.response is not None and flow.response.status_code == 403
    assert decision(wall)["url"]["domain"] == "chat.deepseek.com"


def test_a_flow_that_is_answered_or_dead_is_left_alone(wall: Wall) -> None:
    answered = tflow.tflow(resp=True)
    answered.request.host = "chat.deepseek.com"
    wall.run(wall.addon.requestheaders(answered))
    assert answered.response is not None and answered.response.status_code == 200
    dead = tflow.tflow(live=False)
    dead.request.host = "chat.deepseek.com"
    wall.run(wall.addon.requestheaders(dead))
    assert dead.response is None
    assert wall.events("decision") == []


@pytest.mark.parametrize(
    ("length", "streamed"), [(None, True), ("1000", False), (str(256 * 1024 + 1), True)]
)
def test_a_large_or_open_ended_upload_that_goes_on_is_streamed(
    wall: Wall, length: str | None, streamed: bool
) -> None:
    flow = wall.request("https://api.anthropic.com/v1/files", "POST", API, b"x")
    del flow.request.headers["content-length"]
    flow.request.stream = False
    if length is not None:
        flow.request.headers["content-length"] = length
    wall.run(wall.addon.requestheaders(flow))
    assert flow.request.stream is streamed


def test_an_answered_request_drops_expect_continue(wall: Wall) -> None:
    headers = {"expect": "100-continue", **API}
    flow = wall.request("https://chat.deepseek.com/upload", "POST", headers, b"x" * 10)
    assert flow.response is not None and flow.response.status_code == 403
    assert "expect" not in flow.request.headers


@pytest.mark.parametrize(("length", "streamed"), [(None, True), ("10", False)])
def test_an_answer_of_unknown_length_from_upstream_is_streamed(
    wall: Wall, length: str | None, streamed: bool
) -> None:
    flow = tflow.tflow(resp=True)
    assert flow.response is not None
    flow.response.raw_content = None
    flow.response.headers.pop("content-length")
    if length:
        flow.response.headers["content-length"] = length
    wall.addon.responseheaders(flow)
    assert flow.response.stream is streamed


# warn → acknowledge → continue


def test_warn_acknowledge_continue(wall: Wall) -> None:
    url = "https://grok.com/chat?q=1"
    warned = wall.request(url, headers=BROWSER)
    assert warned.response is not None and warned.response.status_code == 403
    token = token_of(warned)
    form = {
        "token": token,
        "justification": "Vendor review, no customer data.",
    }
    posted = wall.request(
        f"https://grok.com{ACK}",
        "POST",
        {"origin": "https://grok.com", "content-type": "application/x-www-form-urlencoded"},
        content=_urlencoded(form),
    )
    assert posted.response is not None and posted.response.status_code == 303
    assert posted.response.headers["location"] == url
    (ack,) = wall.events("ack")
    assert ack["aiwall"]["ack"]["accepted"] is True
    assert ack["aiwall"]["ack"]["justification"] == form["justification"]
    # every host of the vendor now passes for this client, and the event says why
    assert wall.request(url, headers=BROWSER).response is None
    assert wall.request("https://api.x.ai/v1/models", headers=API).response is None
    assert [e["aiwall"]["acknowledged"] for e in wall.events("decision")] == [False, True, True]
    # but not for another client
    other = wall.client("10.0.0.9", sni="grok.com")
    assert wall.request(url, headers=BROWSER, client=other).response is not None


def test_an_acknowledgement_from_another_site_is_refused_and_logged(wall: Wall) -> None:
    token = token_of(wall.request("https://grok.com/", headers=BROWSER))
    posted = wall.request(
        f"https://grok.com{ACK}",
        "POST",
        {"origin": "https://evil.example", "content-type": "application/x-www-form-urlencoded"},
        content=_urlencoded({"token": token, "justification": "because"}),
    )
    assert posted.response is not None and posted.response.status_code == 403
    (ack,) = wall.events("ack")
    assert ack["aiwall"]["ack"]["accepted"] is False
    assert wall.request("https://grok.com/", headers=BROWSER).response is not None


def test_an_api_client_of_a_warned_vendor_gets_the_url_to_acknowledge_at(wall: Wall) -> None:
    flow = wall.request("https://api.x.ai/v1/chat/completions", "POST", API, b"{}")
    assert flow.response is not None and flow.response.status_code == 403
    error = json_error(flow)
    assert error["code"] == "aiwall_warning"
    assert error["acknowledge_url"] == f"https://api.x.ai{ACK}"


@pytest.mark.parametrize(
    ("method", "status", "page"), [("GET", 403, "token"), ("PUT", 403, "one small POST")]
)
def test_the_ack_path_shows_the_warning_and_takes_one_small_post(
    wall: Wall, method: str, status: int, page: str
) -> None:
    flow = wall.request(f"https://grok.com{ACK}", method, BROWSER, b"x" if method == "PUT" else b"")
    assert flow.response is not None and flow.response.status_code == status
    assert page in (flow.response.text or "")
    assert wall.events("ack") == []


def test_the_ack_path_of_a_vendor_without_a_warning_acknowledges_nothing(wall: Wall) -> None:
    flow = wall.request(f"https://api.openai.com{ACK}", "POST", API, b"token=x")
    assert flow.response is not None and flow.response.status_code == 403
    assert "nothing to acknowledge" in json_error(flow)["message"]


def _urlencoded(form: dict[str, str]) -> bytes:
    request = http.Request.make("POST", "https://x.test/")
    request.urlencoded_form = form  # type: ignore[assignment]
    return request.content or b""
