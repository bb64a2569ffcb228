"""The host index: label-boundary suffix match, the most specific host first, then the longest
path prefix under it (core/hostindex.py)."""

import pytest
from aiwall.core.hostindex import HostEntry, HostIndex
from aiwall.core.hosts import InvalidHost
from hypothesis import assume, given
from hypothesis import strategies as st


def index_of(*entries: str) -> HostIndex[str]:
    index: HostIndex[str] = HostIndex()
    for text in entries:
        index.add(HostEntry.parse(text), text)
    return index


ENTRIES = (
    "deepseek.com",
    "api.deepseek.com",
    "chatgpt.com",
    "chatgpt.com/backend-anon/",
    "chatgpt.com/backend-anon/files/",
    "sub.chatgpt.com/x/",
    "localhost",
    "huggingface.co/chat",
)


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        ("deepseek.com", "/", "deepseek.com"),
        ("chat.deepseek.com", "/", "deepseek.com"),
        ("a.b.c.deepseek.com", "/", "deepseek.com"),
        ("api.deepseek.com", "/", "api.deepseek.com"),
        ("x.api.deepseek.com", "/", "api.deepseek.com"),
        ("evil-deepseek.com", "/", None),
        ("deepseek.com.evil.net", "/", None),
        ("xdeepseek.com", "/", None),
        ("com", "/", None),
        ("", "/", None),
        ("localhost", "/", "localhost"),
        ("a.localhost", "/", "localhost"),
        # the longest path prefix under a host, whatever order the entries came in
        ("chatgpt.com", "/c/1", "chatgpt.com"),
        ("chatgpt.com", "/backend-anon/conversation", "chatgpt.com/backend-anon/"),
        ("chatgpt.com", "/backend-anon/files/1", "chatgpt.com/backend-anon/files/"),
        ("chatgpt.com", "/backend-anon", "chatgpt.com"),
        ("www.chatgpt.com", "/backend-anon/x", "chatgpt.com/backend-anon/"),
        # a more specific host wins before any path; without a matching path, its parent does
        ("sub.chatgpt.com", "/x/1", "sub.chatgpt.com/x/"),
        ("sub.chatgpt.com", "/y", "chatgpt.com"),
        ("sub.chatgpt.com", "/backend-anon/files/1", "chatgpt.com/backend-anon/files/"),
        # a prefix without a trailing slash ends at a segment boundary
        ("huggingface.co", "/chat", "huggingface.co/chat"),
        ("huggingface.co", "/chat/", "huggingface.co/chat"),
        ("huggingface.co", "/chat/conversation/1", "huggingface.co/chat"),
        ("huggingface.co", "/chat?x=1", "huggingface.co/chat"),
        ("huggingface.co", "/chatty", None),
        ("huggingface.co", "/chat-ui/", None),
    ],
)
def test_the_most_specific_entry_wins(host: str, path: str, expected: str | None) -> None:
    assert index_of(*ENTRIES).resolve(host, path) == expected
    assert index_of(*reversed(ENTRIES)).resolve(host, path) == expected


def test_the_path_defaults_to_the_root() -> None:
    index = index_of("chatgpt.com/", "chatgpt.com/backend-anon/")
    assert index.resolve("chatgpt.com") == "chatgpt.com/"


def test_adding_an_entry_again_replaces_its_target_only() -> None:
    index = index_of("chatgpt.com", "chatgpt.com/backend-anon/")
    index.add(HostEntry.parse("chatgpt.com/backend-anon/"), "replaced")
    assert len(index) == 2
    assert index.resolve("chatgpt.com", "/backend-anon/x") == "replaced"
    assert index.resolve("chatgpt.com", "/c") == "chatgpt.com"
    index.add(HostEntry.parse("chatgpt.com/b/"), "longer")
    assert len(index) == 3
    assert index.resolve("chatgpt.com", "/backend-anon/x") == "replaced"
    assert index.hosts() == ["chatgpt.com"]


def test_a_host_with_a_path_entry_at_or_above_it_has_paths() -> None:
    """What decides whether a TLS connection must be decrypted to be judged (ai-only)."""
    index = index_of("deepseek.com", "github.com/copilot", "{region}-x.example.net/chat/")
    assert index.has_paths("github.com") and index.has_paths("www.github.com")
    assert index.has_paths("eu-x.example.net") and index.has_paths("a.eu-x.example.net")
    assert not index.has_paths("deepseek.com") and not index.has_paths("chat.deepseek.com")
    assert not index.has_paths("github.io") and not index.has_paths("x.example.net")
    assert not index.has_paths("githubcom") and not index.has_paths("")


