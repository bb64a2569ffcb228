"""A page's main text, normalised so that only a change in substance counts as a change.

trafilatura finds the main text of an HTML page (navigation, scripts, styles and boilerplate
left out); normalising then removes what differs between two renderings of the same words:
Unicode compatibility forms, runs of whitespace, empty lines.
"""

import difflib
import unicodedata
from dataclasses import dataclass

import trafilatura

DIFF_LINES = 12  # lines of a text diff shown in a report, an event or an e-mail
DIFF_LINE_CHARS = 200


@dataclass(frozen=True)
class PageText:
    title: str
    text: str  # the main text, one paragraph per line


def page_text(body: bytes, content_type: str) -> PageText:
    """The title and main text of a fetched page; plain text is taken as it is."""
    if "html" not in content_type and body.lstrip()[:1] != b"<":
        return PageText("", normalise(body.decode("utf-8", "replace")))
    text = trafilatura.extract(body, include_comments=False, include_tables=True) or ""
    metadata = trafilatura.extract_metadata(body)
    title = metadata.title if metadata is not None and metadata.title else ""
    return PageText(normalise(title), normalise(text))


def normalise(text: str) -> str:
    lines = (" ".join(line.split()) for line in unicodedata.normalize("NFKC", text).splitlines())
    return "\n".join(line for line in lines if line)


def text_diff(old: str, new: str, limit: int = DIFF_LINES) -> list[str]:
    """The lines removed (`- `) and added (`+ `), the first `limit` of them, each cut short."""
    changed = [
        line
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), n=0, lineterm="")
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]
    shown = [_cut(f"{line[0]} {line[1:]}") for line in changed[:limit]]
    if len(changed) > limit:
        shown.append(f"… {len(changed) - limit} more changed lines")
    return shown


def _cut(line: str) -> str:
    return line if len(line) <= DIFF_LINE_CHARS else line[: DIFF_LINE_CHARS - 1] + "…"
