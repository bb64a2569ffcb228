"""Chart geometry for the HTML reports: the numbers; `templates/charts.html` draws the SVG.

- `time_bars(buckets, series, *, name, label, width=1100, height=240)`: stacked columns, one
  per `(bucket label, {series key: value})`, first series at the bottom; bucket labels under
  the axis, thinned out to at most about a dozen.
- `hbars(rows, series, *, name, label, width=560, label_width=170)`: stacked horizontal bars,
  one per `(row label, {series key: value})`, in the order given; a long row label is cut
  (in full on hover).
- `donut(parts, *, name, label)`: shares of a whole, `parts` as `(Series, value)`.

Every chart is an `<svg class="chart" data-chart="{name}" role="img" aria-label="{label}">` and
every drawn bar or slice has `class="mark tone-…"` and `data-series="{key}"`, so tests can count
what a chart shows; hovering one shows its exact value (an SVG `<title>`). Coordinates are
written with fixed decimals, so a chart always renders to the same text.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiwall.analysis.text import number

TONES = ("bad", "warn", "info", "good", "neutral")


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


@dataclass(frozen=True)
class Shape:
    """One element of a chart: `rect`, `circle`, `line` or `text`; `attrs` as written."""

    kind: str
    attrs: tuple[tuple[str, str], ...]
    text: str = ""  # a text's content
    title: str = ""  # shown on hover
    series: str = ""  # a mark's series key (marks only)
    tone: str = ""  # a mark's tone (marks only)
    css: str = ""  # classes of a text or line


@dataclass(frozen=True)
class Chart:
    name: str
    label: str
    width: float
    height: float
    shapes: list[Shape]
    legend: list[Series] = field(default_factory=list)
    scroll: bool = False  # wide charts scroll sideways on a narrow screen
    donut: bool = False


def time_bars(
    buckets: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[Series],
    *,
    name: str,
    label: str,
    width: int = 1100,
    height: int = 240,
) -> Chart:
    left, right, top, bottom = 46, 6, 8, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    ceiling, ticks = _scale(max((_total(v, series) for _, v in buckets), default=0))
    shapes = _y_axis(ticks, ceiling, left, top, plot_w, plot_h)
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
            shapes.append(
                _mark("rect", s, f"{bucket} · {s.label}: {number(value)}",
                      x=_f(x), y=_f(y), width=_f(bar), height=_f(h))
            )  # fmt: skip
        if i % every == 0:
            shapes.append(
                _text(bucket, x=_f(left + (i + 0.5) * band), y=str(height - 6), anchor="middle")
            )
    shapes.append(
        Shape(
            "line", _attrs(x1=left, y1=top + plot_h, x2=width - right, y2=top + plot_h), css="axis"
        )
    )
    return Chart(name, label, width, height, shapes, list(series), scroll=True)


def hbars(
    rows: Sequence[tuple[str, Mapping[str, int]]],
    series: Sequence[Series],
    *,
    name: str,
    label: str,
    width: int = 560,
    label_width: int = 170,
) -> Chart:
    row_h, gap, top, total_w = 22, 8, 4, 64
    height = top + len(rows) * (row_h + gap)
    plot_w = width - label_width - total_w
    fits = max(int((label_width - 8) / 6.4), 4)  # characters of a row label at 11px
    biggest = max((_total(v, series) for _, v in rows), default=0) or 1
    shapes: list[Shape] = []
    for i, (row, values) in enumerate(rows):
        y = top + i * (row_h + gap)
        shown = row if len(row) <= fits else row[: fits - 1] + "…"
        shapes.append(
            _text(shown, x=str(label_width - 8), y=_f(y + row_h / 2 + 4), anchor="end",
                  css="strong", title=row)
        )  # fmt: skip
        x = float(label_width)
        for s in series:
            value = values.get(s.key, 0)
            if value <= 0:
                continue
            w = max(value / biggest * plot_w, 1.0)
            shapes.append(
                _mark("rect", s, f"{row} · {s.label}: {number(value)}",
                      x=_f(x), y=str(y), width=_f(w), height=str(row_h))
            )  # fmt: skip
            x += w
        shapes.append(_text(number(_total(values, series)), x=_f(x + 6), y=_f(y + row_h / 2 + 4)))
    return Chart(name, label, width, max(height, row_h), shapes, list(series))


def donut(parts: Sequence[tuple[Series, int]], *, name: str, label: str) -> Chart:
    total = sum(max(v, 0) for _, v in parts)
    radius, stroke, size = 60.0, 26.0, 160
    circumference = 2 * math.pi * radius
    centre = size / 2
    shapes = [
        Shape(
            "circle",
            _attrs(cx=centre, cy=centre, r=radius, **{"stroke-width": stroke}),
            css="track",
        )
    ]
    offset = 0.0
    for s, value in parts:
        if value <= 0 or total == 0:
            continue
        length = value / total * circumference
        shapes.append(
            _mark(
                "circle",
                s,
                f"{s.label}: {number(value)} ({_percent(value, total)})",
                cx=str(centre),
                cy=str(centre),
                r=str(radius),
                **{
                    "stroke-width": str(stroke),
                    "stroke-dasharray": f"{length:.2f} {circumference - length:.2f}",
                    "stroke-dashoffset": f"{-offset:.2f}",
                    "transform": f"rotate(-90 {centre} {centre})",
                },
            )
        )
        offset += length
    big = "big long" if len(number(total)) > 5 else "big"
    shapes.append(_text(number(total), x=str(centre), y=str(centre + 4), anchor="middle", css=big))
    shapes.append(_text("total", x=str(centre), y=str(centre + 22), anchor="middle"))
    legend = [
        Series(s.key, f"{s.label}: {number(v)} ({_percent(v, total)})", s.tone) for s, v in parts
    ]
    return Chart(name, label, size, size, shapes, legend, donut=True)


def _mark(kind: str, s: Series, title: str, **attrs: str) -> Shape:
    return Shape(kind, tuple(attrs.items()), title=title, series=s.key, tone=s.tone)


def _text(text: str, *, x: str, y: str, anchor: str = "", css: str = "", title: str = "") -> Shape:
    attrs = {"x": x, "y": y} | ({"text-anchor": anchor} if anchor else {})
    return Shape("text", tuple(attrs.items()), text=text, css=css, title=title)


def _attrs(**values: float) -> tuple[tuple[str, str], ...]:
    return tuple((key, str(value)) for key, value in values.items())


def _y_axis(
    ticks: Sequence[int], ceiling: int, left: int, top: int, plot_w: int, plot_h: int
) -> list[Shape]:
    shapes = []
    for tick in ticks:
        y = top + plot_h - tick / ceiling * plot_h
        shapes.append(
            Shape(
                "line",
                (("x1", str(left)), ("y1", _f(y)), ("x2", str(left + plot_w)), ("y2", _f(y))),
                css="gridline",
            )
        )
        shapes.append(_text(number(tick), x=str(left - 6), y=_f(y + 4), anchor="end"))
    return shapes


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


def _f(value: float) -> str:
    return f"{value:.1f}"
