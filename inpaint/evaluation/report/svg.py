"""Hand-written SVG line plots for ``report.html``: no plotting library, no network, a few kB per plot."""
from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
DASHES = {"all": "", "N": "6 3", "B": "2 3"}


@dataclass(frozen=True)
class Series:
    """One line: ``values[i]`` at ``x`` position ``i`` (None or NaN where the cell has no image)."""

    name: str
    color: str
    dash: str
    values: tuple[float | None, ...]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]``."""
    if hi <= lo:  # one value: a unit range around it, from 0 for a value of 0 (no negative drift axis)
        lo, hi = (0.0, 1.0) if lo == 0 else (lo - 1.0, hi + 1.0)
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.floor(lo / step) * step
    return [first + k * step for k in range(int(math.ceil((hi - first) / step)) + 1)]


def label_width(text: str) -> float:
    """Estimated width in px of ``text`` at the plots' 11 px sans-serif (punctuation narrow, ``%`` wide)."""
    return sum(3.2 if c in "()[],.-: " else 9.5 if c in "%" else 6.2 for c in text)


def line_plot(title: str, xlabels: list[str], series: list[Series], *, width: int = 560, height: int = 300) -> str:
    """An inline ``<svg>`` of ``series`` against the categories ``xlabels``, with axes, ticks and a legend.

    Category labels too wide for their slot are drawn slanted (LaMa's 10 bins), and the picture grows
    downwards so that the legend (one row per series) is never cut off.
    """
    left, top = 56, 28
    right = max(150, 46 + round(max((label_width(s.name) for s in series), default=0.0)))  # long method names fit
    width += right - 150
    n = max(len(xlabels), 2)
    widest = max(map(label_width, xlabels), default=0.0)
    slanted = widest > (width - left - right) / n - 4
    bottom = 44 + (round(widest * 0.6) - 10 if slanted else 0)
    pw, ph = width - left - right, height - top - bottom
    height = max(height, top + 16 * len(series) + 8)
    finite = [v for s in series for v in s.values if v is not None and math.isfinite(v)]
    ticks = nice_ticks(min(finite), max(finite)) if finite else [0.0, 1.0]
    lo, hi = ticks[0], ticks[-1]

    def x(i: int) -> float:
        return left + pw * (i + 0.5) / n

    def y(v: float) -> float:
        return top + ph * (1 - (v - lo) / (hi - lo))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
             'font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#e5e5e5"/>'
                     f'<text x="{left - 4}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for i, label in enumerate(xlabels):
        anchor = (f'text-anchor="end" transform="rotate(-40 {x(i) + 4:.1f} {top + ph + 12})"' if slanted
                  else 'text-anchor="middle"')
        parts.append(f'<text x="{x(i) + 4 * slanted:.1f}" y="{top + ph + 12 + 4 * (not slanted)}" {anchor}>'
                     f'{escape(label)}</text>')
    parts.append(f'<text x="{left + pw / 2:.1f}" y="{top + ph + bottom - 6}" text-anchor="middle">hole-ratio bucket</text>')
    for k, s in enumerate(series):
        points = [(x(i), y(v)) for i, v in enumerate(s.values) if v is not None and math.isfinite(v)]
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2"{dash}/>')
        parts += [f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{s.color}"/>' for px, py in points]
        ly = top + 8 + 16 * k
        parts.append(f'<line x1="{left + pw + 10}" x2="{left + pw + 34}" y1="{ly}" y2="{ly}" stroke="{s.color}" '
                     f'stroke-width="2"{dash}/><text x="{left + pw + 38}" y="{ly + 4}">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
