"""Bar charts as inline SVG: drawn by the server, no script, no library, no CDN.

A page must work offline on a phone in Bamako as on a laptop in Paris: a chart is a few
hundred bytes of ``<rect>`` in a ``viewBox`` that scales to the screen. A hidden cell (fewer
than 5 people) is drawn with no height; its tooltip says "<5", as the table does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date
from html import escape

from markupsafe import Markup

from bot.dashboard.figures import Chart, Value

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 34
SERIES_CLASSES = 8  # .s0 ... .s7 in dashboard.css


def nice_ceiling(top: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``top``."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    for step in (1, 2, 5, 10):
        if step * power >= top:
            return float(step * power)
    return float(10 * power)


def x_label(x: date | str, translate: Callable[[str], str]) -> str:
    return x.strftime("%d/%m") if isinstance(x, date) else translate(x)


def render(chart: Chart, translate: Callable[[str], str], shown: Callable[[Value], str]) -> Markup:
    """The chart's ``<svg class="chart">``; ``shown`` writes a value as the tables do."""
    title = escape(translate(chart.title))
    n = len(chart.weeks)
    series = chart.series
    heights = [[v.plotted() for v in values] for _, values in series]
    if chart.stacked:
        top = max((sum(col) for col in zip(*heights, strict=True)), default=0.0)
    else:
        top = max((h for row in heights for h in row), default=0.0)
    parts = [f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'preserveAspectRatio="xMidYMid meet" aria-label="{title}"><title>{title}</title>']
    if n == 0 or top <= 0:
        parts.append(f'<text class="empty" x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" '
                     f'text-anchor="middle">{escape(translate("dashboard.no_data"))}</text></svg>')
        return Markup("".join(parts))
    axis = nice_ceiling(top)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    for i in range(5):  # grid lines and their values
        value = axis * i / 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}"/><text class="tick" x="{LEFT - 4}" y="{y + 3:.1f}" '
                     f'text-anchor="end">{value:g}</text>')
    slot = plot_w / n
    bar = slot * 0.8 / (1 if chart.stacked else max(1, len(series)))
    every = max(1, math.ceil(n / 8))
    for i, x in enumerate(chart.weeks):
        left = LEFT + i * slot + slot * 0.1
        base = float(TOP + plot_h)
        for s, (name, values) in enumerate(series):
            height = plot_h * heights[s][i] / axis
            bar_x = left if chart.stacked else left + s * bar
            y = base - height
            tip = escape(f"{translate(name)}, {x_label(x, translate)}: {shown(values[i])}")
            parts.append(f'<rect class="s{s % SERIES_CLASSES}" x="{bar_x:.1f}" y="{y:.1f}" '
                         f'width="{max(bar - 1, 1):.1f}" height="{height:.1f}">'
                         f'<title>{tip}</title></rect>')
            if chart.stacked:
                base = y
        if i % every == 0:
            parts.append(f'<text class="tick" x="{left + slot * 0.4:.1f}" '
                         f'y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">'
                         f'{escape(x_label(x, translate))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
