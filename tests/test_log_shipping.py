"""Log shipping: the field reference and the index template are generated from the schema the
events are validated against and cannot go stale; every field aiwall writes is mapped; the
Filebeat and Vector configurations parse and agree with the template; the proxy rotates its
log and reopens it on SIGHUP."""

import dataclasses
import fnmatch
import ipaddress
import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiwall.core.config import Config
from aiwall.core.decision import HostName, RequestInfo
from aiwall.telemetry import docs as eventdocs
from aiwall.telemetry.events import EVENT_SCHEMA_PATH, EventLog, RequestContext

from .conftest import FIXTURES, ROOT
from .eventcheck import event_validator, fact_change, validate_event_lines
from .proxy import running_proxy
from .upstream import Upstream

SHIPPING = ROOT / "deploy" / "shipping"
DOCS = ROOT / "docs" / "events.md"
TEMPLATE = SHIPPING / "index-template.json"
LOG_PATH = "/var/log/aiwall/events.jsonl"  # as deploy/systemd and deploy/README.md use it
REGENERATE = "stale: run scripts/gen-event-docs and commit the result"


def template() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    return loaded


def template_fields(properties: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """Leaf field path → mapping, read from the template itself (not from the generator)."""
    found: dict[str, dict[str, Any]] = {}
    for name, mapping in properties.items():
        path = f"{prefix}{name}"
        if "properties" in mapping:
            found |= template_fields(mapping["properties"], path + ".")
        else:
            found[path] = mapping
    return found


def leaf_values(value: Any, prefix: str = "") -> dict[str, list[Any]]:
    """Path → every leaf value under it in an event; arrays are transparent, as in ES."""
    found: dict[str, list[Any]] = {}
    if isinstance(value, dict):
        for name, inner in value.items():
            for path, values in leaf_values(inner, f"{prefix}{name}.").items():
                found.setdefault(path, []).extend(values)
    elif isinstance(value, list):
        for inner in value:
            for path, values in leaf_values(inner, prefix).items():
                found.setdefault(path, []).extend(values)
    else:
        found[prefix.rstrip(".")] = [value]
    return found


def every_kind_of_event(config: Config, path: Path) -> list[dict[str, Any]]:
    """Real events of each kind, with as many optional fields set as aiwall ever sets."""
    log = EventLog(str(path))
    names = (
        HostName("connect", "api.cnchat.test:443"),
        HostName("sni", "api.cnchat.test"),
        HostName("host", "api.cnchat.test"),
    )
    decision = config.engine.decide(
        RequestInfo(names, "POST", user="alice", client_ip=ipaddress.ip_address("10.0.0.7"))
    )
    request = RequestContext(
        client_ip="10.0.0.7",
        user="alice",
        method="POST",
        scheme="https",
        path="/v1/chat",
        sni="api.cnchat.test",
        status_code=403,
    )
    log.decision(decision, request)
    invalid = config.engine.decide(RequestInfo((HostName("host", "bad..cnchat.test"),), "GET"))
    log.decision(invalid, RequestContext("10.0.0.7", None, "GET", "https", "/", None, 400))
    log.ack(
        identity="user:alice",
        user="alice",
        client_ip="10.0.0.7",
        vendor="usbot",
        product="usbot/personal",
        rule_id="warn-stale",
        host="usbotcdn.test",
        justification="ticket 42",
        ttl_seconds=3600,
        accepted=True,
        reason="acknowledged",
    )
    allowed = config.engine.decide(RequestInfo((HostName("host", "usbot.test"),), "GET"))
    assert allowed.rule is not None
    recorded = dataclasses.replace(allowed, rule=allowed.rule.model_copy(update={"record": True}))
    log.allowed(recorded, user="alice", client_ip="10.0.0.7", body=120)
    previous_rules = config.rules.model_copy(update={"rules": config.rules.rules[1:]})
    previous = dataclasses.replace(config, rules=previous_rules)
    log.config_loaded(config, rules="r.yaml", policies="p", previous=previous)
    log.config_rejected(problems=["r.yaml:1: rules: bad"])
    log.policy_changed([fact_change("never")])
    log.source_changed(
        vendor="cnchat",
        url="https://cnchat.test/privacy",
        title="Privacy Policy",
        facts=["residency"],
        verified="2026-06-01",
        diff=["- kept 30 days", "+ kept 5 years"],
    )
    log.internal_error(error="KeyError('x')", where="requestheaders", host="h", client_ip="::1")
    log.decisions_suppressed(
        client_ip="10.0.0.7",
        user="ann",
        host="chat.deepseek.com",
        rule_id="block-cn",
        status_code=403,
        count=412,
        seconds=10.0,
    )
    log.connection_refused(client_ip="10.0.0.7", status_code=431, reason="over 65536 bytes")
    log.directory_read(ok=True, groups=3, users=42, error=None, seconds=0.084)
    log.directory_read(ok=False, groups=3, users=42, error="ldap://dc1: refused", seconds=2.0)
    log.close()
    return validate_event_lines(path.read_text().splitlines())


# The generated files.


def test_the_field_reference_is_generated_from_the_schema() -> None:
    assert DOCS.read_text(encoding="utf-8") == eventdocs.markdown(), (
        f"docs/events.md is {REGENERATE}"
    )


def test_the_index_template_is_generated_from_the_schema() -> None:
    assert TEMPLATE.read_text(encoding="utf-8") == eventdocs.index_template_json(), (
        f"deploy/shipping/index-template.json is {REGENERATE}"
    )


def test_the_reference_has_a_table_for_every_kind_and_a_row_for_every_field() -> None:
    schema = eventdocs.event_schema()
    text = DOCS.read_text(encoding="utf-8")
    sections = text.split("\n## ")[1:]
    assert [s.split("\n", 1)[0] for s in sections] == eventdocs.kinds(schema)
    for section in sections:
        kind = section.split("\n", 1)[0]
        rows = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
        leaves = {f.path for f in eventdocs.fields(schema, kind) if f.leaf}
        assert leaves <= rows, f"{kind}: {leaves - rows} undocumented"


def test_every_field_has_an_example_and_the_examples_validate() -> None:
    schema = eventdocs.event_schema()
    for kind in eventdocs.kinds(schema):
        for field in eventdocs.fields(schema, kind):
            if field.leaf:
                eventdocs.example(field.schema)  # KeyError: give the field "examples"
        event = eventdocs.example_event(schema, kind)
        errors = [e.message for e in event_validator().iter_errors(event)]
        assert not errors, f"{kind}: the schema's examples do not validate: {errors}"


def test_cli_prints_the_schema_the_reference_and_the_template() -> None:
    def aiwall(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "aiwall", "schema", "events", *args],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert aiwall() == EVENT_SCHEMA_PATH.read_text(encoding="utf-8")
    assert aiwall("--markdown") == DOCS.read_text(encoding="utf-8")
    assert aiwall("--index-template") == TEMPLATE.read_text(encoding="utf-8")


def test_the_generator_script_writes_the_same_files(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    (copy / "docs").mkdir()
    (copy / "deploy" / "shipping").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "gen-event-docs", copy / "scripts")
    subprocess.run([copy / "scripts" / "gen-event-docs", sys.executable], check=True)
    assert (copy / "docs" / "events.md").read_text() == DOCS.read_text()
    assert (copy / "deploy" / "shipping" / "index-template.json").read_text() == (
        TEMPLATE.read_text()
    )


# The index template against the schema and against real events.


def test_template_and_schema_name_the_same_fields() -> None:
    mapped = template_fields(template()["template"]["mappings"]["properties"])
    schema_paths = set(eventdocs.mapped_paths(eventdocs.event_schema()))
    shippers = set(eventdocs.SHIPPER_FIELDS)
    assert set(mapped) - shippers == schema_paths
    assert shippers <= set(mapped)


def test_template_types_where_they_matter() -> None:
    mapped = template_fields(template()["template"]["mappings"]["properties"])
    text_and_keyword = {"type": "text", "fields": {"keyword": {"type": "keyword"}}}
    assert mapped["@timestamp"] == {"type": "date"}
    assert mapped["source.ip"] == {"type": "ip"}
    assert mapped["http.response.status_code"] == {"type": "long"}  # ECS: long
    assert mapped["message"] == text_and_keyword
    assert mapped["aiwall.ack.justification"] == text_and_keyword
    assert mapped["aiwall.record.last_verified"] == {"type": "date"}
    assert mapped["aiwall.ack.ttl_seconds"] == {"type": "long"}
    assert mapped["aiwall.acknowledged"] == {"type": "boolean"}
    for keyword in (
        "event.action",
        "event.outcome",
        "event.dataset",
        "rule.id",
        "rule.name",
        "user.name",
        "url.domain",
        "aiwall.vendor",
        "aiwall.product",
        "aiwall.rule",
        "aiwall.names.vendor",
        "aiwall.facts.residency",
        "aiwall.facts.zero_retention",  # true, false or "unknown": keyword takes all three
    ):
        assert mapped[keyword] == {"type": "keyword"}, keyword


def test_template_is_a_data_stream_template_for_the_shippers_stream() -> None:
    loaded = template()
    assert loaded["data_stream"] == {}
    assert loaded["priority"] > 100  # above Elasticsearch's built-in logs-*-* template
    assert any(fnmatch.fnmatch(eventdocs.DATA_STREAM, p) for p in loaded["index_patterns"])
    # Never drop an event over one odd value.
    assert loaded["template"]["settings"]["index.mapping.ignore_malformed"] is True


def test_every_field_of_real_events_is_mapped_and_fits_its_type(
    test_config: Config, tmp_path: Path
) -> None:
    mapped = template_fields(template()["template"]["mappings"]["properties"])
    events = every_kind_of_event(test_config, tmp_path / "events.log")
    assert {e["event"]["action"] for e in events} == set(eventdocs.kinds(eventdocs.event_schema()))
    for event in events:
        for path, values in leaf_values(event).items():
            assert path in mapped, f"{path} is written but not mapped"
            kind = mapped[path]["type"]
            for value in values:
                if value is None:
                    continue  # null: nothing indexed
                if kind == "ip":
                    ipaddress.ip_address(value)
                elif kind == "date":
                    text = value.replace("Z", "+00:00")
                    assert datetime.fromisoformat(text) or date.fromisoformat(text)
                elif kind == "long":
                    assert type(value) is int
                elif kind == "boolean":
                    assert type(value) is bool
                else:
                    assert kind in ("keyword", "text")
                    assert isinstance(value, str | bool), (path, value)


# Filebeat and Vector.


def test_filebeat_reads_the_log_as_ndjson_into_the_data_stream() -> None:
    config = yaml.safe_load((SHIPPING / "filebeat.yml").read_text())
    [source] = config["filebeat.inputs"]
    assert source["type"] == "filestream" and source["id"]
    assert any(fnmatch.fnmatch(LOG_PATH, p) for p in source["paths"])
    assert any(fnmatch.fnmatch(LOG_PATH + ".1", p) for p in source["paths"])
    [parser] = source["parsers"]
    assert parser == {"ndjson": {"target": "", "overwrite_keys": True, "add_error_key": True}}
    output = config["output.elasticsearch"]
    assert output["index"] == eventdocs.DATA_STREAM
    assert any(fnmatch.fnmatch(output["index"], p) for p in template()["index_patterns"])
    # Filebeat must neither load its own template over ours nor an ILM policy.
    assert config["setup.template.enabled"] is False and config["setup.ilm.enabled"] is False
    fields = source["processors"][0]["add_fields"]
    assert fields["target"] == "data_stream"
    stream = fields["fields"]
    assert f"{stream['type']}-{stream['dataset']}-{stream['namespace']}" == eventdocs.DATA_STREAM


# Keys of Vector's file source, remap transform and elasticsearch sink used here, as read in
# Vector's source (src/sources/file, src/sinks/elasticsearch/config.rs): an unknown key makes
# Vector refuse the configuration.
VECTOR_KEYS = {
    "file": {"type", "include", "exclude", "read_from"},
    "remap": {"type", "inputs", "source"},
    "elasticsearch": {
        "type",
        "inputs",
        "endpoints",
        "api_version",
        "mode",
        "data_stream",
        "auth",
        "tls",
    },
}


def test_vector_pipeline_parses_and_feeds_both_sinks() -> None:
    base = yaml.safe_load((SHIPPING / "vector.yaml").read_text())
    [(source_id, source)] = base["sources"].items()
    assert set(source) <= VECTOR_KEYS["file"]
    assert any(fnmatch.fnmatch(LOG_PATH, p) for p in source["include"])
    assert any(fnmatch.fnmatch(LOG_PATH + ".2", p) for p in source["include"])
    [(transform_id, transform)] = base["transforms"].items()
    assert set(transform) <= VECTOR_KEYS["remap"]
    assert transform["inputs"] == [source_id]
    assert "parse_json(.message)" in transform["source"]
    for name in ("vector-elasticsearch.yaml", "vector-opensearch.yaml"):
        [sink] = yaml.safe_load((SHIPPING / name).read_text())["sinks"].values()
        assert set(sink) <= VECTOR_KEYS["elasticsearch"], name
        assert sink["type"] == "elasticsearch" and sink["inputs"] == [transform_id]
        assert sink["mode"] == "data_stream"  # Vector then sends `create`, as data streams need
        assert sink["api_version"] == "v8"
        assert set(sink["auth"]) == {"strategy", "user", "password"}
        stream = sink["data_stream"]
        name_of_stream = f"{stream['type']}-{stream['dataset']}-{stream['namespace']}"
        assert name_of_stream == eventdocs.DATA_STREAM
        assert any(fnmatch.fnmatch(name_of_stream, p) for p in template()["index_patterns"])


# The proxy: rotation options and SIGHUP.


def finished_events(path: Path) -> list[dict[str, Any]]:
    """The events whose line is complete: the proxy may be writing the next one."""
    lines = path.read_text().split("\n")[:-1] if path.exists() else []
    return [json.loads(line) for line in lines]


@pytest.mark.e2e
def test_proxy_rotates_its_log_and_reopens_it_on_sighup(tmp_path: Path, upstream: Upstream) -> None:
    limit = 4000
    options = (f"aiwall_log_max_bytes={limit}", "aiwall_log_backups=2")
    rules = FIXTURES / "proxy" / "rules.yaml"
    with running_proxy(tmp_path / "proxy", upstream, rules, ROOT / "policies", options) as proxy:
        log = proxy.events_path
        for _ in range(8):
            status, _ = proxy.curl("https://chat.deepseek.com/", "-H", "Accept: application/json")
            assert status == 403
        files = [log, *(log.with_name(f"{log.name}.{n}") for n in (1, 2))]
        deadline = time.monotonic() + 5
        while not files[2].exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(path.exists() for path in files)
        assert not log.with_name(f"{log.name}.3").exists()
        for path in files:
            assert path.stat().st_size <= limit
            validate_event_lines(path.read_text().splitlines())

        moved = log.with_name("events.jsonl-rotated")
        log.rename(moved)  # logrotate (create mode), then its postrotate: kill -HUP
        proxy.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            reloaded = any(e["event"]["action"] == "config.loaded" for e in finished_events(log))
            if reloaded:
                break
            time.sleep(0.1)
        else:
            pytest.fail("no config.loaded in a fresh log file after SIGHUP")
        proxy.curl("https://chat.deepseek.com/", "-H", "Accept: application/json")
        actions = [e["event"]["action"] for e in finished_events(log)]
        assert actions[0] == "config.loaded" and "decision" in actions
    validate_event_lines(moved.read_text().splitlines())
