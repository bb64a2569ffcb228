"""`aiwall pac`: the generated file, evaluated by a real JavaScript engine (node).

One node process serves the whole module: each request is one JSON line on its stdin
(`{"pac": text, "cases": [[url, host], ...]}`), each answer one JSON line on its stdout. The
expectation for every host comes from aiwall's own HostIndex over the same host names, so
the test asserts that the PAC file and the proxy agree on which hosts are AI traffic.
"""

import json
import re
import select
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiwall.cli.main import main
from aiwall.cli.pac import InvalidProxy, pac_file, pac_for, proxy_address
from aiwall.core.hostindex import HostEntry, HostIndex
from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.registry import load_registry
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import FIXTURES, ROOT

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="needs node (Debian: apt-get install nodejs)")

PROXY = "127.0.0.1:8080"
VIA_PROXY = f"PROXY {PROXY}"
POLICIES = ROOT / "policies"
RULES = FIXTURES / "proxy" / "rules.yaml"
REGISTRY = load_registry(POLICIES)
HOSTS = sorted(REGISTRY.index.hosts())
# The registry's {region} patterns, as entries (`{region}-aiplatform.googleapis.com`).
PATTERN_HOSTS = sorted(
    str(entry)
    for vendor in REGISTRY.vendors.values()
    for product in vendor.products
    for spec in product.hosts
    if (entry := HostEntry.parse(spec if isinstance(spec, str) else spec.host)).is_pattern
)
ORDINARY = [
    "example.org",
    "www.google.com",
    "gitlab.com",
    "bing.com",
    "localhost",
    "10.0.0.1",
    "127.0.0.1",
    "[::1]",
    "::1",
    "[2001:db8::1]:443",
    "",
]

# Loads a PAC file as a browser does, in a context of its own holding nothing but the
# JavaScript built-ins; the PAC helpers that would reach the network throw when called.
EVALUATOR = r"""
"use strict";
const vm = require("vm");
const readline = require("readline");
const NETWORK = ["dnsResolve", "dnsResolveEx", "isResolvable", "isResolvableEx", "isInNet",
                 "myIpAddress", "myIpAddressEx", "sortIpAddressList"];
const loaded = new Map();

function load(text) {
  let find = loaded.get(text);
  if (find === undefined) {
    const sandbox = {};
    for (const name of NETWORK) {
      sandbox[name] = () => { throw new Error(name + " would reach the network"); };
    }
    vm.runInNewContext(text, sandbox, { filename: "proxy.pac", timeout: 5000 });
    find = sandbox.FindProxyForURL;
    if (typeof find !== "function") throw new Error("no function FindProxyForURL");
    loaded.set(text, find);
  }
  return find;
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const request = JSON.parse(line);
  let answer;
  try {
    const find = load(request.pac);
    const start = process.hrtime.bigint();
    const results = request.cases.map(([url, host]) => find(url, host));
    const ns = Number(process.hrtime.bigint() - start);
    for (const result of results) {
      if (typeof result !== "string") throw new Error("returned " + typeof result);
    }
    answer = { results, ns };
  } catch (error) {
    answer = { error: String(error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
"""


class Node:
    """The one node process that evaluates every PAC file of this module."""

    def __init__(self, script: Path) -> None:
        assert NODE is not None
        self._process = subprocess.Popen(
            [NODE, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def answer(self, pac: str, hosts: Iterable[str]) -> tuple[list[str], int]:
        """FindProxyForURL for each host (as browsers call it for https://host/), and the ns."""
        cases = [[f"https://{host}/", host] for host in hosts]
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"pac": pac, "cases": cases}) + "\n")
        self._process.stdin.flush()
        ready, _, _ = select.select([self._process.stdout], [], [], 60)
        assert ready, "node did not answer within 60 s"
        answer = json.loads(self._process.stdout.readline())
        assert "error" not in answer, answer.get("error")
        assert len(answer["results"]) == len(cases)
        return answer["results"], answer["ns"]

    def find(self, pac: str, hosts: Iterable[str]) -> list[str]:
        return self.answer(pac, hosts)[0]

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    script = tmp_path_factory.mktemp("pac") / "evaluate.js"
    script.write_text(EVALUATOR)
    process = Node(script)
    yield process
    process.close()


@pytest.fixture(scope="module")
def shipped_pac() -> str:
    return pac_for(PROXY, POLICIES)


