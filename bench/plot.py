"""Draws each benchmark's results (bench/results/<name>.json) as a small self-contained SVG line chart,
bench/results/<name>.svg: one panel per unit (y_label) with its axes and ticks, one line per series,
a legend. No fonts, scripts or styles from outside; every point carries its value as a tooltip.

    .venv/bin/python bench/plot.py                          # every bench/results/*.json
    .venv/bin/python bench/plot.py bench/results/load.json  # just these

A results file: {"benchmark", "title"?, "series": [{"label", "x_label", "y_label", "points": [[x, y], ...],
"scale"?: "log", "dashed"?: true}], "ratios": [...], ...}. x is a number, or a name (a run, a machine)
spread evenly in order. A panel is drawn on a log scale when one of its series says so.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

RESULTS = Path(__file__).resolve().parent / "results"
WIDTH = 720
PANEL_HEIGHT = 200
LEFT, RIGHT = 64, 230  # room for the y ticks, and for the legend
TOP, GAP, BOTTOM = 36, 56, 44
# Okabe–Ito: told apart with the common colour-vision deficiencies.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("circle", "square", "diamond", "triangle")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) covering low..high."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten covering low..high (both > 0)."""
    start, stop = math.floor(math.log10(low)), math.ceil(math.log10(high))
    if stop == start:
        stop += 1
    return [10.0**e for e in range(start, stop + 1)]


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1 and float(value).is_integer():
        return f"{value:.0f}"
    return f"{value:.3g}"


def _marker(shape: str, x: float, y: float, colour: str, tip: str) -> str:
    title = f"<title>{escape(tip)}</title>"
    if shape == "square":
        return (
            f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}">{title}</rect>'
        )
    if shape == "diamond":
        pts = f"{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y:.1f} {x:.1f},{y + 4.5:.1f} {x - 4.5:.1f},{y:.1f}"
        return f'<polygon points="{pts}" fill="{colour}">{title}</polygon>'
    if shape == "triangle":
        pts = f"{x:.1f},{y - 4.5:.1f} {x + 4.5:.1f},{y + 3.5:.1f} {x - 4.5:.1f},{y + 3.5:.1f}"
        return f'<polygon points="{pts}" fill="{colour}">{title}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">{title}</circle>'


def _panels(series: list[dict]) -> list[tuple[str, list[tuple[int, dict]]]]:
    """Series grouped by unit, in the order the units first appear; each keeps its overall index."""
    panels: dict[str, list[tuple[int, dict]]] = {}
    for index, one in enumerate(series):
        panels.setdefault(one.get("y_label", ""), []).append((index, one))
    return list(panels.items())


def render(result: dict) -> str:
    """The SVG text of one results file."""
    series = [s for s in result.get("series", []) if s.get("points")]
    title = result.get("title") or result.get("benchmark", "benchmark")
    panels = _panels(series)
    height = TOP + max(len(panels), 1) * (PANEL_HEIGHT + GAP) - GAP + BOTTOM
    plot_w = WIDTH - LEFT - RIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    if not panels:
        out.append(f'<text x="{LEFT}" y="{TOP + 40}" fill="#555555">No figures yet.</text>')
    for p, (unit, members) in enumerate(panels):
        top = TOP + p * (PANEL_HEIGHT + GAP)
        bottom = top + PANEL_HEIGHT
        # Named x values (runs, machines) are spread evenly in the order they first appear.
        names = [x for _, s in members for x, _ in s["points"] if isinstance(x, str)]
        places = {name: float(i) for i, name in enumerate(dict.fromkeys(names))}
        xs = [places.get(x, x) for _, s in members for x, _ in s["points"]]
        xs = [float(x) for x in xs]
        ys = [float(y) for _, s in members for _, y in s["points"]]
        log = any(s.get("scale") == "log" for _, s in members) and min(ys) > 0
        if places:
            x_ticks = list(places.values())
            x_lo, x_hi = -0.5, len(places) - 0.5
        else:
            x_ticks = nice_ticks(min(xs), max(xs)) if len(set(xs)) > 1 else [xs[0] - 1, xs[0], xs[0] + 1]
            x_lo, x_hi = x_ticks[0], x_ticks[-1]
        tick_names = {v: k for k, v in places.items()}
        if log:
            y_ticks = log_ticks(min(ys), max(ys))
            y_lo, y_hi = math.log10(y_ticks[0]), math.log10(y_ticks[-1])
        else:
            y_ticks = nice_ticks(min(0.0, min(ys)), max(ys))
            y_lo, y_hi = y_ticks[0], y_ticks[-1]

        def sx(x: float, lo=x_lo, hi=x_hi) -> float:
            return LEFT + (float(x) - lo) / (hi - lo) * plot_w

        def sy(y: float, lo=y_lo, hi=y_hi, top=top, log=log) -> float:
            value = math.log10(float(y)) if log else float(y)
            return top + PANEL_HEIGHT - (value - lo) / (hi - lo) * PANEL_HEIGHT

        out.append(f'<g class="panel" data-unit={quoteattr(unit)}>')
        for t in y_ticks:
            y = sy(t)
            out.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                f'<text class="y-tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(t)}</text>'
            )
        for t in x_ticks:
            x = sx(t)
            out.append(
                f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333333"/>'
                f'<text class="x-tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">'
                f"{escape(tick_names.get(t, fmt(t)))}</text>"
            )
        out.append(
            f'<path d="M{LEFT},{top} V{bottom} H{LEFT + plot_w}" fill="none" stroke="#333333"/>'
            f'<text class="y-label" transform="translate(14,{top + PANEL_HEIGHT / 2:.0f}) rotate(-90)" '
            f'text-anchor="middle">{escape(unit)}{" (log scale)" if log else ""}</text>'
            f'<text class="x-label" x="{LEFT + plot_w / 2:.0f}" y="{bottom + 34}" text-anchor="middle">'
            f"{escape(members[0][1].get('x_label', ''))}</text>"
        )
        for n, (index, one) in enumerate(members):
            colour, shape = COLOURS[index % len(COLOURS)], MARKERS[index // len(COLOURS) % len(MARKERS)]
            points = sorted((float(places.get(x, x)), float(y)) for x, y in one["points"])
            label = one["label"]
            dash = ' stroke-dasharray="6 4"' if one.get("dashed") else ""
            out.append(f'<g class="series" data-label={quoteattr(label)}>')
            if len(points) > 1:
                path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
                out.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
                )
            for x, y in points:
                where = tick_names.get(x, fmt(x))
                out.append(_marker(shape, sx(x), sy(y), colour, f"{label}: {where} → {fmt(y)} {unit}"))
            ly = top + 8 + n * 16
            lx = LEFT + plot_w + 16
            out.append(
                f'<line x1="{lx}" y1="{ly}" x2="{lx + 18}" y2="{ly}" stroke="{colour}" '
                f'stroke-width="2"{dash}/>'
                + _marker(shape, lx + 9, ly, colour, label)
                + f'<text class="legend" x="{lx + 24}" y="{ly + 4}">{escape(label)}</text>'
            )
            out.append("</g>")
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(paths: list[str]) -> None:
    files = [Path(p) for p in paths] or sorted(RESULTS.glob("*.json"))
    for path in files:
        result = json.loads(path.read_text())
        target = path.with_suffix(".svg")
        target.write_text(render(result))
        print(f"{path} -> {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
