"""Rendering shared by aiwall's reports (`aiwall report`, `aiwall discover`).

Two targets: aligned plain-text tables for a terminal, and one self-contained HTML file that a
person opens in a browser. The HTML has no script and loads nothing: one `<style>` element
allowed by its hash in a Content-Security-Policy meta tag (`default-src 'none'`), charts drawn
as inline SVG (colours through CSS classes, never `style` attributes, which that policy
forbids), and every piece of text escaped. Hovering a bar shows its exact value (an SVG
`<title>`), so the page needs no script to be exact.

The API, kept small and stable (everything whose name starts with `_` is private):

- `Safe`: a `str` that is HTML already (escaped, or built here). Functions below return it and
  pass it through untouched; any other value is escaped.
- `escape(value)`: a value as HTML text: `None` → an em dash, ints with thousands separators.
- `number(value)`: the same formatting as plain text (`1,234`, `—`).
- `Series(key, label, tone)`: one series of a chart. `tone` is one of `TONES`: `bad` (red),
  `warn` (amber), `info` (blue), `good` (green), `neutral` (grey), or the categorical `c0` …
  `c7`. aiwall's actions use `ACTION_SERIES` (block, warn, log, allow, strictest first).
- `page(title, body, *, eyebrow="aiwall", subtitle="", meta=(), footer="")`: the whole
  document around `body` (an iterable of parts); `CSP` is its policy.
- `section(title, *parts, note="", anchor="")`: a titled panel.
- `grid(*parts)`: panels side by side on a wide screen, stacked on a narrow one.
- `tiles(items)`: a row of big numbers, each `(label, value, tone, detail)`.
- `pill(text, tone)`: a small coloured label, e.g. in a table cell.
- `table(headers, rows, *, numeric=(), wrap=(), empty="Nothing to show.", caption="")`:
  cells stay on one line, except in the `wrap` columns (descriptions, free text).
- `time_bars(buckets, series, *, name, label, width=1100, height=240)`: stacked columns, one
  per `(bucket label, {series key: value})`, first series at the bottom.
- `hbars(rows, series, *, name, label, width=560, label_width=170)`: stacked horizontal bars,
  one per `(row label, {series key: value})`, in the order given (top lists).
- `donut(parts, *, name, label)`: shares of a whole, `parts` as `(Series, value)`.
- `legend(series)`: the colour key under a chart (the chart functions add it themselves).
- `text_table(headers, rows, *, numeric=(), max_width=48, indent="  ")`: an aligned
  plain-text table; control characters in cells are shown escaped.
- `text_bar(value, maximum, width=30)`: a bar of block characters for a terminal.

A cell (`Cell`) is a str, int, float, None or `Safe`. Anything added to a page must keep to the
policy: no `<script>`, no `style="..."` attribute, no external URL; colour comes from a tone.

Every chart is `<svg class="chart" data-chart="{name}" role="img" aria-label="{label}">` and
every drawn bar or slice is an element with `class="mark tone-…"` and `data-series="{key}"`,
so tests can count what a chart shows.
"""

import base64
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape as _html_escape

from aiwall.core.text import shown

TONES = (
    "bad",
    "warn",
    "info",
    "good",
    "neutral",
    "c0",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "c7",
)


class Safe(str):
    """Text that is HTML already: escaped, or markup built by this module."""

    __slots__ = ()


@dataclass(frozen=True)
class Series:
    """One series of a chart: the key in the data, its label in the legend, its colour."""

    key: str
    label: str
    tone: str = "neutral"

    def __post_init__(self) -> None:
        if self.tone not in TONES:
            raise ValueError(f"tone {self.tone!r} is not one of {', '.join(TONES)}")


ACTION_SERIES = (
    Series("block", "block", "bad"),
    Series("warn", "warn", "warn"),
    Series("log", "log", "info"),
    Series("allow", "allow", "good"),
)

Cell = object  # str, int, float, None, or Safe


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


def escape(value: object) -> Safe:
    """Any value as HTML text; a `Safe` value as it is."""
    if isinstance(value, Safe):
        return value
    return Safe(_html_escape(number(value), quote=True))


# ---------------------------------------------------------------------------------------------
# Page, sections, tiles, tables


