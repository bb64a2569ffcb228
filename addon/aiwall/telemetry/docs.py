"""The event log's field reference and its Elasticsearch/OpenSearch index template.

Both are generated from `events.schema.json`, the schema every test validates the log against,
so neither can drift from what aiwall writes: `docs/events.md` and
`deploy/shipping/index-template.json` are this module's output, and a test regenerates them.

Field paths are dotted as Elasticsearch, OpenSearch and Kibana name them: the fields of the
objects in an array (`aiwall.names`) read `aiwall.names.seen_in`.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiwall.telemetry.events import EVENT_SCHEMA_PATH

Schema = dict[str, Any]

DATA_STREAM = "logs-aiwall-default"

TEXT_AND_KEYWORD: Schema = {"type": "text", "fields": {"keyword": {"type": "keyword"}}}

# Where the mapping is not what the JSON type alone says (keyword, long, boolean, date).
MAPPING_OVERRIDES: dict[str, Schema] = {
    "@timestamp": {"type": "date"},
    "source.ip": {"type": "ip"},
    "message": TEXT_AND_KEYWORD,
    "error.message": TEXT_AND_KEYWORD,
    "aiwall.reason": TEXT_AND_KEYWORD,
    "aiwall.ack.justification": TEXT_AND_KEYWORD,
    "aiwall.ack.reason": TEXT_AND_KEYWORD,
    "aiwall.config.warnings": TEXT_AND_KEYWORD,
    "aiwall.config.problems": TEXT_AND_KEYWORD,
    "aiwall.config.serving": TEXT_AND_KEYWORD,
}

# Fields the shippers add (deploy/shipping): mapped too, but not aiwall's to document.
SHIPPER_FIELDS: dict[str, Schema] = {
    "data_stream.type": {"type": "keyword"},
    "data_stream.dataset": {"type": "keyword"},
    "data_stream.namespace": {"type": "keyword"},
    "host.name": {"type": "keyword"},
    "log.file.path": {"type": "keyword"},
    "log.offset": {"type": "long"},
}


@dataclass(frozen=True)
class Field:
    path: str
    schema: Schema  # with every $ref resolved and the event kind's narrowing merged in
    required: bool  # present in every event of its kind

    @property
    def leaf(self) -> bool:
        return "properties" not in self.schema and "properties" not in self.items

    @property
    def items(self) -> Schema:
        items = self.schema.get("items")
        return items if isinstance(items, dict) else {}


def event_schema_text() -> str:
    """events.schema.json as it is written."""
    return EVENT_SCHEMA_PATH.read_text(encoding="utf-8")


def event_schema() -> Schema:
    schema: Schema = json.loads(event_schema_text())
    return schema


def kinds(schema: Schema) -> list[str]:
    """The event kinds (`event.action` values), in the schema's order."""
    return [_ref_name(option["$ref"]) for option in schema["oneOf"]]


def fields(schema: Schema, kind: str) -> list[Field]:
    """Every field of one kind of event, objects before their fields, in the schema's order."""
    return list(_walk(schema["$defs"], _resolve(schema["$defs"], schema["$defs"][kind]), "", True))


def mapped_paths(schema: Schema) -> dict[str, Schema]:
    """Each leaf field path of every kind, with its Elasticsearch mapping."""
    mappings: dict[str, Schema] = {}
    for kind in kinds(schema):
        for field in fields(schema, kind):
            if not field.leaf:
                continue
            mapping = _mapping(field)
            if mappings.setdefault(field.path, mapping) != mapping:
                raise ValueError(f"{field.path}: two event kinds would map it differently")
    return mappings


def example_event(schema: Schema, kind: str) -> dict[str, Any]:
    """One event of this kind with every field set to its example, to validate the examples."""
    event: dict[str, Any] = {}
    for field in fields(schema, kind):
        if field.leaf:
            _put(event, field.path.split("."), example(field.schema))
        elif field.items:  # an array of objects: one object, its fields put in turn
            _put(event, field.path.split("."), [{}])
    return event


def example(node: Schema) -> Any:
    """The field's documented example: `examples`, else its constant, else its first value."""
    if "examples" in node:
        return node["examples"][0]
    if "const" in node:
        return node["const"]
    if "enum" in node:
        return node["enum"][0]
    items = node.get("items")
    if node.get("type") == "array" and isinstance(items, dict) and ("enum" in items):
        return [items["enum"][0]]
    raise KeyError("no example")


def index_template(schema: Schema | None = None) -> Schema:
    """A composable index template for the `logs-aiwall-*` data streams (ES 7.9+, OpenSearch)."""
    schema = schema or event_schema()
    properties: Schema = {}
    for path, mapping in sorted({**mapped_paths(schema), **SHIPPER_FIELDS}.items()):
        *parents, name = path.split(".")
        level = properties
        for parent in parents:
            level = level.setdefault(parent, {"properties": {}})["properties"]
        level[name] = mapping
    return {
        "index_patterns": ["logs-aiwall-*"],
        "data_stream": {},
        "priority": 200,
        "_meta": {
            "description": "aiwall event log, ECS field names; generated from"
            " events.schema.json by `aiwall schema events --index-template`",
            "ecs_version": _ecs_version(schema),
        },
        "template": {
            "settings": {"index.mapping.ignore_malformed": True},
            "mappings": {
                "dynamic_templates": [
                    {
                        "strings_as_keyword": {
                            "match_mapping_type": "string",
                            "mapping": {"type": "keyword", "ignore_above": 1024},
                        }
                    }
                ],
                "properties": properties,
            },
        },
    }


def index_template_json(schema: Schema | None = None) -> str:
    return json.dumps(index_template(schema), indent=2) + "\n"