def test_len_and_hosts_count_entries_and_names() -> None:
    index = index_of(*ENTRIES)
    assert len(index) == len(ENTRIES)
    names = ["deepseek.com", "api.deepseek.com", "chatgpt.com", "sub.chatgpt.com", "localhost"]
    assert sorted(index.hosts()) == sorted([*names, "huggingface.co"])
    assert len(HostIndex()) == 0


@pytest.mark.parametrize(
    ("text", "host", "prefix"),
    [
        ("chatgpt.com", "chatgpt.com", ""),
        ("ChatGPT.com./backend-anon/", "chatgpt.com", "/backend-anon/"),
        ("chatgpt.com:443/Backend/x", "chatgpt.com", "/Backend/x"),
        ("bücher.de/", "xn--bcher-kva.de", "/"),
    ],
)
def test_an_entry_is_a_normalised_host_and_a_path_prefix(text: str, host: str, prefix: str) -> None:
    entry = HostEntry.parse(text)
    assert (entry.host, entry.path_prefix) == (host, prefix)
    assert str(entry) == host + prefix


@pytest.mark.parametrize("text", ["", "/x/", "chat..gpt.com/", "chat gpt.com"])
def test_an_entry_with_an_invalid_host_is_refused(text: str) -> None:
    with pytest.raises(InvalidHost):
        HostEntry.parse(text)


label = st.text(alphabet="abcz09-", min_size=1, max_size=6).filter(
    lambda s: not s.startswith("-") and not s.endswith("-")
)
name = st.lists(label, min_size=1, max_size=4).map(".".join)
prefix = st.sampled_from(["", "/", "/a/", "/a/b/", "/b", "/ab", "/a"])
path = st.sampled_from(["/", "/a", "/a/", "/a/b/c", "/ab", "/b/", "/x", "/a?q", "/bc", "/b;x"])


def segment_prefix(path: str, prefix: str) -> bool:
    """A prefix covers the path itself and what follows it after `/`, `?`, `#` or `;`."""
    if prefix.endswith("/") or not prefix:
        return path.startswith(prefix)
    return path == prefix or any(path.startswith(prefix + c) for c in "/?#;")


def reference_resolve(entries: dict[tuple[str, str], int], host: str, path: str) -> int | None:
    """The rule as DESIGN.md states it, by brute force over every entry."""
    candidates = [
        (len(entry_host.split(".")), len(entry_prefix), target)
        for (entry_host, entry_prefix), target in entries.items()
        if (host == entry_host or host.endswith("." + entry_host))
        and segment_prefix(path, entry_prefix)
    ]
    return max(candidates)[2] if candidates else None


@given(
    st.lists(st.tuples(name, prefix), max_size=12),
    st.lists(label, max_size=3),
    st.integers(min_value=0, max_value=11),
    path,
    name,
)
def test_resolve_agrees_with_brute_force_over_every_entry(
    entries: list[tuple[str, str]], below: list[str], pick: int, path: str, other: str
) -> None:
    index: HostIndex[int] = HostIndex()
    expected: dict[tuple[str, str], int] = {}
    for target, entry in enumerate(entries):
        index.add(HostEntry(*entry), target)
        expected[entry] = target  # the last one added for an entry stays
    assert len(index) == len(expected)
    queries = [other]
    if entries:  # a name at or below one of the entries' hosts
        queries.append(".".join([*below, entries[pick % len(entries)][0]]))
    for host in queries:
        assert index.resolve(host, path) == reference_resolve(expected, host, path)


@given(name, st.lists(label, max_size=3), label)
def test_a_name_below_a_host_resolves_to_it_and_a_look_alike_never(
    host: str, below: list[str], extra: str
) -> None:
    index: HostIndex[str] = HostIndex()
    index.add(HostEntry(host), host)
    assert index.resolve(".".join([*below, host])) == host
    assert index.resolve(extra + host) is None
    outside = host + "." + extra
    assume(not outside.endswith("." + host))  # `0.0` is below `0`
    assert index.resolve(outside) is None
