"""Server-side SVG charts: no JavaScript, no CDN, readable in a screenshot and in print.

Every chart has a title, labelled axes with units, and a legend when it has more than one
series. Functions return SafeString so templates can place the SVG inline.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from django.utils.safestring import SafeString, mark_safe

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C6D1F", "#000000")
FONT = "font-family='system-ui, -apple-system, Segoe UI, Roboto, sans-serif'"


@dataclass
class Series:
    name: str
    points: list[tuple[float, float]]
    color: str = ""
    dashed: bool = False
    markers: bool = True
    labels: list[str] = field(default_factory=list)  # text next to each point, e.g. counts


def pct(value: float) -> str:
    return f"{value * 100:.0f}%"


def num(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    end = math.ceil(hi / step - 1e-9) * step
    ticks = []
    value = start
    while value <= end + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _text(x, y, text, *, anchor="middle", size=12, weight="normal", fill="#222", rotate=None, cls="") -> str:
    transform = f" transform='rotate({rotate} {x:.1f} {y:.1f})'" if rotate else ""
    klass = f" class='{cls}'" if cls else ""
    return (
        f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}' font-size='{size}' font-weight='{weight}' "
        f"fill='{fill}'{transform}{klass}>{escape(str(text))}</text>"
    )


def _svg(width: int, height: int, title: str, body: list[str]) -> SafeString:
    head = (
        f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='{width}' height='{height}' "
        f"role='img' aria-label='{escape(title)}' class='chart' {FONT}><title>{escape(title)}</title>"
        f"<rect width='{width}' height='{height}' fill='#fff'/>"
    )
    return mark_safe(head + "".join(body) + "</svg>")  # noqa: S308 (every text node is escaped above)


def empty_chart(title: str, message: str = "No data for this selection.", width: int = 640) -> SafeString:
    return _svg(width, 120, title, [_text(width / 2, 28, title, size=15, weight="bold"), _text(width / 2, 75, message)])


def _legend(names_colors: Sequence[tuple[str, str, bool]], x: float, y: float, max_width: float) -> list[str]:
    parts, cx, cy = [], x, y
    for name, color, dashed in names_colors:
        item_width = 30 + 7 * len(name)
        if cx + item_width > x + max_width and cx > x:
            cx, cy = x, cy + 18
        dash = " stroke-dasharray='6 4'" if dashed else ""
        parts.append(
            f"<line x1='{cx:.1f}' y1='{cy - 4:.1f}' x2='{cx + 20:.1f}' y2='{cy - 4:.1f}' stroke='{color}' "
            f"stroke-width='3'{dash}/>"
        )
        parts.append(_text(cx + 25, cy, name, anchor="start", size=12))
        cx += item_width
    return parts


def line_chart(
    *,
    title: str,
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    x_format: Callable[[float], str] = num,
    y_format: Callable[[float], str] = num,
    x_tick_labels: Sequence[tuple[float, str]] | None = None,
    diagonal: str = "",
    width: int = 640,
    height: int = 400,
) -> SafeString:
    """Lines through points, with optional per-point labels and a dashed y = x reference
    line named `diagonal` (e.g. "Perfect calibration")."""
    points = [p for s in series for p in s.points]
    if not points:
        return empty_chart(title, width=width)
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x_lo, x_hi = x_range or (min(xs), max(xs))
    y_lo, y_hi = y_range or (min(0.0, min(ys)), max(ys) or 1.0)
    if x_hi <= x_lo:
        x_hi = x_lo + 1
    if y_hi <= y_lo:
        y_hi = y_lo + 1
    x_ticks_given = x_tick_labels is not None
    y_ticks = nice_ticks(y_lo, y_hi)
    if not y_range:
        y_hi = max(y_hi, y_ticks[-1])
    y_ticks = [t for t in y_ticks if y_lo - 1e-9 <= t <= y_hi + 1e-9]

    names = [(s.name, s.color or PALETTE[i % len(PALETTE)], s.dashed) for i, s in enumerate(series)]
    if diagonal:
        names.append((diagonal, "#888", True))
    legend_rows = 1 + sum(len(n) * 7 + 30 for n, _, _ in names) // (width - 100)
    left, right, top = 70, 20, 40 + 18 * legend_rows
    bottom = 60
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def sy(y: float) -> float:
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    body = [_text(width / 2, 22, title, size=15, weight="bold")]
    body += _legend(names, left, 44, plot_w)
    for t in y_ticks:
        body.append(f"<line x1='{left}' y1='{sy(t):.1f}' x2='{left + plot_w}' y2='{sy(t):.1f}' stroke='#e5e5e5'/>")
        body.append(_text(left - 8, sy(t) + 4, y_format(t), anchor="end", size=11, fill="#444"))
    if x_ticks_given:
        x_ticks = list(x_tick_labels or [])
    else:
        x_ticks = [(t, x_format(t)) for t in nice_ticks(x_lo, x_hi) if x_lo - 1e-9 <= t <= x_hi + 1e-9]
    for t, label in x_ticks:
        body.append(f"<line x1='{sx(t):.1f}' y1='{top + plot_h}' x2='{sx(t):.1f}' y2='{top + plot_h + 5}' "
                    f"stroke='#444'/>")  # fmt: skip
        body.append(_text(sx(t), top + plot_h + 18, label, size=11, fill="#444"))
    body.append(f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#999'/>")
    body.append(_text(left + plot_w / 2, height - 12, x_label, size=12))
    body.append(_text(18, top + plot_h / 2, y_label, size=12, rotate=-90))
    if diagonal:
        lo, hi = max(x_lo, y_lo), min(x_hi, y_hi)
        body.append(
            f"<line x1='{sx(lo):.1f}' y1='{sy(lo):.1f}' x2='{sx(hi):.1f}' y2='{sy(hi):.1f}' stroke='#888' "
            f"stroke-width='1.5' stroke-dasharray='6 4'/>"
        )
    for (name, color, dashed), s in zip(names, series, strict=False):
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in s.points)
        dash = " stroke-dasharray='6 4'" if dashed else ""
        body.append(
            f"<polyline points='{coords}' fill='none' stroke='{color}' stroke-width='2.5'{dash}>"
            f"<title>{escape(name)}</title></polyline>"
        )
        if s.markers:
            for i, (x, y) in enumerate(s.points):
                tip = f"{name}: {x_format(x)}, {y_format(y)}"
                if i < len(s.labels):
                    tip += f" ({s.labels[i]})"
                body.append(
                    f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3.5' fill='{color}'><title>{escape(tip)}</title>"
                    f"</circle>"
                )
        for i, label in enumerate(s.labels[: len(s.points)]):
            x, y = s.points[i]
            body.append(_text(sx(x) + 5, sy(y) - 7, label, anchor="start", size=10, fill="#555"))
    return _svg(width, height, title, body)


def bar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    value_label: str,
    category_label: str = "",
    value_format: Callable[[float], str] = num,
    value_max: float | None = None,
    reference: tuple[str, float] | None = None,
    width: int = 640,
) -> SafeString:
    """Horizontal (grouped) bars, one group per category, with the value printed at each bar's
    end. `reference` draws a labelled vertical line (e.g. a PSI threshold or an average).
    Negative values (a loss-making channel's ROI) extend left of a zero line."""
    if not categories or not series:
        return empty_chart(title, width=width)
    values = [v for _, vs in series for v in vs if v is not None]
    hi = value_max if value_max is not None else max([*values, reference[1] if reference else 0, 0]) or 1.0
    lo = min([*values, 0.0])
    ticks = [t for t in nice_ticks(lo, hi) if value_max is None or t <= hi * 1.0001]
    hi = max(hi, ticks[-1])
    lo = min(lo, ticks[0])
    label_w = min(220, 12 + 7 * max(len(c) for c in categories))
    n_series = len(series)
    bar_h = 16 if n_series == 1 else 12
    group_h = bar_h * n_series + 10
    legend_h = 22 if n_series > 1 or reference else 0
    left, right, top = label_w + 10, 60, 40 + legend_h
    plot_w = width - left - right
    plot_h = group_h * len(categories)
    height = top + plot_h + 50

    def sx(v: float) -> float:
        return left + ((v - lo) / (hi - lo)) * plot_w

    zero = sx(0.0)

    body = [_text(width / 2, 22, title, size=15, weight="bold")]
    names = [(name, PALETTE[i % len(PALETTE)], False) for i, (name, _) in enumerate(series)]
    if n_series > 1 or reference:
        legend = names if n_series > 1 else []
        if reference:
            legend = [*legend, (reference[0], "#c62828", True)]
        body += _legend(legend, left, 46, plot_w)
    for t in ticks:
        body.append(f"<line x1='{sx(t):.1f}' y1='{top}' x2='{sx(t):.1f}' y2='{top + plot_h}' stroke='#e5e5e5'/>")
        body.append(_text(sx(t), top + plot_h + 16, value_format(t), size=11, fill="#444"))
    for gi, category in enumerate(categories):
        gy = top + gi * group_h + 5
        label = category if len(category) <= 30 else category[:29] + "…"
        body.append(_text(left - 8, gy + (bar_h * n_series) / 2 + 4, label, anchor="end", size=11))
        for si, (name, vals) in enumerate(series):
            value = vals[gi] if gi < len(vals) else None
            if value is None:
                continue
            y = gy + si * bar_h
            color = PALETTE[si % len(PALETTE)]
            end = sx(value)
            body.append(
                f"<rect x='{min(zero, end):.1f}' y='{y:.1f}' width='{abs(end - zero):.1f}' height='{bar_h - 2}' "
                f"fill='{color}'><title>{escape(f'{category} · {name}: {value_format(value)}')}</title></rect>"
            )
            label_x, anchor = (end + 4, "start") if value >= 0 else (end - 4, "end")
            body.append(_text(label_x, y + bar_h - 5, value_format(value), anchor=anchor, size=10, fill="#333"))
    if reference:
        rx = sx(reference[1])
        body.append(
            f"<line x1='{rx:.1f}' y1='{top}' x2='{rx:.1f}' y2='{top + plot_h}' stroke='#c62828' stroke-width='2' "
            f"stroke-dasharray='6 4'/>"
        )
    body.append(f"<line x1='{zero:.1f}' y1='{top}' x2='{zero:.1f}' y2='{top + plot_h}' stroke='#999'/>")
    body.append(_text(left + plot_w / 2, height - 12, value_label, size=12))
    if category_label:
        body.append(_text(14, top + plot_h / 2, category_label, size=12, rotate=-90))
    return _svg(width, height, title, body)


def column_chart(
    *,
    title: str,
    categories: Sequence[str],
    values: Sequence[float],
    value_label: str,
    category_label: str,
    value_format: Callable[[float], str] = num,
    reference: tuple[str, float] | None = None,
    width: int = 640,
    height: int = 360,
) -> SafeString:
    """Vertical bars for an ordered category axis (deciles, weeks), with an optional labelled
    horizontal reference line (e.g. lift = 1)."""
    if not categories:
        return empty_chart(title, width=width)
    hi = max([*values, reference[1] if reference else 0, 0]) or 1.0
    ticks = nice_ticks(0, hi)
    hi = max(hi, ticks[-1])
    left, right, top, bottom = 70, 20, 40 + (22 if reference else 0), 60
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(categories)

    def sy(v: float) -> float:
        return top + plot_h - v / hi * plot_h

    body = [_text(width / 2, 22, title, size=15, weight="bold")]
    if reference:
        body += _legend([(reference[0], "#c62828", True)], left, 46, plot_w)
    for t in ticks:
        body.append(f"<line x1='{left}' y1='{sy(t):.1f}' x2='{left + plot_w}' y2='{sy(t):.1f}' stroke='#e5e5e5'/>")
        body.append(_text(left - 8, sy(t) + 4, value_format(t), anchor="end", size=11, fill="#444"))
    for i, (category, value) in enumerate(zip(categories, values, strict=True)):
        x = left + i * slot + slot * 0.15
        w = slot * 0.7
        body.append(
            f"<rect x='{x:.1f}' y='{sy(value):.1f}' width='{w:.1f}' height='{max(0.0, top + plot_h - sy(value)):.1f}' "
            f"fill='{PALETTE[0]}'><title>{escape(f'{category}: {value_format(value)}')}</title></rect>"
        )
        body.append(_text(x + w / 2, sy(value) - 4, value_format(value), size=10, fill="#333"))
        body.append(_text(x + w / 2, top + plot_h + 16, category, size=11, fill="#444"))
    if reference:
        ry = sy(reference[1])
        body.append(
            f"<line x1='{left}' y1='{ry:.1f}' x2='{left + plot_w}' y2='{ry:.1f}' stroke='#c62828' stroke-width='2' "
            f"stroke-dasharray='6 4'/>"
        )
    body.append(f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='#999'/>")
    body.append(_text(left + plot_w / 2, height - 12, category_label, size=12))
    body.append(_text(18, top + plot_h / 2, value_label, size=12, rotate=-90))
    return _svg(width, height, title, body)