_STYLE = """
:root{color-scheme:light dark;--bg:#f4f5f7;--fg:#1b1f24;--muted:#5b6470;--panel:#fff;
--line:#e1e4e8;--grid:#eceef1;--accent:#1a56b8;
--bad:#d1432f;--warn:#e6a015;--info:#3a78d4;--good:#2e9958;--neutral:#8d96a1;
--c0:#3a78d4;--c1:#e6a015;--c2:#2e9958;--c3:#d1432f;--c4:#8a5cc7;--c5:#1f9eab;--c6:#d9649b;
--c7:#7d8a2f;--pill-bad:#fcebea;--on-pill-bad:#8c1d13;--pill-good:#e3f3e8;
--on-pill-good:#14532d;--pill-warn:#fff4d6;--on-pill-warn:#574000}
@media (prefers-color-scheme:dark){:root{--bg:#121417;--fg:#e6e8eb;--muted:#a7afb9;
--panel:#1b1e23;--line:#30353c;--grid:#262a30;--accent:#8ab4ff;--bad:#ef6a56;--warn:#f0b840;
--info:#6a9ff0;--good:#4fbf7c;--neutral:#7d8691;--pill-bad:#3b1a17;--on-pill-bad:#ffb3aa;
--pill-good:#143321;--on-pill-good:#a6e3b8;--pill-warn:#33290c;--on-pill-warn:#f2d48a}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);overflow-wrap:break-word;
-webkit-text-size-adjust:100%;text-size-adjust:100%;
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:74rem;margin:0 auto;padding:2rem 1.25rem 3rem}
header h1{font-size:1.7rem;line-height:1.25;margin:.2rem 0 .4rem}
.eyebrow{margin:0;color:var(--muted);font-size:.78rem;font-weight:600;letter-spacing:.08em;
text-transform:uppercase}
.subtitle{margin:0 0 .3rem;font-size:1.05rem}
.meta{margin:0;color:var(--muted);font-size:.85rem}
section{margin:1.25rem 0;padding:1.1rem 1.3rem;background:var(--panel);
border:1px solid var(--line);border-radius:12px;min-width:0}
section h2{font-size:1.1rem;margin:0 0 .2rem}
section h3{font-size:1rem;margin:1.2rem 0 .1rem}
.note{margin:0 0 .8rem;color:var(--muted);font-size:.88rem}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:0 1.25rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.75rem;
margin:1.25rem 0}
.tile{padding:.8rem .75rem;background:var(--panel);border:1px solid var(--line);
border-radius:12px;border-top:4px solid var(--neutral)}
.tile .value{display:block;font-size:1.65rem;font-weight:700;line-height:1.2;
font-variant-numeric:tabular-nums}
.tile .label{display:block;color:var(--muted);font-size:.78rem;font-weight:600;
overflow-wrap:normal}
.tile .detail{display:block;color:var(--muted);font-size:.8rem}
.tile.tone-bad{border-top-color:var(--bad)}.tile.tone-warn{border-top-color:var(--warn)}
.tile.tone-info{border-top-color:var(--info)}.tile.tone-good{border-top-color:var(--good)}
.table-wrap{overflow-x:auto}
table{width:100%;border-collapse:collapse;font-size:.88rem}
caption{text-align:left;color:var(--muted);font-size:.85rem;padding-bottom:.3rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top;white-space:nowrap}
td.wrap{white-space:normal;min-width:14rem}
th{font-size:.78rem;color:var(--muted);text-transform:uppercase;letter-spacing:.04em;
white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tbody tr:hover{background:var(--bg)}
.empty{color:var(--muted);font-style:italic;margin:.3rem 0}
.pill{display:inline-block;padding:0 .55rem;border-radius:999px;font-size:.78rem;
font-weight:600;background:var(--grid);color:var(--fg);white-space:nowrap}
.pill.tone-bad{background:var(--pill-bad);color:var(--on-pill-bad)}
.pill.tone-good{background:var(--pill-good);color:var(--on-pill-good)}
.pill.tone-warn{background:var(--pill-warn);color:var(--on-pill-warn)}
.quote{white-space:pre-wrap}
svg.chart{display:block;max-width:100%;height:auto;overflow:visible}
.scroll{overflow-x:auto}.scroll svg.chart{min-width:40rem}
svg.chart text{fill:var(--muted);font-size:11px;font-family:inherit}
svg.chart text.strong{fill:var(--fg);font-weight:600}
svg.chart text.big{fill:var(--fg);font-size:22px;font-weight:700}
svg.chart text.big.long{font-size:15px}
svg.chart .gridline{stroke:var(--grid);stroke-width:1}
svg.chart .axis{stroke:var(--line);stroke-width:1}
svg.chart .track{fill:none;stroke:var(--grid)}
.mark:hover{opacity:.8}
.tone-bad{fill:var(--bad);stroke:var(--bad)}.tone-warn{fill:var(--warn);stroke:var(--warn)}
.tone-info{fill:var(--info);stroke:var(--info)}.tone-good{fill:var(--good);stroke:var(--good)}
.tone-neutral{fill:var(--neutral);stroke:var(--neutral)}
.tone-c0{fill:var(--c0);stroke:var(--c0)}.tone-c1{fill:var(--c1);stroke:var(--c1)}
.tone-c2{fill:var(--c2);stroke:var(--c2)}.tone-c3{fill:var(--c3);stroke:var(--c3)}
.tone-c4{fill:var(--c4);stroke:var(--c4)}.tone-c5{fill:var(--c5);stroke:var(--c5)}
.tone-c6{fill:var(--c6);stroke:var(--c6)}.tone-c7{fill:var(--c7);stroke:var(--c7)}
rect.mark{stroke:none}circle.mark{fill:none}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;margin:.5rem 0 0;padding:0;
list-style:none;font-size:.85rem;color:var(--muted)}
.legend li{display:flex;align-items:center;gap:.35rem}
.legend svg{width:.8rem;height:.8rem;flex:none}
.donut{display:flex;flex-wrap:wrap;align-items:center;gap:1rem}
.donut svg.chart{flex:none}
.donut .legend{flex-direction:column;margin:0}
footer{margin-top:2rem;color:var(--muted);font-size:.8rem;text-align:center}
@media (max-width:40rem){main{padding:1.25rem .75rem 2rem}section{padding:.9rem}
header h1{font-size:1.35rem}}
@media print{body{background:#fff}section,.tile{break-inside:avoid}}
"""

