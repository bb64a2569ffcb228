"""The SIEM recipes (deploy/shipping): Splunk app, Vector to HEC, Microsoft Sentinel table,
data collection rule and ASIM parser, Kibana saved objects. Each is parsed, and every event
field it names must be one aiwall writes (events.schema.json), so none can drift from the log.
"""

import configparser
import json
import re
from pathlib import Path
from typing import Any

import yaml
from aiwall.telemetry import docs as eventdocs

from .conftest import ROOT

SHIPPING = ROOT / "deploy" / "shipping"
SPLUNK = SHIPPING / "splunk" / "aiwall"
SENTINEL = SHIPPING / "sentinel"
FIELDS = set(eventdocs.mapped_paths(eventdocs.event_schema()))
# The CIM Web data model's fields (Splunk Common Information Model 5.x, Web.Proxy).
CIM_WEB = {
    "action", "app", "bytes", "bytes_in", "bytes_out", "cached", "category", "cookie", "dest",
    "dest_port", "duration", "http_content_type", "http_method", "http_referrer",
    "http_user_agent", "response_time", "site", "src", "status", "uri_path", "uri_query", "url",
    "user", "vendor_product", "dvc", "rule", "event_id",
}  # fmt: skip
# ASIM WebSession (0.2.6) fields the parser may produce.
ASIM_WEB_SESSION = {
    "TimeGenerated", "EventVendor", "EventProduct", "EventSchema", "EventSchemaVersion",
    "EventType", "EventCount", "EventStartTime", "EventEndTime", "EventResult",
    "EventResultDetails", "EventSeverity", "EventOriginalUid", "DvcAction", "Dvc", "DvcHostname",
    "SrcIpAddr", "SrcUsername", "SrcUsernameType", "DstHostname", "Url", "HttpRequestMethod",
    "HttpStatusCode", "SrcBytes", "RuleName", "ThreatCategory",
}  # fmt: skip


