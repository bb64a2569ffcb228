"""Plain-text pieces for a terminal, shared by `aiwall report` and `aiwall discover`.

- `number(value)`: `1,234` for ints, one decimal for floats, an em dash for None.
- `text_table(headers, rows, *, numeric=(), max_width=48, indent="  ")`: an aligned table;
  control and format characters in cells are shown escaped (`aiwall.core.text.shown`), so a
  log cannot drive the terminal.
- `text_bar(value, maximum, width=30)`: a bar of block characters.
"""

from collections.abc import Iterable, Sequence

from aiwall.core.text import shown

Cell = object  # str, int, float or None


def number(value: object) -> str:
    """`1,234` for ints, one decimal for floats, an em dash for None, else the text."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def text_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    numeric: Iterable[int] = (),
    max_width: int = 48,
    indent: str = "  ",
) -> str:
    """Columns aligned with spaces, numbers right-aligned; cells longer than `max_width` are
    cut with an ellipsis. Ends without a newline; an empty string when there are no rows."""
    right = set(numeric)
    cells = [[_plain(h, max_width) for h in headers]]
    cells += [[_plain(number(v), max_width) for v in row] for row in rows]
    if len(cells) == 1:
        return ""
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        out = [
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append(indent + "  ".join(out).rstrip())
    return "\n".join(lines)


def text_bar(value: int, maximum: int, width: int = 30) -> str:
    """`value` out of `maximum` as up to `width` block characters (eighths for the last one)."""
    if maximum <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / maximum * width * 8))
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def _plain(text: str, max_width: int) -> str:
    text = shown(text)
    return text if len(text) <= max_width else text[: max_width - 1] + "…"
