"""YAML read with the line of every value; problems reported as `file:line: field: message`."""

import re
import types
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from aiwall.core.suggest import did_you_mean

Location = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Bounds a hostile or mistaken file cannot pass: a rules file or vendor record is a few KB.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file, said so a person can find and fix it."""

    file: str
    line: int
    field: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {prefix}{self.field}: {self.message}"


class ConfigError(Exception):
    """A configuration that cannot be used; carries every problem found."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def field_name(location: Location) -> str:
    """`('rules', 2, 'match', 'vendor')` → `rules[2].match.vendor`."""
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(document)"


@dataclass
class YamlDocument:
    """The data of one YAML file and the line (1-based) where each value starts."""

    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)
    text: str = ""  # the file as it was read: what a last good configuration keeps

    def line_of(self, location: Location) -> int:
        """The line of the value at `location`, or of its nearest enclosing value."""
        for end in range(len(location), -1, -1):
            if (line := self.lines.get(location[:end])) is not None:
                return line
        return 1

    def problem(self, location: Location, message: str, severity: str = "error") -> Problem:
        return Problem(
            str(self.path), self.line_of(location), field_name(location), message, severity
        )

    def validate[M: BaseModel](self, model: type[M]) -> M:
        """Validate the data against `model`; raise ConfigError with one problem per error."""
        try:
            # Relative paths in a file are read from that file's folder.
            return model.model_validate(self.data, context={"directory": self.path.parent})
        except ValidationError as error:
            raise ConfigError(self._problems(error, model)) from None

    def _problems(self, error: ValidationError, model: type[BaseModel]) -> Iterator[Problem]:
        details = error.errors(include_url=False)
        for detail in details:
            if detail["type"] == "too_short" and _has_inner_error(detail["loc"], details):
                continue  # a list left too short only because one of its items was invalid
            location = _data_location(self.data, detail["loc"])
            yield self.problem(location, _message(detail, model))


def load_yaml(path: Path) -> YamlDocument:
    """Read `path`; YAML syntax errors, duplicate keys, aliases and files too large, too deep or
    of too many values become a ConfigError naming the file and line."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            message = f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
            raise ConfigError([Problem(str(path), 1, "(file)", message)])
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(str(path), 1, "(file)", f"cannot read: {error}")]) from None
    document = YamlDocument(path, None, text=text)
    try:
        _check_shape(path, text)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        message = _plain_words(str(error.problem or error.context), text.splitlines()[line - 1 :])
        if error.context and error.context_mark:
            message += f" ({error.context} from line {error.context_mark.line + 1})"
        raise ConfigError([Problem(str(path), line, "(syntax)", message)]) from None
    if node is not None:
        problems: list[Problem] = []
        document.data = _construct(node, (), document, problems)
        if problems:
            raise ConfigError(problems)
    return document


def _check_shape(path: Path, text: str) -> None:
    """Refuse aliases (a few lines of them expand to billions of values), and bound how many
    values a file holds and how deeply they nest, before anything is built from it."""
    nodes = depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        line = event.start_mark.line + 1 if event.start_mark else 1
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            message = "YAML anchors and aliases (&name, *name) are not supported: write it out"
            raise ConfigError([Problem(str(path), line, "(syntax)", message)])
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            limit = f"{MAX_NODES:,} values" if nodes > MAX_NODES else f"{MAX_DEPTH} levels"
            message = f"the file holds more than {limit}"
            raise ConfigError([Problem(str(path), line, "(file)", message)])


# What the YAML parser's messages usually mean for a person editing the file.
_PLAIN_WORDS = (
    ("'\\t'", "YAML is indented with spaces, not tabs"),
    (
        "mapping values are not allowed here",
        "check the indentation, or quote a value that contains ': '",
    ),
    ("expected <block end>", "a line is indented less or more than the ones around it"),
    ("did not find expected '-' indicator", "a line is indented differently from the '- ' items"),
    ("did not find expected key", "a line is indented differently from the keys around it"),
    ("could not find expected ':'", "a key is missing its ':', or a line is indented too far"),
    ("did not find expected ',' or ']'", "a [ list ] is not closed, or an item needs quotes"),
    ("did not find expected ',' or '}'", "a { mapping } is not closed, or a value needs quotes"),
    ("did not find expected node content", "a value is missing, or a [ or { is not closed"),
    ("found unexpected end of stream", "a quoted string is not closed"),
    ("found unknown escape character", "in double quotes \\ starts an escape: use single quotes"),
    ("block sequence entries are not allowed here", "a '- ' list item is indented wrongly"),
)


def _plain_words(message: str, rest: list[str]) -> str:
    """The YAML parser's message, with what it usually means for a person editing the file."""
    if rest and "\t" in rest[0][: len(rest[0]) - len(rest[0].lstrip())]:
        return f"{message}: YAML is indented with spaces, not tabs"
    for cue, meaning in _PLAIN_WORDS:
        if cue in message:
            return f"{message}: {meaning}"
    return message


