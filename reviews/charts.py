"""Server-side SVG charts: pure functions from plain data to an SVG string (pages and the PDF share them)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

# The score colours of static/css/app.css (--score-0 … --score-3); the PDF passes the values it reads
# from app.css, and a test keeps these defaults equal to them.
SCORE_COLOURS: Mapping[int, str] = {0: "#b42318", 1: "#dc6803", 2: "#4e8a3a", 3: "#067647"}
INK, MUTED, LINE = "#1d2433", "#5d6b7a", "#dfe3e8"
FONT = "DejaVu Sans, sans-serif"


# The charts on pages: drawn wide with large text, then scaled to their card's width (static/css/present.css),
# so that labels stay at 14 px or more on a 1024 px screen and grow on wider ones. The PDF keeps the defaults.
PAGE_SCORES = {"width": 960, "row_height": 34, "label_width": 360, "text_size": 16}
PAGE_HISTORY = {"width": 960, "row_height": 34, "label_width": 360, "text_size": 16, "legend_x": 8}


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: no value (drawn as "not scored")
    counted: int | None = None  # what the gate believes when lower than value (a 2 without evidence)
    minimum: int | None = None  # a threshold drawn on the row (the gate's minimum score)


def _text(
    x: float, y: float, body: str, *, size: float = 11, fill: str = INK, anchor: str = "start", **kw
) -> str:
    extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in kw.items())
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"'
        f' font-family="{FONT}"{extra}>{escape(body)}</text>'
    )


def bar_chart_svg(
    bars: Sequence[Bar],
    *,
    maximum: int = 3,
    colours: Mapping[int, str] = SCORE_COLOURS,
    title: str = "",
    width: int = 640,
    row_height: int = 22,
    label_width: int = 250,
    unit: str = "score",
    text_size: float = 11,
) -> str:
    """Horizontal bars, one row per item, on an integer scale 0…maximum, coloured by value.

    A bar whose counted value is lower than its value shows the counted part solid and the rest pale;
    a row with a minimum shows it as a dark tick. Text is escaped; the output is a standalone <svg>.
    `text_size` is the labels' size (the rest is 1 smaller); margins grow with it. Pages draw large text
    in a wide chart that fills its card; the PDF keeps the defaults."""
    k = text_size / 11
    small = text_size - 1
    top, bottom, right = round(26 * k), round(34 * k), round(36 * k)
    plot = width - label_width - right
    height = top + row_height * len(bars) + bottom
    step = plot / maximum if maximum else plot
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title or "Chart")}">',
        f"<title>{escape(title or 'Chart')}</title>",
    ]
    for tick in range(maximum + 1):
        x = label_width + tick * step
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + row_height * len(bars)}" '
            f'stroke="{LINE}" stroke-width="1"/>'
        )
        parts.append(_text(x, top - 9 * k, str(tick), size=small, fill=MUTED, anchor="middle"))
    for i, bar in enumerate(bars):
        y = top + i * row_height
        mid = y + row_height / 2 + 4 * k
        parts.append(_text(label_width - 8, mid, bar.label, size=text_size, anchor="end"))
        bar_y, bar_h = y + 4, row_height - 8
        if bar.value is None:
            parts.append(
                _text(label_width + 6, mid, "not scored", size=small, fill=MUTED, font_style="italic")
            )
        else:
            colour = colours.get(bar.value, MUTED)
            counted = bar.counted if bar.counted is not None and bar.counted < bar.value else None
            full = max(bar.value * step, 3.0)  # a 0 is a visible stub, not nothing
            if counted is None:
                parts.append(
                    f'<rect x="{label_width}" y="{bar_y}" width="{full:.1f}" height="{bar_h}" '
                    f'fill="{colour}" rx="2"/>'
                )
                note = str(bar.value)
            else:
                solid = max(counted * step, 3.0)
                parts.append(
                    f'<rect x="{label_width}" y="{bar_y}" width="{full:.1f}" height="{bar_h}" '
                    f'fill="{colour}" fill-opacity="0.25" stroke="{colour}" stroke-dasharray="3 2" rx="2"/>'
                )
                parts.append(
                    f'<rect x="{label_width}" y="{bar_y}" width="{solid:.1f}" height="{bar_h}" '
                    f'fill="{colours.get(counted, MUTED)}" rx="2"/>'
                )
                note = f"{bar.value}→{counted}"
            parts.append(
                _text(label_width + full + 5 * k, mid, note, size=small, fill=INK, font_weight="bold")
            )
        if bar.minimum is not None:
            x = label_width + bar.minimum * step
            parts.append(
                f'<line x1="{x:.1f}" y1="{y + 1}" x2="{x:.1f}" y2="{y + row_height - 1}" '
                f'stroke="{INK}" stroke-width="2.5"/>'
            )
    legend_y = top + row_height * len(bars) + round(20 * k)
    parts.append(
        f'<line x1="{label_width}" y1="{legend_y - 9 * k:g}" x2="{label_width}" y2="{legend_y + 3 * k:g}" '
        f'stroke="{INK}" stroke-width="2.5"/>'
    )
    parts.append(_text(label_width + 6, legend_y, "gate minimum", size=small, fill=MUTED))
    parts.append(
        f'<rect x="{label_width + 100 * k:g}" y="{legend_y - 9 * k:g}" width="{18 * k:g}" '
        f'height="{11 * k:g}" fill="{MUTED}" fill-opacity="0.25" stroke="{MUTED}" stroke-dasharray="3 2"/>'
    )
    parts.append(
        _text(
            label_width + 124 * k,
            legend_y,
            f"{unit} counted lower than given (a → b)",
            size=small,
            fill=MUTED,
        )
    )
    parts.append("</svg>")
    return "".join(parts)


def score_chart_svg(
    scorecard: Sequence[Mapping],
    *,
    minimums: Mapping[str, int] | None = None,
    colours: Mapping[int, str] = SCORE_COLOURS,
    title: str = "Scores of the readiness categories (0–3)",
    width: int = 640,
    row_height: int = 22,
    **size,
) -> str:
    """The scorecard of a decision record (its "scorecard" entries) as a bar chart; `size` passes on
    label_width and text_size.

    `minimums` maps category codes to the gate's minimum score (see `minimums_from_reasons`)."""
    minimums = minimums or {}
    bars = [
        Bar(
            label=f"{row.get('number', i + 1)}. {row.get('name', row.get('category', ''))}",
            value=row.get("score"),
            counted=row.get("effective_score"),
            minimum=minimums.get(row.get("category", "")),
        )
        for i, row in enumerate(scorecard)
    ]
    return bar_chart_svg(bars, colours=colours, title=title, width=width, row_height=row_height, **size)


