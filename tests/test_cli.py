"""The command line as an IT engineer uses it: explain, vendors, show, schema."""

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiwall.cli.main import main
from aiwall.core.registry import load_registry
from aiwall.telemetry.events import EVENT_SCHEMA_PATH
from aiwall.telemetry.facts import product_facts

from .conftest import ROOT

RULES = ["--rules", str(ROOT / "rules.example.yaml"), "--policies", str(ROOT / "policies")]
DEEPSEEK_VERIFIED = load_registry(ROOT / "policies").vendors["deepseek"].last_verified.isoformat()

# Every fact of the reference card (shared/reference/deepseek-card.txt), as `aiwall show` says it.
DEEPSEEK_CARD = [
    "Does DeepSeek train on your data?",
    "DeepSeek · AI chat assistant",
    "Trains by default · No zero-retention option · Opt-out available",
    "Yes — DeepSeek trains on your data by default; you have to opt out.",
    "with data stored on servers in China; an opt-out toggle now exists but retention is"
    " open-ended.",
    "Open the left sidebar → three dots by your name → Settings → Data tab, and disable"
    ' "Improve the model for everyone."',
    "This was added reactively (the launch product had no opt-out).",
    "you must email privacy@deepseek.com specifying the chats; disabling does not delete"
    " historical data.",
    "No zero-data-retention option.",
    "for as long as your account exists and longer for legal/security reasons, with no fixed"
    " deletion schedule.",
    "Data is processed and stored in the People's Republic of China, subject to Chinese law.",
    "The angle most listicles miss is data residency",
    "The opt-out was retrofitted in 2025 and is narrow",
    "DeepSeek consumer app / web: Trains unless you opt out",
    f"Last verified {DEEPSEEK_VERIFIED} · confidence: medium · Terms change — confirm directly with"
    " DeepSeek before sending confidential data.",
    "https://cdn.deepseek.com/policies/en-US/deepseek-privacy-policy.html",
    "https://cdn.deepseek.com/policies/en-US/deepseek-terms-of-use.html",
    "(dated 2026-02-10)",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(list(args)) == 0
    return capsys.readouterr().out


def test_show_deepseek_carries_every_fact_of_the_reference_card(
    capsys: pytest.CaptureFixture[str],
) -> None:
    card = " ".join(run(capsys, "show", "deepseek", "--policies", str(ROOT / "policies")).split())
    for fact in DEEPSEEK_CARD:
        assert " ".join(fact.split()) in card


def test_show_an_unknown_vendor_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "deepsek"]) == 2
    assert "deepseek" in capsys.readouterr().err


def test_explain_names_vendor_product_facts_and_the_deciding_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = run(capsys, "explain", "https://chat.deepseek.com/", *RULES)
    assert "Vendor:   DeepSeek (deepseek)" in out
    assert "Product:  DeepSeek consumer app / web (deepseek/consumer)" in out
    assert "Data stored in: CN" in out
    assert "Trains on your data: yes, by default" in out
    assert "Retention: open-ended" in out
    assert f"Record:   last verified {DEEPSEEK_VERIFIED}, confidence medium" in out
    assert "block-cn-residency: matched → block" in out
    assert "Decision: BLOCK (rule block-cn-residency:" in out


def test_explain_shows_a_group_exception_by_ip(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "explain", "https://chat.deepseek.com/", "--ip", "10.99.8.20", *RULES)
    assert "Decision: LOG (rule security-research-deepseek-lab:" in out


def test_explain_a_host_that_is_not_ai(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "explain", "https://example.org/", *RULES)
    assert "not an AI service" in out and "Decision: ALLOW (not AI traffic)" in out