def _construct(node: yaml.Node, at: Location, doc: YamlDocument, problems: list[Problem]) -> Any:
    doc.lines[at] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node)
            if key == "<<":
                problems.append(doc.problem(at, "YAML merge keys (<<) are not supported"))
                continue
            if key in mapping:
                doc.lines[(*at, key)] = key_node.start_mark.line + 1
                problems.append(doc.problem((*at, key), "appears twice in the same mapping"))
                continue
            mapping[key] = _construct(value_node, (*at, key), doc, problems)
            doc.lines[(*at, key)] = key_node.start_mark.line + 1
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*at, i), doc, problems) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    return _Loader("").construct_object(node, deep=True)


def _has_inner_error(loc: tuple[int | str, ...], details: list[Any]) -> bool:
    return any(len(d["loc"]) > len(loc) and d["loc"][: len(loc)] == loc for d in details)


def _data_location(data: Any, loc: tuple[int | str, ...]) -> Location:
    """Drop the parts of a pydantic location that are not keys of the data (union branches)."""
    location: list[str | int] = []
    for part in loc:
        found = isinstance(data, dict) and part in data
        found = found or (isinstance(data, list) and isinstance(part, int) and part < len(data))
        if found:
            data = data[part]
            location.append(part)
        elif isinstance(data, dict) and part is loc[-1]:
            location.append(part)  # a missing field: name it, at its mapping's line
    return tuple(location)


def _message(detail: Any, model: type[BaseModel]) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return _unknown_field(str(detail["loc"][-1]), _fields_at(model, detail["loc"][:-1]))
    message = str(detail["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    if "input" in detail and kind not in ("model_type", "dict_type"):
        given = detail["input"]
        if isinstance(given, str | int | float | bool) and repr(given) not in message:
            message += f" (got {given!r})"
        if kind in ("enum", "literal_error") and isinstance(given, str):
            message += did_you_mean(given, re.findall(r"'([^']*)'", str(detail["ctx"]["expected"])))
    return message


def _unknown_field(name: str, fields: list[str]) -> str:
    if not fields:
        return "unknown field"
    if hint := did_you_mean(name, fields):
        return "unknown field" + hint
    return f"unknown field (fields here: {', '.join(fields)})"


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model found at `loc` inside `model` (none if it is no model)."""
    annotation: Any = model
    for part in loc:
        annotation = _model_or_container(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field_info = annotation.model_fields.get(str(part))
            if field_info is None:
                continue  # a union member's tag in the location, not a key of the data
            annotation = field_info.annotation
        elif typing.get_origin(annotation) in (dict, tuple, list):
            annotation = typing.get_args(annotation)[
                -1 if typing.get_origin(annotation) is dict else 0
            ]
    annotation = _model_or_container(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _model_or_container(annotation: Any) -> Any:
    """Strip Annotated and unions down to the model (or dict, list, tuple) they hold."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            structured = [
                a
                for a in members
                if (isinstance(a, type) and issubclass(a, BaseModel))
                or typing.get_origin(a) in (dict, tuple, list)
            ]
            annotation = (structured or members)[0]
        else:
            return annotation