def splunk_conf(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((SPLUNK / "default" / name).read_text())
    return parser


def test_the_splunk_app_has_the_files_splunk_reads() -> None:
    for name in ("app.conf", "props.conf", "transforms.conf", "eventtypes.conf", "tags.conf"):
        splunk_conf(name)  # each parses
    assert (SPLUNK / "metadata" / "default.meta").exists()
    assert splunk_conf("app.conf")["package"]["id"] == SPLUNK.name


def test_the_sourcetype_reads_aiwall_time_and_json() -> None:
    stanza = splunk_conf("props.conf")["aiwall:events"]
    assert stanza["KV_MODE"] == "json"
    assert stanza["SHOULD_LINEMERGE"] == "false"
    assert stanza["TIME_FORMAT"] == "%Y-%m-%dT%H:%M:%S.%6NZ" and stanza["TZ"] == "UTC"
    line = '{"@timestamp":"2026-11-29T13:50:00.123456Z","event":{}}'
    assert re.match(stanza["TIME_PREFIX"], line)
    assert int(stanza["MAX_TIMESTAMP_LOOKAHEAD"]) >= len("2026-11-29T13:50:00.123456Z")


def test_every_field_the_splunk_app_names_is_an_event_field() -> None:
    stanza = splunk_conf("props.conf")["aiwall:events"]
    named, cim = set(), set()
    for key, value in stanza.items():
        if key.startswith("FIELDALIAS-"):
            for source, target in re.findall(r'"?([\w.@]+)"?\s+AS\s+(\w+)', value):
                named.add(source)
                cim.add(target)
        elif key.startswith("EVAL-"):
            cim.add(key.removeprefix("EVAL-"))
            named |= set(re.findall(r"'([\w.@]+)'", value))
        elif key.startswith("LOOKUP-"):
            named.add(re.search(r" AS ([\w.]+)", value).group(1))  # type: ignore[union-attr]
    assert named and named <= FIELDS, named - FIELDS
    assert cim <= CIM_WEB, cim - CIM_WEB
    for stanza in splunk_conf("eventtypes.conf").values():
        for field in re.findall(r'([\w.]+)="', stanza.get("search", "")):
            assert field in FIELDS | {"sourcetype"}, field
    tagged = splunk_conf("tags.conf")["eventtype=aiwall_web"]
    assert tagged["web"] == "enabled"


def test_the_vendor_lookup_is_aiwall_vendors_csv(capsys: Any) -> None:
    from aiwall.cli.main import main

    lookup = splunk_conf("transforms.conf")["aiwall_vendors"]
    assert lookup["filename"] == "aiwall_vendors.csv"
    stanza = splunk_conf("props.conf")["aiwall:events"]
    used = stanza["LOOKUP-aiwall_vendors"].split()
    assert main(["vendors", "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert used[1] in header  # the key: product
    outputs = [used[i - 1] for i, word in enumerate(used) if word == "AS"][1:]
    assert set(outputs) <= set(header)


def test_vector_sends_to_hec_with_the_sourcetype() -> None:
    base = yaml.safe_load((SHIPPING / "vector.yaml").read_text())
    [transform_id] = base["transforms"]
    [sink] = yaml.safe_load((SHIPPING / "vector-splunk.yaml").read_text())["sinks"].values()
    # Keys of Vector's splunk_hec_logs sink (src/sinks/splunk_hec/logs/config.rs).
    known = {
        "type", "inputs", "endpoint", "default_token", "index", "sourcetype", "source",
        "encoding", "auto_extract_timestamp", "acknowledgements", "tls", "host_key",
        "timestamp_key", "compression", "endpoint_target", "indexed_fields",
    }  # fmt: skip
    assert set(sink) <= known
    assert sink["type"] == "splunk_hec_logs" and sink["inputs"] == [transform_id]
    assert sink["sourcetype"] == "aiwall:events"
    assert sink["sourcetype"] in splunk_conf("props.conf").sections()


def sentinel_columns() -> dict[str, str]:
    table = json.loads((SENTINEL / "table.json").read_text())["properties"]["schema"]
    assert table["name"] == "AiwallEvents_CL"
    return {column["name"]: column["type"] for column in table["columns"]}


def test_the_data_collection_rule_fills_every_column_from_event_fields() -> None:
    rule = json.loads((SENTINEL / "dcr.json").read_text())["properties"]
    [flow] = rule["dataFlows"]
    assert flow["outputStream"] == "Custom-AiwallEvents_CL"
    assert flow["streams"] == list(rule["streamDeclarations"])
    [source] = rule["dataSources"]["logFiles"]
    assert source["streams"] == flow["streams"]
    assert any(Path(p).name == "events.jsonl" for p in source["filePatterns"])
    kql = flow["transformKql"]
    projected = dict(re.findall(r"^\s+(\w+) = (.+?),?$", kql, re.M))
    assert set(projected) == set(sentinel_columns())
    named = set()
    for expression in projected.values():
        named |= {
            m.replace("['", ".").replace("']", "")
            for m in re.findall(r"\be((?:\.\w+|\['[@\w]+'\])+)", expression)
        }
    named = {name.lstrip(".") for name in named}
    schema = eventdocs.event_schema()
    every_path = {
        f.path for kind in eventdocs.kinds(schema) for f in eventdocs.fields(schema, kind)
    }
    assert named and named <= every_path, named - every_path  # objects (aiwall.record) too


def test_the_asim_parser_maps_table_columns_to_web_session_fields() -> None:
    parser = yaml.safe_load((SENTINEL / "ASimWebSessionAiwall.yaml").read_text())
    assert parser["Normalization"]["Schema"] == "WebSession"
    query = parser["ParserQuery"]
    assert "AiwallEvents_CL" in query
    produced = set(re.findall(r"^\s+(\w+) = ", query, re.M))
    projected = re.search(r"\| project\s+(.+?)\n\s*\};", query, re.S)
    assert projected is not None
    output = {name.strip() for name in projected.group(1).split(",")}
    assert output <= ASIM_WEB_SESSION, output - ASIM_WEB_SESSION
    assert produced <= ASIM_WEB_SESSION
    columns = set(sentinel_columns())
    used = set(re.findall(r"\b([A-Z]\w+)\b", query)) - produced - ASIM_WEB_SESSION
    used -= {"AiwallEvents_CL", "Allow", "Deny", "Success", "Failure", "Informational", "Low",
             "Simple", "HTTPsession", "WebSession"}  # fmt: skip
    assert used <= columns, used - columns


def kibana_objects() -> list[dict[str, Any]]:
    lines = (SHIPPING / "kibana-saved-objects.ndjson").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_kibana_objects_reference_each_other_and_the_data_stream() -> None:
    objects = kibana_objects()
    ids = {(o["type"], o["id"]) for o in objects}
    assert len(ids) == len(objects)
    for o in objects:
        for reference in o["references"]:
            assert (reference["type"], reference["id"]) in ids, reference
    [view] = [o for o in objects if o["type"] == "index-pattern"]
    template = json.loads((SHIPPING / "index-template.json").read_text())
    assert view["attributes"]["title"] in template["index_patterns"]
    assert view["attributes"]["timeFieldName"] == "@timestamp"
    [dashboard] = [o for o in objects if o["type"] == "dashboard"]
    panels = json.loads(dashboard["attributes"]["panelsJSON"])
    assert {f"{p['panelIndex']}:{p['panelRefName']}" for p in panels} == {
        r["name"] for r in dashboard["references"]
    }


def test_every_field_kibana_shows_is_an_event_field() -> None:
    named: set[str] = set()
    for o in kibana_objects():
        attributes = o["attributes"]
        if o["type"] == "lens":
            state = attributes["state"]
            for layer in state["datasourceStates"]["formBased"]["layers"].values():
                named |= {c["sourceField"] for c in layer["columns"].values()} - {"___records___"}
            named |= set(re.findall(r"([\w.@]+) :", state["query"]["query"]))
        elif o["type"] == "search":
            named |= set(attributes["columns"]) | {field for field, _ in attributes["sort"]}
            source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            named |= set(re.findall(r"([\w.@]+) :", source["query"]["query"]))
    assert named and named <= FIELDS, named - FIELDS
