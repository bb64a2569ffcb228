"""The path a request is judged on, and the names a URL carries (core/urls.py)."""

import pytest
from aiwall.core.decision import HostName
from aiwall.core.urls import judged_path, url_names
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("raw", "judged"),
    [
        ("/", "/"),
        ("", "/"),
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/v1/models/", "/v1/models/"),
        # query and fragment go, whichever comes first
        ("/api/upload?x=1", "/api/upload"),
        ("/api/upload#top", "/api/upload"),
        ("/api/upload?x=1#top", "/api/upload"),
        ("/api/upload#top?x=1", "/api/upload"),
        ("/api/?next=/../x", "/api/"),
        # dot-segments (RFC 3986 5.2.4), spelled or escaped
        ("/chat/../api/upload", "/api/upload"),
        ("/chat/%2e%2e/api/upload", "/api/upload"),
        ("/chat/%2E%2E/api/upload", "/api/upload"),
        ("/chat/.%2e/api/upload", "/api/upload"),
        ("/chat/..%2fapi/upload", "/api/upload"),
        ("/chat/..%2Fapi/upload", "/api/upload"),
        ("/chat/..%5capi/upload", "/api/upload"),
        ("/chat/..%5Capi/upload", "/api/upload"),
        ("/a/./b/.", "/a/b/"),
        ("/a/b/..", "/a/"),
        ("/a/b/../", "/a/"),
        ("/a/%2e/b", "/a/b"),
        ("/../../a", "/a"),
        ("/..", "/"),
        ("/.", "/"),
        ("/a/..", "/"),
        ("/a/../..", "/"),
        # path parameters go from every segment
        ("/api;x=1/upload", "/api/upload"),
        ("/api/upload;jsessionid=abc", "/api/upload"),
        ("/api;a=1;b=2/upload", "/api/upload"),  # all of a segment's parameters go
        ("/a;x/b;y/", "/a/b/"),
        ("/;x/a", "/a"),
        ("/a/..;x/b", "/b"),
        # backslashes and runs of slashes are one separator
        ("\\api\\upload", "/api/upload"),
        ("//api///upload", "/api/upload"),
        ("/api//", "/api/"),
        # escapes of unreserved characters are decoded; others are kept
        ("/%41%42%43%5A%61%7a", "/ABCZaz"),
        ("/%30%39%2d%2D%5f%5F%7e%7E", "/09--__~~"),
        ("/%4A%4a%6F%6f%5A%7A", "/JJooZz"),
        ("/%40%60%5b%7b%20%3a%2b%25", "/%40%60%5b%7b%20%3a%2b%25"),
        ("/%3A%3F%23", "/%3A%3F%23"),
        # `%25` (an escaped `%`) is kept: `%252e` never becomes `.`
        ("/a/%252e%252e/b", "/a/%252e%252e/b"),
    ],
)
def test_a_path_is_judged_as_the_server_will_route_it(raw: str, judged: str) -> None:
    assert judged_path(raw) == judged


@pytest.mark.parametrize(
    ("url", "host", "path"),
    [
        ("https://chat.deepseek.com/a/b?q=1", "chat.deepseek.com", "/a/b"),
        ("https://user@chat.deepseek.com:443/a?q", "chat.deepseek.com:443", "/a"),
        ("http://allowed.example@chat.deepseek.com/", "chat.deepseek.com", "/"),
        ("http://u:p@w@chat.deepseek.com/x", "chat.deepseek.com", "/x"),
        ("https://chat.deepseek.com", "chat.deepseek.com", "/"),
        ("chat.deepseek.com", "chat.deepseek.com", "/"),
        ("chat.deepseek.com/api/../upload", "chat.deepseek.com", "/upload"),
        ("  https://[::1]:8443/v1  ", "[::1]:8443", "/v1"),
    ],
)
def test_a_url_names_its_host_and_the_judged_path(url: str, host: str, path: str) -> None:
    assert url_names(url) == ((HostName("url", host),), path)


UNRESERVED = "ABCXYZabcxyz0189-._~"
segment_text = st.text(alphabet=UNRESERVED + "%;?#\\/é", max_size=12)
raw_paths = st.lists(segment_text, max_size=6).map(lambda parts: "/" + "/".join(parts))
clean_segments = st.lists(
    st.text(alphabet=UNRESERVED, min_size=1, max_size=8).filter(lambda s: s not in (".", "..")),
    max_size=6,
)


@given(raw_paths)
def test_a_judged_path_is_absolute_and_has_nothing_left_to_resolve(raw: str) -> None:
    judged = judged_path(raw)
    assert judged.startswith("/")
    assert "//" not in judged
    assert not {"?", "#", ";", "\\"} & set(judged)
    assert not {".", ".."} & set(judged.split("/"))


@given(raw_paths.filter(lambda raw: "%" not in raw))
def test_judging_a_path_without_escapes_twice_changes_nothing(raw: str) -> None:
    assert judged_path(judged_path(raw)) == judged_path(raw)


@given(clean_segments, st.booleans())
def test_a_path_of_plain_segments_is_judged_as_it_is(segments: list[str], trailing: bool) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    assert judged_path(path) == path


@given(clean_segments, st.text(max_size=20))
def test_query_fragment_and_parameters_never_change_the_judged_path(
    segments: list[str], tail: str
) -> None:
    path = "/" + "/".join(segments)
    parameter = "".join(c for c in tail if c not in "/\\%?#")  # whatever ends no segment
    with_parameters = "/" + "/".join(f"{s};{parameter}" for s in segments)
    assert judged_path(path + "?" + tail) == judged_path(path)
    assert judged_path(path + "#" + tail) == judged_path(path)
    assert judged_path(with_parameters) == judged_path(path)


@given(st.text(alphabet=UNRESERVED + "/\\", max_size=30), st.data())
def test_escaping_unreserved_characters_and_separators_changes_nothing(
    path: str, data: st.DataObject
) -> None:
    escaped = "".join(
        f"%{ord(c):02{data.draw(st.sampled_from('xX'))}}" if data.draw(st.booleans()) else c
        for c in path
    )
    assert judged_path("/" + escaped) == judged_path("/" + path)


@given(clean_segments, st.integers(min_value=0, max_value=8))
def test_each_dot_dot_segment_removes_one_segment_before_it(segments: list[str], ups: int) -> None:
    path = "/" + "/".join(segments) + "/.." * ups
    kept = segments[: max(len(segments) - ups, 0)]
    expected = "/" + "/".join(kept) + ("/" if ups and kept else "")
    assert judged_path(path) == expected
