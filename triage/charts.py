"""Small SVG charts for the HTML report: bars, a monthly line and a share bar, with every label left as ``<text>``.

The page's fonts draw the characters, so Chinese category and unit names need no font on the machine that writes
the report. (matplotlib lays text out with its own fonts: without a CJK font it warns for every character and
guesses the widths wrong, and it was the report's only use of a 30 MB dependency.) Text widths are estimated:
1 em for a wide (CJK) character, 0.6 em for any other.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from html import escape

FONT = 12  # px
BAR = 18  # px per bar row
COLORS = ("#3b6ea5", "#e0a030", "#4c9a6a", "#c04040")
#: Share bar: good (green), doubtful (amber), failed (red), anything else (blue).
SHARE_COLORS = ("#4c9a6a", "#e0a030", "#c04040", "#3b6ea5")


def text_width(text: str, size: float = FONT) -> float:
    """Estimated width in px of ``text`` at ``size`` px."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.6 for c in text) * size


def _t(x: float, y: float, text: str, *, anchor: str = "start", size: int = FONT, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
            f"{escape(text)}</text>")


def _svg(width: float, height: float, title: str, body: Sequence[str]) -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="inherit"><title>{escape(title)}</title>'
            + "".join(body) + "</svg>")


def bar_chart(items: Sequence[tuple[str, int]], title: str, *, width: int = 640) -> str:
    """Horizontal bars, largest first, each labelled with its name on the left and its count on the right."""
    label_w = max((text_width(label) for label, _ in items), default=0) + 8
    count_w = max((text_width(f"{v:,}") for _, v in items), default=0) + 8
    plot_w = max(width - label_w - count_w, 60)
    top = FONT * 2
    height = top + BAR * len(items) + 6
    vmax = max((v for _, v in items), default=0) or 1
    body = [_t(0, FONT, title, size=FONT + 1, extra=' font-weight="bold"')]
    for i, (label, v) in enumerate(items):
        y = top + i * BAR
        w = plot_w * v / vmax
        body += [_t(label_w - 8, y + BAR * 0.7, label, anchor="end"),
                 (f'<rect x="{label_w:.1f}" y="{y + 2:.1f}" width="{w:.1f}" height="{BAR - 4}" fill="{COLORS[0]}">'
                  f"<title>{escape(label)}: {v:,}</title></rect>"),
                 _t(label_w + w + 4, y + BAR * 0.7, f"{v:,}", size=FONT - 1)]
    return _svg(label_w + plot_w + count_w, height, title, body)


def line_chart(x: Sequence[str], series: Sequence[tuple[str, Sequence[int]]], title: str, *,
               width: int = 720, height: int = 260) -> str:
    """One line per series over the ``x`` labels (e.g. months), with a legend; every ``step``-th x label shown."""
    left, right, top, bottom = 48, 12, FONT * 3.5, FONT * 4
    plot_w, plot_h = width - left - right, height - top - bottom
    vmax = max((v for _, vals in series for v in vals), default=0) or 1
    xs = [left + (plot_w * i / max(len(x) - 1, 1)) for i in range(len(x))]
    y_of = lambda v: top + plot_h * (1 - v / vmax)
    body = [_t(0, FONT, title, size=FONT + 1, extra=' font-weight="bold"'),
            f'<line x1="{left}" y1="{top + plot_h:.1f}" x2="{left + plot_w}" y2="{top + plot_h:.1f}" stroke="#999"/>',
            _t(left - 6, top + 4, f"{vmax:,}", anchor="end", size=FONT - 1),
            _t(left - 6, top + plot_h + 4, "0", anchor="end", size=FONT - 1)]
    lx = left
    for k, (name, _) in enumerate(series):  # legend
        body += [f'<rect x="{lx}" y="{FONT * 1.6:.1f}" width="10" height="10" fill="{COLORS[k % len(COLORS)]}"/>',
                 _t(lx + 14, FONT * 1.6 + 9, name, size=FONT - 1)]
        lx += 14 + text_width(name, FONT - 1) + 16
    for k, (name, vals) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        points = " ".join(f"{px:.1f},{y_of(v):.1f}" for px, v in zip(xs, vals))
        body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        body += [f'<circle cx="{px:.1f}" cy="{y_of(v):.1f}" r="3" fill="{color}"><title>{escape(m)} {escape(name)}: '
                 f"{v:,}</title></circle>" for px, v, m in zip(xs, vals, x)]
    step = max(len(x) // 12, 1)
    for px, m in list(zip(xs, x))[::step]:
        body.append(_t(px, top + plot_h + FONT + 4, m, anchor="middle", size=FONT - 2))
    return _svg(width, height, title, body)


def share_bar(parts: Sequence[tuple[str, int]], title: str, *, width: int = 640,
              colors: Sequence[str] = SHARE_COLORS) -> str:
    """One bar split into ``parts`` by their share of the total, with a legend giving count and percent."""
    total = sum(v for _, v in parts) or 1
    top, h = FONT * 2, 28
    body = [_t(0, FONT, title, size=FONT + 1, extra=' font-weight="bold"')]
    x = 0.0
    for k, (name, v) in enumerate(parts):
        w = width * v / total
        if w:
            body.append(f'<rect x="{x:.1f}" y="{top}" width="{w:.1f}" height="{h}" fill="{colors[k % len(colors)]}">'
                        f"<title>{escape(name)}: {v:,}</title></rect>")
        x += w
    lx, ly = 0.0, top + h + FONT + 8
    for k, (name, v) in enumerate(parts):
        label = f"{name} {v:,}（{v / total:.0%}）"
        body += [f'<rect x="{lx:.1f}" y="{ly - 10}" width="10" height="10" fill="{colors[k % len(colors)]}"/>',
                 _t(lx + 14, ly, label, size=FONT - 1)]
        lx += 14 + text_width(label, FONT - 1) + 16
    return _svg(max(width, lx), ly + 8, title, body)