def reference_index(hosts: Iterable[str]) -> HostIndex[bool]:
    """aiwall's own matching over the same names: a host is AI if any entry names it."""
    index: HostIndex[bool] = HostIndex()
    for host in hosts:
        index.add(HostEntry(HostEntry.parse(host).host), True)
    return index


REFERENCE = reference_index([*HOSTS, *PATTERN_HOSTS])


def expected(host: str, index: HostIndex[bool] = REFERENCE) -> str:
    return VIA_PROXY if index.resolve(normalise_host(host)) is not None else "DIRECT"


def assert_agree(
    node: Node, pac: str, hosts: list[str], index: HostIndex[bool] = REFERENCE
) -> None:
    found = node.find(pac, hosts)
    wrong = [
        (host, result)
        for host, result in zip(hosts, found, strict=True)
        if result != expected(host, index)
    ]
    assert not wrong, f"{len(wrong)} hosts where PAC and HostIndex differ, e.g. {wrong[:10]}"


# --- the shipped registry ----------------------------------------------------------------


def test_every_registry_host_goes_through_the_proxy_in_every_spelling(
    node: Node, shipped_pac: str
) -> None:
    forms = [
        form
        for host in HOSTS
        for form in (host, host.upper(), host + ".", host.title() + ".", host + ":443")
    ]
    assert set(node.find(shipped_pac, forms)) == {VIA_PROXY}
    assert_agree(node, shipped_pac, forms)


def look_alikes(host: str) -> Iterator[str]:
    """Names that resemble a registry host but are not under it (unless another entry says so)."""
    labels = host.split(".")
    yield f"evil-{host}"
    yield f"{host}.evil.net"
    yield f"not{host}"
    yield ".".join([*labels[:-1], labels[-1] + "x"])
    yield ".".join([*labels[:-1], "evil"])
    yield ".".join([*labels[:-1], "evil", labels[-1]])
    if len(labels) > 2:
        yield ".".join(labels[1:])  # the parent: listing a subdomain never covers its parent


def test_look_alikes_go_direct_unless_another_registry_host_covers_them(
    node: Node, shipped_pac: str
) -> None:
    names = sorted({name for host in HOSTS for name in look_alikes(host)})
    assert_agree(node, shipped_pac, names)
    direct = [n for n, r in zip(names, node.find(shipped_pac, names), strict=True) if r == "DIRECT"]
    assert len(direct) > 0.9 * len(names)  # the check is not vacuous
    spot_checks = ["evil-deepseek.com", "deepseek.com.evil.net", "notdeepseek.com", "deepseek.co"]
    assert node.find(shipped_pac, spot_checks) == ["DIRECT"] * len(spot_checks)


def test_ordinary_hosts_and_ip_literals_go_direct(node: Node, shipped_pac: str) -> None:
    assert node.find(shipped_pac, ORDINARY) == ["DIRECT"] * len(ORDINARY)
    for host in ORDINARY:
        if host:
            assert expected(host) == "DIRECT"


LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(LABEL, min_size=1, max_size=3), st.sampled_from(HOSTS)),
        min_size=10,
        max_size=10,
    )
)
def test_any_subdomain_of_a_registry_host_goes_through_the_proxy(
    node: Node, shipped_pac: str, subdomains: list[tuple[list[str], str]]
) -> None:
    names = [".".join([*labels, host]) for labels, host in subdomains]
    assert node.find(shipped_pac, names) == [VIA_PROXY] * len(names)
    assert_agree(node, shipped_pac, names)


# Labels of registry hosts mixed with random ones, so that near misses are common.
PIECE = st.one_of(st.sampled_from(sorted({x for h in HOSTS for x in h.split(".")})), LABEL)


@st.composite
def host_like(draw: st.DrawFn) -> str:
    labels = draw(st.lists(PIECE, min_size=1, max_size=5))
    name = ".".join(labels)
    if draw(st.booleans()):
        name = "".join(c.upper() if draw(st.booleans()) else c for c in name)
    if draw(st.booleans()):
        name += "."
    if draw(st.booleans()):
        name += f":{draw(st.integers(1, 65535))}"
    return name


def normalisable(host: str) -> bool:
    try:
        normalise_host(host)
    except InvalidHost:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(st.lists(host_like().filter(normalisable), min_size=10, max_size=10))
def test_pac_and_host_index_agree_on_host_like_names(
    node: Node, shipped_pac: str, names: list[str]
) -> None:
    assert_agree(node, shipped_pac, names)