_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode("utf-8")).digest()).decode("ascii")
CSP = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; img-src data:; "
    "base-uri 'none'; form-action 'none'"
)


def page(
    title: str,
    body: Iterable[str],
    *,
    eyebrow: str = "aiwall",
    subtitle: str = "",
    meta: Sequence[str] = (),
    footer: str = "",
) -> str:
    """A complete HTML document: `title` as the heading, then `body` (Safe parts, or text)."""
    lines = "".join(f'<p class="meta">{escape(line)}</p>\n' for line in meta)
    sub = f'<p class="subtitle">{escape(subtitle)}</p>\n' if subtitle else ""
    content = "\n".join(escape(part) for part in body)
    foot = f"<footer>{escape(footer)}</footer>\n" if footer else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'  # a constant
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n<main>\n"
        f'<header>\n<p class="eyebrow">{escape(eyebrow)}</p>\n<h1>{escape(title)}</h1>\n'
        f"{sub}{lines}</header>\n{content}\n{foot}</main>\n</body>\n</html>\n"
    )


def section(title: str, *parts: str, note: str = "", anchor: str = "") -> Safe:
    """A titled panel holding `parts` (Safe parts, or text); `note` is a muted line under it."""
    ident = f' id="{escape(anchor)}"' if anchor else ""
    text = f'<p class="note">{escape(note)}</p>\n' if note else ""
    inner = "\n".join(escape(part) for part in parts)
    return Safe(f"<section{ident}>\n<h2>{escape(title)}</h2>\n{text}{inner}\n</section>")


def grid(*parts: str) -> Safe:
    """Panels side by side when the screen is wide enough, stacked otherwise."""
    return Safe('<div class="grid">\n' + "\n".join(escape(p) for p in parts) + "\n</div>")


def tiles(items: Iterable[tuple[str, object, str, str]]) -> Safe:
    """Big numbers: each `(label, value, tone, detail)`; detail may be empty."""
    cells = []
    for label, value, tone, detail in items:
        more = f'<span class="detail">{escape(detail)}</span>' if detail else ""
        cells.append(
            f'<div class="tile tone-{_tone(tone)}"><span class="value">{escape(value)}</span>'
            f'<span class="label">{escape(label)}</span>{more}</div>'
        )
    return Safe('<div class="tiles">\n' + "\n".join(cells) + "\n</div>")