def minimums_from_reasons(reasons: Sequence[Mapping], minimum: int = 2) -> dict[str, int]:
    """The categories the gate held to a minimum score, from a record's "reasons" ("minimum:<code>"), each
    with the minimum its message says ("at least 3": a catalogue version may set other minimums than 2)."""
    found = {}
    for r in reasons:
        if str(r.get("rule", "")).startswith("minimum:"):
            said = re.search(r"at least (\d)", str(r.get("message", "")))
            found[r["rule"].split(":", 1)[1]] = int(said.group(1)) if said else minimum
    return found


# Outcome colours of static/css/app.css (--approved, --exceptions, --blocked).
OUTCOME_COLOURS: Mapping[str, str] = {
    "APPROVED": "#067647",
    "APPROVED_WITH_EXCEPTIONS": "#a15c07",
    "BLOCKED": "#b42318",
}
OUTCOME_SHORT = {"APPROVED": "Approved", "APPROVED_WITH_EXCEPTIONS": "With exceptions", "BLOCKED": "Blocked"}


def record_points(record: Mapping) -> list[dict]:
    """history_chart_svg's input from one decision record (schema /4 on): the earlier decisions it froze
    in "history", then itself, oldest first."""
    return [
        {
            "label": str(entry.get("recorded_at", ""))[:10],
            "outcome": entry.get("outcome", ""),
            "scorecard": entry.get("scorecard", []),
        }
        for entry in [*record.get("history", []), record]
    ]