def test_vendors_lists_one_row_per_product(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [json.loads(line) for line in run(capsys, "vendors", "--format", "json").splitlines()]
    deepseek = next(r for r in rows if r["product"] == "deepseek/consumer")
    assert deepseek | {"name": None, "jurisdiction": None} == {
        "product": "deepseek/consumer",
        "vendor": "deepseek",
        "name": None,
        "kind": "chat-assistant",
        "verdict": "Trains unless you opt out",
        "training": "default",
        "opt_out": True,
        "zero_retention": False,
        "dpa": "unknown",
        "residency": ["CN"],
        "jurisdiction": None,
        "retention": "open-ended",
        "retention_class": "open-ended",
        "under_review": [],
        "last_verified": DEEPSEEK_VERIFIED,
        "confidence": "medium",
    }
    assert [json.loads(line) for line in run(capsys, "vendors", "--json").splitlines()] == rows
    table = run(capsys, "vendors").splitlines()
    assert table[0].split() == [
        "product", "verdict", "residency", "jurisdiction", "retention", "zdr", "dpa",
        "last_verified", "confidence",
    ]  # fmt: skip
    assert len(table) == len(rows) + 1


def test_vendors_as_csv_is_a_lookup_table_with_the_events_values(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = list(csv.DictReader(io.StringIO(run(capsys, "vendors", "--format", "csv"))))
    registry = load_registry(ROOT / "policies")
    products = [(v, p) for v in registry.vendors.values() for p in v.products]
    assert [r["product"] for r in rows] == [v.ref(p) for v, p in products]
    for row, (vendor, product) in zip(rows, products, strict=True):
        facts = product_facts(vendor, product)  # what decision events carry in aiwall.record
        assert {k: row[k] for k in facts} == {
            k: ";".join(v) if isinstance(v, list) else v for k, v in facts.items()
        }
    schema = json.loads(EVENT_SCHEMA_PATH.read_text())
    record = schema["$defs"]["record"]["properties"]
    assert set(rows[0]) - {"product", "vendor", "name", "kind", "verdict"} == set(record) - {
        "stale"
    }


def listed(capsys: pytest.CaptureFixture[str], *filters: str) -> list[dict[str, Any]]:
    out = run(capsys, "vendors", "--json", "--policies", str(ROOT / "policies"), *filters)
    return [json.loads(line) for line in out.splitlines()]


def test_vendors_json_uses_the_rules_values(capsys: pytest.CaptureFixture[str]) -> None:
    for row in listed(capsys):
        for fact in ("opt_out", "zero_retention", "dpa"):
            assert row[fact] in (True, False, "unknown")
        assert isinstance(row["residency"], list) and isinstance(row["jurisdiction"], list)


def test_vendors_filters_by_jurisdiction_as_a_rule_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = load_registry(ROOT / "policies")
    chinese = {
        v.ref(p)
        for v in registry.vendors.values()
        for p in v.products
        if "CN" in v.jurisdiction_of(p)
    }
    assert {r["product"] for r in listed(capsys, "--jurisdiction", "CN")} == chinese
    unknown = {
        v.ref(p) for v in registry.vendors.values() for p in v.products if not v.jurisdiction_of(p)
    }
    both = {r["product"] for r in listed(capsys, "--jurisdiction", "cn,unknown")}
    assert both == chinese | unknown and unknown and not chinese & unknown


def test_vendors_filters_combine_like_a_rules_match(capsys: pytest.CaptureFixture[str]) -> None:
    rows = listed(
        capsys, "--training", "default", "--residency", "unknown", "--kind", "chat-assistant"
    )
    assert rows
    for row in rows:
        assert row["training"] == "default" and row["residency"] == []
        assert row["kind"] == "chat-assistant"
    no_dpa = listed(capsys, "--dpa", "false", "--dpa", "unknown")
    assert {r["dpa"] for r in no_dpa} == {False, "unknown"}
    assert main(["vendors", "--vendor", "deepseek"]) == 0
    assert "aiwall: 2 of " in capsys.readouterr().err  # DeepSeek's two products
    assert listed(capsys, "--vendor", "deepseek") == [
        r for r in listed(capsys) if r["vendor"] == "deepseek"
    ]


def test_vendors_refuses_a_filter_value_a_rule_would_refuse(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["vendors", "--training", "sometimes"]) == 2
    err = capsys.readouterr().err
    assert "--training:" in err and "'opt-in'" in err and not capsys.readouterr().out


@pytest.mark.parametrize("kind", ["policy", "rules"])
def test_schema_prints_a_json_schema(capsys: pytest.CaptureFixture[str], kind: str) -> None:
    schema = json.loads(run(capsys, "schema", kind))
    assert schema["type"] == "object" and schema["additionalProperties"] is False


@pytest.mark.parametrize(
    "command",
    [
        ["check"],
        ["explain", "https://chat.deepseek.com/"],
        ["discover", "-"],
        ["vendors"],
    ],
)
@pytest.mark.parametrize("local", [False, True])
def test_every_command_says_which_rules_file_it_uses_and_never_falls_back_silently(
    command: list[str],
    local: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    if local:
        shutil.copy(ROOT / "rules.example.yaml", tmp_path / "rules.yaml")
    main([*command, "--policies", str(ROOT / "policies")])
    said = capsys.readouterr().err.splitlines()[0]
    records = f"vendor records {ROOT / 'policies'}"
    if command == ["vendors"]:
        assert said == f"aiwall: {records}"  # the facts alone: no rules apply to the list
    elif local:
        assert said == f"aiwall: rules rules.yaml (./rules.yaml in the current folder); {records}"
    else:
        assert (
            said.startswith("aiwall: rules ") and "rules.example.yaml (THE SHIPPED EXAMPLE" in said
        )


def test_explain_says_when_a_tenant_binding_hides_the_product_a_rule_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "tenants:\n"
        "  openai: {ChatGPT-Allowed-Workspace-Id: [ws-1]}\n"
        "rules:\n"
        "  - id: warn-personal-chatgpt\n"
        "    description: Personal ChatGPT.\n"
        "    match: {product: openai/chatgpt-personal}\n"
        "    action: warn\n"
    )
    main(["explain", "https://chatgpt.com/", "--rules", str(rules)])
    assert (
        "  1. warn-personal-chatgpt: no match on product (this host is openai/chatgpt-enterprise"
        " under the tenant header)"
    ) in capsys.readouterr().out.splitlines()


def test_explain_says_where_a_regional_endpoint_keeps_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = run(capsys, "explain", "https://eu.api.openai.com/v1/chat/completions")
    assert "Host:     eu.api.openai.com keeps data in EU (a regional endpoint)" in out
    assert "keeps data in" not in run(capsys, "explain", "https://api.openai.com/v1/models")


def test_resolve_names_a_file_it_cannot_read(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resolve", "/nonexistent/names.txt"]) == 2
    assert "cannot read /nonexistent/names.txt" in capsys.readouterr().err