def pill(text: str, tone: str = "neutral") -> Safe:
    return Safe(f'<span class="pill tone-{_tone(tone)}">{escape(text)}</span>')


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    numeric: Iterable[int] = (),
    wrap: Iterable[int] = (),
    empty: str = "Nothing to show.",
    caption: str = "",
) -> Safe:
    """An HTML table. Columns whose index is in `numeric` are right-aligned; cells stay on one
    line (the table scrolls sideways on a narrow screen) except in the `wrap` columns."""
    classes = {i: "num" for i in numeric} | {i: "wrap" for i in wrap}

    def cls(i: int) -> str:
        return f' class="{classes[i]}"' if i in classes else ""

    body = [
        "<tr>" + "".join(f"<td{cls(i)}>{escape(v)}</td>" for i, v in enumerate(row)) + "</tr>"
        for row in rows
    ]
    if not body:
        return Safe(f'<p class="empty">{escape(empty)}</p>')
    head = "".join(f'<th scope="col"{cls(i)}>{escape(h)}</th>' for i, h in enumerate(headers))
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return Safe(
        f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table></div>"
    )


# ---------------------------------------------------------------------------------------------
# Charts


def legend(series: Iterable[Series]) -> Safe:
    items = "".join(
        f'<li><svg viewBox="0 0 10 10" aria-hidden="true"><rect class="tone-{s.tone}"'
        f' width="10" height="10" rx="2"/></svg>{escape(s.label)}</li>'
        for s in series
    )
    return Safe(f'<ul class="legend">{items}</ul>')


def time_bars(
    buckets: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[Series],
    *,
    name: str,
    label: str,
    width: int = 1100,
    height: int = 240,
) -> Safe:
    """Stacked columns, one per bucket (`(label, {series key: value})`), first series at the
    bottom. Bucket labels are shown under the axis, thinned out to at most about a dozen."""
    left, right, top, bottom = 46, 6, 8, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling, ticks = _scale(max((_total(v, series) for _, v in buckets), default=0))
    parts = _svg_open(name, label, width, height)
    parts += _y_axis(ticks, ceiling, left, top, plot_w, plot_h)
    count = max(len(buckets), 1)
    band = plot_w / count
    bar = max(band * 0.78, 1.0)
    every = max(1, math.ceil(count / 12))
    for i, (bucket, values) in enumerate(buckets):
        x = left + i * band + (band - bar) / 2
        y = float(top + plot_h)
        for s in series:
            value = values.get(s.key, 0)
            if value <= 0:
                continue
            h = value / ceiling * plot_h
            y -= h
            parts.append(
                f'<rect class="mark tone-{s.tone}" data-series="{escape(s.key)}"'
                f' x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}">'
                f"<title>{escape(bucket)} · {escape(s.label)}: {escape(value)}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{left + (i + 0.5) * band:.1f}" y="{height - 6}"'
                f' text-anchor="middle">{escape(bucket)}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}"'
        f' y2="{top + plot_h}"/>'
    )
    parts.append("</svg>")
    return Safe('<div class="scroll">' + "".join(parts) + "</div>" + legend(series))


def hbars(
    rows: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[Series],
    *,
    name: str,
    label: str,
    width: int = 560,
    label_width: int = 170,
) -> Safe:
    """Stacked horizontal bars, one per row (`(label, {series key: value})`), in the given
    order, the row's total at the end of its bar. Long row labels are cut, in full on hover."""
    row_h, gap, top = 22, 8, 4
    total_w = 64
    height = top + len(rows) * (row_h + gap)
    plot_w = width - label_width - total_w
    fits = max(int((label_width - 8) / 6.4), 4)  # characters of a row label at 11px
    biggest = max((_total(v, series) for _, v in rows), default=0) or 1
    parts = _svg_open(name, label, width, max(height, row_h))
    for i, (row, values) in enumerate(rows):
        y = top + i * (row_h + gap)
        shown = row if len(row) <= fits else row[: fits - 1] + "…"
        parts.append(
            f"<g><title>{escape(row)}</title>"
            f'<text class="strong" x="{label_width - 8}" y="{y + row_h / 2 + 4:.1f}"'
            f' text-anchor="end">{escape(shown)}</text></g>'
        )
        x = float(label_width)
        for s in series:
            value = values.get(s.key, 0)
            if value <= 0:
                continue
            w = max(value / biggest * plot_w, 1.0)
            parts.append(
                f'<rect class="mark tone-{s.tone}" data-series="{escape(s.key)}"'
                f' x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row_h}">'
                f"<title>{escape(row)} · {escape(s.label)}: {escape(value)}</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y + row_h / 2 + 4:.1f}">'
            f"{escape(_total(values, series))}</text>"
        )
    parts.append("</svg>")
    return Safe("".join(parts) + legend(series))