def test_the_shipped_file_is_small_and_fast(node: Node, shipped_pac: str) -> None:
    names = [f"www{i}.example{i % 97}.org" for i in range(5000)] + HOSTS * 10
    node.answer(shipped_pac, names)  # warm up
    _, ns = node.answer(shipped_pac, names)
    per_call = ns / len(names)
    size = len(shipped_pac.encode())
    print(f"PAC for {len(HOSTS)} hosts: {size:,} bytes; {per_call / 1000:.2f} µs per call")
    assert size < 64 * 1024
    assert per_call < 100_000  # 0.1 ms: generous, the lookup takes well under 1 µs


# --- the file itself -------------------------------------------------------------------


def function_code(pac: str) -> str:
    return pac[pac.index("function FindProxyForURL") :]


def test_the_code_is_the_same_for_any_host_list() -> None:
    """No per-host code: the cost of a lookup cannot grow with the number of hosts."""
    shipped = pac_file(HOSTS, PROXY)
    assert function_code(shipped) == function_code(pac_file(["a.example"], PROXY))
    assert function_code(shipped) == function_code(pac_file([], PROXY))
    code = function_code(shipped)
    for construct in ("shExpMatch", "dnsDomainIs", "dnsResolve", "isInNet"):
        assert construct not in code
    # ECMAScript 3, as old Windows PAC engines require.
    statements = "\n".join(line for line in shipped.splitlines() if not line.startswith("//"))
    assert not re.search(r"\b(let|const|class)\b|=>|`|,\s*[}\]]", statements)


def test_hosts_are_listed_once_sorted_and_normalised(node: Node) -> None:
    pac = pac_file(["B.example", "a.example/some/path", "b.example.", "bücher.example"], PROXY)
    listed = re.findall(r'^  "([^"]+)": 1', pac, re.MULTILINE)
    assert listed == ["a.example", "b.example", "xn--bcher-kva.example"]
    assert "3 hosts" in pac
    # A path-prefixed entry routes its whole host: a PAC file cannot see HTTPS paths.
    assert node.find(pac, ["a.example", "x.a.example", "xn--bcher-kva.example"]) == [VIA_PROXY] * 3
    with pytest.raises(InvalidHost):
        pac_file(['evil.example", "x'], PROXY)


def test_the_header_says_what_made_it_and_nothing_escapes_the_comment(node: Node) -> None:
    when = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    source = "folder\nFindProxyForURL = 1;\u2028@HOSTS@ */"
    pac = pac_file(["a.example"], PROXY, source=source, generated=when)
    assert pac.startswith("// Proxy auto-config generated by aiwall ")
    assert "2026-11-29T12:00:00Z" in pac
    assert "1 hosts" in pac
    header = pac.splitlines()[1]
    assert header.startswith("// Registry: folder\\nFindProxyForURL = 1;\\u2028@HOSTS@")
    assert "\u2028" not in pac
    assert node.find(pac, ["a.example", "b.example"]) == [VIA_PROXY, "DIRECT"]


def test_source_date_epoch_makes_the_file_reproducible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first = pac_for(PROXY, POLICIES)
    assert first == pac_for(PROXY, POLICIES)
    assert "2023-11-14T22:13:20Z" in first
    assert f"{POLICIES} ({len(REGISTRY.vendors)} vendors); {len(HOSTS)} hosts" in first


def test_listed_ip_literals_match_exactly_and_unlisted_ones_go_direct(node: Node) -> None:
    hosts = ["10.1.2.3", "2001:db8::1", "example.ai"]
    pac = pac_file(hosts, PROXY)
    cases = {
        "10.1.2.3": VIA_PROXY,
        "10.1.2.3:443": VIA_PROXY,
        "10.1.2.30": "DIRECT",
        "110.1.2.3": "DIRECT",
        "[2001:db8::1]": VIA_PROXY,
        "[2001:db8::1]:443": VIA_PROXY,
        "2001:db8::1": VIA_PROXY,
        "2001:DB8::1": VIA_PROXY,
        "[2001:db8::2]": "DIRECT",
        "example.ai:8443": VIA_PROXY,
        "1.2.3.4": "DIRECT",
    }
    assert node.find(pac, cases) == list(cases.values())
    assert [expected(h, reference_index(hosts)) for h in cases] == list(cases.values())