def markdown(schema: Schema | None = None) -> str:
    """docs/events.md: one table per event kind."""
    schema = schema or event_schema()
    lines = [
        "# Event log fields",
        "",
        "<!-- Generated from addon/aiwall/telemetry/events.schema.json by scripts/gen-event-docs"
        " (`aiwall schema events --markdown`). Do not edit: change the schema and regenerate. -->",
        "",
        schema["description"],
        "",
        "`event.action` says which kind of event a line is. The tables below list every field of"
        " each kind: *Required* fields are in every event of that kind, the others only when"
        " known. *Mapping* is the field's type in Elasticsearch or OpenSearch with"
        " `deploy/shipping/index-template.json`; arrays are mapped as their items are. The"
        " schema itself: `aiwall schema events`.",
        "",
    ]
    lines += [f"- `{kind}`: {schema['$defs'][kind]['description']}" for kind in kinds(schema)]
    mappings = mapped_paths(schema)
    for kind in kinds(schema):
        lines += ["", f"## {kind}", "", schema["$defs"][kind]["description"], ""]
        lines += [
            "| Field | Type | Required | Mapping | Description | Example |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for field in fields(schema, kind):
            if not field.leaf and "description" not in field.schema:
                continue  # an object that only groups its fields: they have rows of their own
            mapping = _mapping_name(mappings[field.path]) if field.leaf else "object"
            sample = f"`{_json(example(field.schema))}`" if field.leaf else ""
            cells = [
                f"`{field.path}`",
                _type_name(field.schema),
                "yes" if field.required else "no",
                mapping,
                _description(field.schema),
                sample,
            ]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def _ref_name(ref: str) -> str:
    prefix = "#/$defs/"
    if not ref.startswith(prefix):
        raise ValueError(f"unexpected $ref {ref}")
    return ref[len(prefix) :]


def _resolve(defs: Schema, node: Schema) -> Schema:
    """The node with its $ref merged in: the referenced schema, narrowed by the node's own."""
    if "$ref" not in node:
        return node
    base = _resolve(defs, defs[_ref_name(node["$ref"])])
    return _merge(defs, base, {key: value for key, value in node.items() if key != "$ref"})


def _merge(defs: Schema, base: Schema, extra: Schema) -> Schema:
    merged = dict(base)
    for key, value in extra.items():
        if key == "properties":
            properties = dict(base.get("properties", {}))
            for name, node in value.items():
                node = _resolve(defs, node)
                known = properties.get(name)
                properties[name] = _merge(defs, _resolve(defs, known), node) if known else node
            merged[key] = properties
        elif key == "required":
            merged[key] = [*base.get(key, []), *(n for n in value if n not in base.get(key, []))]
        else:
            merged[key] = value
    return merged


def _walk(defs: Schema, node: Schema, path: str, required: bool) -> Iterator[Field]:
    node = _resolve(defs, node)
    items = node.get("items")
    shape = _resolve(defs, items) if isinstance(items, dict) else node
    if path:
        yield Field(path, node, required)
    for name, child in shape.get("properties", {}).items():
        inside = required and name in shape.get("required", [])
        yield from _walk(defs, child, f"{path}.{name}" if path else name, inside)


def _mapping(field: Field) -> Schema:
    if field.path in MAPPING_OVERRIDES:
        return MAPPING_OVERRIDES[field.path]
    types = _json_types(field.items or field.schema)
    if {field.schema.get("format"), field.items.get("format")} & {"date", "date-time"}:
        return {"type": "date"}
    if types == {"integer"}:
        return {"type": "long"}
    if types == {"boolean"}:
        return {"type": "boolean"}
    return {"type": "keyword"}  # strings, and values that may be a string or something else


def _json_types(node: Schema) -> set[str]:
    if "const" in node:
        values = node["const"] if isinstance(node["const"], list) else [node["const"]]
        return {_json_type(value) for value in values}
    if "enum" in node:
        return {_json_type(value) for value in node["enum"]}
    declared = node.get("type", "object")
    return {declared} if isinstance(declared, str) else set(declared) - {"null"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "object"


def _type_name(node: Schema) -> str:
    declared = node.get("type")
    if declared == "array" or ("const" in node and isinstance(node["const"], list)):
        items = node.get("items")
        if isinstance(items, dict) and "properties" in items:
            return "array of objects"
        inner = _json_types(items) if isinstance(items, dict) else _json_types(node)
        return "array of " + " or ".join(sorted(inner - {"array"} or {"string"}))
    names = sorted(_json_types(node))
    if isinstance(declared, list) and "null" in declared:
        names.append("null")
    return " or ".join(names)


def _mapping_name(mapping: Schema) -> str:
    subfields = "".join(f" + {sub['type']}" for sub in mapping.get("fields", {}).values())
    return f"{mapping['type']}{subfields}"


def _description(node: Schema) -> str:
    text = str(node.get("description", ""))
    values = node.get("items", {}) if node.get("type") == "array" else node
    if "const" in node:
        constant = node["const"]
        text = f"{text} Always `{_json(constant)}`."
    elif isinstance(values, dict) and "enum" in values:
        listed = ", ".join(f"`{_json(value)}`" for value in values["enum"])
        text = f"{text} One of {listed}."
    return text.strip()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _put(event: dict[str, Any], path: list[str], value: Any) -> None:
    level = event
    for name in path[:-1]:
        level = level.setdefault(name, {})
        if isinstance(level, list):
            level = level[0]
    level[path[-1]] = value


def _ecs_version(schema: Schema) -> str:
    version: str = schema["$defs"]["envelope"]["properties"]["ecs"]["properties"]["version"][
        "const"
    ]
    return version
