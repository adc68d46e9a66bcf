"""Server-rendered SVG bar charts: no JavaScript, classes for colours (no inline styles)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 200
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 44, 28, 10


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (short)
    title: str  # on hover and for screen readers
    parts: tuple[tuple[str, float], ...]  # (css class, value), stacked bottom-up


def bar_chart(bars: list[Bar], *, title: str, unit: str = "") -> Markup:
    """A stacked bar chart as inline SVG with a ``<title>`` per bar."""
    top = max((sum(v for _, v in bar.parts) for bar in bars), default=0) or 1
    plot_w = WIDTH - PAD_LEFT - 4
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = plot_w / max(len(bars), 1)
    width = max(step * 0.7, 1)
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" '
        f'x2="{WIDTH - 4}" y2="{PAD_TOP + plot_h}"/>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">'
        f"{escape(_number(top))}{escape(unit)}</text>",
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    every = max(1, len(bars) // 12)  # at most about 12 labels under the axis
    for index, bar in enumerate(bars):
        x = PAD_LEFT + index * step + (step - width) / 2
        y = PAD_TOP + plot_h
        out.append(f'<g class="bar"><title>{escape(bar.title)}</title>')
        for css, value in bar.parts:
            if value <= 0:
                continue
            h = value / top * plot_h
            y -= h
            out.append(
                f'<rect class="{escape(css)}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{width:.1f}" height="{h:.1f}"/>'
            )
        out.append("</g>")
        if index % every == 0:
            out.append(
                f'<text class="tick" x="{x + width / 2:.1f}" y="{HEIGHT - 10}" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def _number(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