def test_inputs_no_browser_sends_do_not_break_the_function(node: Node, shipped_pac: str) -> None:
    odd = ["[", "]", ":", ".", "..", "[::1", "deepseek.com:", "__proto__", "hasownproperty"]
    odd += ["constructor", "toString", "deepseek.com..", "a..deepseek.com", "DEEPSEEK.COM.:1"]
    odd += ["[deepseek.com]"]
    results = node.find(shipped_pac, odd)
    assert set(results) <= {VIA_PROXY, "DIRECT"}
    assert results[odd.index("__proto__")] == "DIRECT"
    assert results[odd.index("constructor")] == "DIRECT"
    assert results[odd.index("DEEPSEEK.COM.:1")] == VIA_PROXY


# --- the proxy address -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("Proxy.Corp.example:3128", "proxy.corp.example:3128"),
        ("localhost:08080", "localhost:8080"),
        ("[::1]:8080", "[::1]:8080"),
        ("[2001:DB8:0:0::1]:3128", "[2001:db8::1]:3128"),
    ],
)
def test_a_proxy_address_is_canonical(node: Node, text: str, address: str) -> None:
    assert proxy_address(text) == address
    pac = pac_file(["a.example"], text)
    assert node.find(pac, ["a.example"]) == [f"PROXY {address}"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "proxy.example",
        "8080",
        ":8080",
        "proxy.example:",
        "proxy.example:0",
        "proxy.example:65536",
        "proxy.example:80a",
        "::1:8080",
        "[::1]",
        "[not-v6]:8080",
        "[fe80::1%eth0]:8080",
        "proxy example:8080",
        "proxy.example; DIRECT:8080",
        'proxy"example:8080',
        "-proxy.example:8080",
    ],
)
def test_a_bad_proxy_address_is_refused(text: str) -> None:
    with pytest.raises(InvalidProxy):
        proxy_address(text)


# --- the rules file and the command line -------------------------------------------------


def test_hosts_a_rules_file_names_go_through_the_proxy_too(node: Node, shipped_pac: str) -> None:
    with_rules = pac_for(PROXY, POLICIES, RULES)
    index = reference_index([*HOSTS, *PATTERN_HOSTS, "llm.corp.test"])
    names = ["llm.corp.test", "a.llm.corp.test", "corp.test", "evil-llm.corp.test"]
    assert node.find(with_rules, names) == [VIA_PROXY, VIA_PROXY, "DIRECT", "DIRECT"]
    assert node.find(shipped_pac, ["llm.corp.test"]) == ["DIRECT"]
    assert f"match.host of {RULES} (1 names)" in with_rules
    sample = [*HOSTS, *names, *(n for h in HOSTS[:50] for n in look_alikes(h)), *ORDINARY[:-1]]
    assert_agree(node, with_rules, sample, index)


def test_the_command_prints_a_file_node_accepts(
    node: Node, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pac", "--proxy", PROXY]) == 0
    pac = capsys.readouterr().out
    assert node.find(pac, ["chat.deepseek.com", "example.org"]) == [VIA_PROXY, "DIRECT"]
    assert main(["pac", "--proxy", "[::1]:3128", "--rules", str(RULES)]) == 0
    pac = capsys.readouterr().out
    assert node.find(pac, ["llm.corp.test", "api.openai.com", "gitlab.com"]) == [
        "PROXY [::1]:3128",
        "PROXY [::1]:3128",
        "DIRECT",
    ]


@pytest.mark.parametrize("value", ["127.0.0.1", "::1:8080", "proxy.example:99999"])
def test_the_command_refuses_a_bad_proxy_with_exit_2(
    capsys: pytest.CaptureFixture[str], value: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["pac", "--proxy", value])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"argument --proxy: {value!r}" in error


def test_the_command_needs_a_proxy(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["pac"])
    assert exited.value.code == 2
    assert "--proxy" in capsys.readouterr().err


def test_region_patterns_route_every_region_and_nothing_else(node: Node) -> None:
    """A pattern is tried only for the names under its parent domain: the lookup still costs
    one step per label (no pattern is tried for other names)."""
    patterns = {"googleapis.com": ["[a-z0-9-]+\\-aiplatform"]}
    pac = pac_file(["openai.com"], PROXY, patterns=patterns)
    routed = ["us-central1-aiplatform.googleapis.com", "x.europe-west4-aiplatform.googleapis.com"]
    direct = ["aiplatform.googleapis.com", "storage.googleapis.com", "evil-aiplatform.example"]
    assert node.find(pac, routed) == [VIA_PROXY] * len(routed)
    assert node.find(pac, direct) == ["DIRECT"] * len(direct)