def donut(parts: Sequence[tuple[Series, int]], *, name: str, label: str) -> Safe:
    """Shares of a whole as a ring, the total in the middle; the legend gives each share."""
    total = sum(max(v, 0) for _, v in parts)
    radius, stroke, size = 60.0, 26.0, 160
    circumference = 2 * math.pi * radius
    centre = size / 2
    svg = _svg_open(name, label, size, size)
    svg.append(
        f'<circle class="track" cx="{centre}" cy="{centre}" r="{radius}" stroke-width="{stroke}"/>'
    )
    offset = 0.0
    for s, value in parts:
        if value <= 0 or total == 0:
            continue
        length = value / total * circumference
        svg.append(
            f'<circle class="mark tone-{s.tone}" data-series="{escape(s.key)}" cx="{centre}"'
            f' cy="{centre}" r="{radius}" stroke-width="{stroke}"'
            f' stroke-dasharray="{length:.2f} {circumference - length:.2f}"'
            f' stroke-dashoffset="{-offset:.2f}" transform="rotate(-90 {centre} {centre})">'
            f"<title>{escape(s.label)}: {escape(value)} ({_percent(value, total)})</title>"
            "</circle>"
        )
        offset += length
    svg.append(
        f'<text class="big{" long" if len(number(total)) > 5 else ""}" x="{centre}"'
        f' y="{centre + 4}" text-anchor="middle">'
        f"{escape(total)}</text>"
        f'<text x="{centre}" y="{centre + 22}" text-anchor="middle">total</text></svg>'
    )
    keyed = legend(
        Series(s.key, f"{s.label}: {number(v)} ({_percent(v, total)})", s.tone) for s, v in parts
    )
    return Safe(f'<div class="donut">{"".join(svg)}{keyed}</div>')


def _svg_open(name: str, label: str, width: float, height: float) -> list[str]:
    return [
        f'<svg class="chart" data-chart="{escape(name)}" role="img" aria-label="{escape(label)}"'
        f' width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        ' xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
    ]


def _y_axis(
    ticks: Sequence[int], ceiling: int, left: int, top: int, plot_w: int, plot_h: int
) -> list[str]:
    parts = []
    for tick in ticks:
        y = top + plot_h - tick / ceiling * plot_h
        parts.append(
            f'<line class="gridline" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(tick)}</text>'
        )
    return parts


def _scale(maximum: int) -> tuple[int, list[int]]:
    """A round ceiling at or above `maximum` and four or five evenly spaced ticks up to it."""
    if maximum <= 0:
        return 1, [0, 1]
    raw = maximum / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    whole = max(math.ceil(step), 1)
    ceiling = whole * math.ceil(maximum / whole)
    return ceiling, list(range(0, ceiling + 1, whole))


def _total(values: Mapping[str, int], series: Sequence[Series]) -> int:
    return sum(max(values.get(s.key, 0), 0) for s in series)


def _percent(value: int, total: int) -> str:
    if not total:
        return "0%"
    share = value / total * 100
    return f"{share:.0f}%" if share >= 1 or share == 0 else "<1%"


def _tone(tone: str) -> str:
    return tone if tone in TONES else "neutral"


# ---------------------------------------------------------------------------------------------
# Text


def text_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Cell]],
    *,
    numeric: Iterable[int] = (),
    max_width: int = 48,
    indent: str = "  ",
) -> str:
    """Columns aligned with spaces, numbers right-aligned; cells longer than `max_width` are
    cut with an ellipsis. Control characters are shown escaped, so a log cannot drive the
    terminal. Ends without a newline; an empty string when there are no rows."""
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