def history_chart_svg(
    decisions: Sequence[Mapping],
    *,
    colours: Mapping[int, str] = SCORE_COLOURS,
    outcome_colours: Mapping[str, str] = OUTCOME_COLOURS,
    title: str = "Category scores and outcome at each decision",
    width: int = 760,
    row_height: int = 24,
    label_width: int = 230,
    text_size: float = 10,
    legend_x: float | None = None,
) -> str:
    """A system's decisions over time, from their frozen records: an outcome strip, then one row per
    category with a point per decision at its score (0–3) joined by a line.

    Each item of `decisions` is {"label": "2026-01-31", "outcome": "...", "scorecard": [record rows]}, oldest
    first. Every point is a <circle class="pt">, every outcome mark a <rect class="outcome-mark">.
    `text_size` is the row labels' size; the header, the marks and the points grow with it. The legend
    starts under the plot, or at `legend_x` (large text needs the whole width)."""
    k = text_size / 10
    small = text_size - 1
    top, right, bottom = round(48 * k), round(24 * k), round(30 * k)
    rows: dict[str, dict] = {}
    for d in decisions:
        for i, row in enumerate(d.get("scorecard", [])):
            code = row.get("category", str(i))
            number = row.get("number", i + 1)
            rows.setdefault(code, {"label": f"{number}. {row.get('name', code)}", "n": number})
    order = sorted(rows, key=lambda c: rows[c]["n"])
    plot = width - label_width - right
    n = len(decisions)
    height = top + row_height * max(len(order), 1) + bottom

    def x_of(i: int) -> float:
        return label_width + (plot / 2 if n == 1 else 10 * k + i * (plot - 20 * k) / (n - 1))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    if not n:
        parts.append(_text(label_width, top, "No decision recorded yet.", fill=MUTED))
        parts.append("</svg>")
        return "".join(parts)
    # The outcome strip, with the decision dates above it.
    parts.append(
        _text(label_width - 8, 34 * k, "Outcome", size=text_size + 1, anchor="end", font_weight="bold")
    )
    every = max(1, n // 8)
    for i, d in enumerate(decisions):
        x = x_of(i)
        outcome = str(d.get("outcome", ""))
        parts.append(
            f'<rect class="outcome-mark" x="{x - 6 * k:.1f}" y="{24 * k:g}" width="{12 * k:g}" '
            f'height="{12 * k:g}" rx="2" '
            f'fill="{outcome_colours.get(outcome, MUTED)}"><title>{escape(str(d.get("label", "")))}: '
            f"{escape(OUTCOME_SHORT.get(outcome, outcome))}</title></rect>"
        )
        if i % every == 0 or i == n - 1:
            parts.append(_text(x, 14 * k, str(d.get("label", "")), size=small, fill=MUTED, anchor="middle"))
    inner = row_height - 8
    for r, code in enumerate(order):
        y0 = top + r * row_height
        parts.append(
            f'<line x1="{label_width}" y1="{y0 + row_height:.1f}" x2="{width - right}" '
            f'y2="{y0 + row_height:.1f}" stroke="{LINE}" stroke-width="1"/>'
        )
        label_y = y0 + row_height / 2 + 4 * k
        parts.append(_text(label_width - 8, label_y, rows[code]["label"], size=text_size, anchor="end"))
        points = []
        for i, d in enumerate(decisions):
            row = next((s for s in d.get("scorecard", []) if s.get("category") == code), None)
            score = row.get("score") if row else None
            if score is None:
                continue
            y = y0 + 4 + inner - score * inner / 3
            points.append((x_of(i), y, score, row.get("effective_score"), d.get("label", "")))
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, *_ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{MUTED}" stroke-width="1.2"/>')
        for x, y, score, effective, label in points:
            counted = "" if effective in (None, score) else f" (counts as {effective})"
            hollow = effective not in (None, score)
            fill = "#fff" if hollow else colours.get(score, MUTED)
            parts.append(
                f'<circle class="pt" data-category="{escape(code)}" cx="{x:.1f}" cy="{y:.1f}" r="{4 * k:g}" '
                f'fill="{fill}" stroke="{colours.get(score, MUTED)}" stroke-width="{2 * k:g}">'
                f"<title>{escape(rows[code]['label'])}, {escape(str(label))}: "
                f"{score}{counted}</title></circle>"
            )
    legend_y = height - 10 * k
    parts.append(
        _text(
            label_width if legend_x is None else legend_x,
            legend_y,
            "Each row: score 0 (bottom) to 3 (top); a hollow point counted lower (no or stale evidence).",
            size=small,
            fill=MUTED,
        )
    )
    parts.append("</svg>")
    return "".join(parts)
