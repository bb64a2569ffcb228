"""YAML read with the line of every value; problems reported as `file:line: field: message`."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

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
            raise ConfigError(self._problems(error)) from None

    def _problems(self, error: ValidationError) -> Iterator[Problem]:
        details = error.errors(include_url=False)
        for detail in details:
            if detail["type"] == "too_short" and _has_inner_error(detail["loc"], details):
                continue  # a list left too short only because one of its items was invalid
            location = _data_location(self.data, detail["loc"])
            yield self.problem(location, _message(detail))


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
    document = YamlDocument(path, None)
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


def _plain_words(message: str, rest: list[str]) -> str:
    """The YAML parser's message, with what it usually means for a person editing the file."""
    if rest and "\t" in rest[0][: len(rest[0]) - len(rest[0].lstrip())]:
        return f"{message}: YAML is indented with spaces, not tabs"
    if "mapping values are not allowed here" in message:
        return f"{message}: check the indentation, or quote a value that contains ': '"
    if "expected <block end>" in message:
        return f"{message}: a line is indented less or more than the ones around it"
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


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def _message(detail: Any) -> str:
    kind = detail["type"]
    if kind in _MESSAGES:
        return str(_MESSAGES[kind])
    message = str(detail["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    if "input" in detail and kind not in ("model_type", "dict_type"):
        given = detail["input"]
        if isinstance(given, str | int | float | bool) and repr(given) not in message:
            message += f" (got {given!r})"
    return message
