"""The review's depth in a stored decision record (schema /7 on), as the decision page and the PDF show it:
one table per kind of inventory or plan present, and the coverage lists (required runbooks, the
concurrency matrix, signals, forecasts, recovery objectives). Read from the frozen record alone: the
values, verdicts and summaries are the record's, so a later change to a kind's description changes
nothing a record shows."""

from __future__ import annotations

from typing import Any

from evidence import kinds
from evidence.kinds.declared import RESULTS

STATE_LABELS = {
    "complete": "Complete",
    "incomplete": "Incomplete",
    "failing": "Failing",
    "missing": "Not recorded",
}
# The PDF's status classes (records/decision.css) and the page's (static/css/app.css).
STATE_CLASSES = {"complete": "st-met", "incomplete": "st-warn", "failing": "st-blocks", "missing": "st-warn"}
PAGE_CLASSES = {
    "complete": "ok-text",
    "incomplete": "warn-text",
    "failing": "warn-text",
    "missing": "warn-text",
}
RESULT_LABELS = dict(RESULTS)


def _state(state: str | None, why: str = "") -> dict[str, str]:
    state = state if state in STATE_LABELS else "missing"
    return {
        "state": state,
        "verdict_label": STATE_LABELS[state],
        "why": why,
        "pdf_class": STATE_CLASSES[state],
        "page_class": PAGE_CLASSES[state],
    }


def _short_title(title: str, labels: set[str]) -> str:
    """ "Invariant: A closed case …" is "A closed case …" in the table of invariants."""
    head, sep, rest = title.partition(": ")
    return rest if sep and head.lower() in labels else title


def _labels(kind: str, plural: str) -> set[str]:
    spec = kinds.get(kind)
    names = {plural.lower()}
    if spec is not None:
        names |= {spec.label.lower(), spec.label.split()[0].lower()}
    return names


def view(record: dict) -> dict[str, Any] | None:
    """What the "Inventories and plans" section shows; None for a record older than /7."""
    depth = record.get("depth")
    if not isinstance(depth, dict):
        return None
    entries = [e for row in record.get("scorecard", []) for e in row.get("evidence", [])]
    tables = []
    for counts in depth.get("kinds", []):
        if not counts.get("count"):
            continue
        labels = _labels(counts["kind"], counts["plural"])
        rows = [
            {
                "id": e["id"],
                "title": _short_title(e["title"], labels),
                "summary": e["record"].get("summary", ""),
                **_state(e["record"].get("verdict"), e["record"].get("why", "")),
            }
            for e in entries
            if e["kind"] == counts["kind"] and isinstance(e.get("record"), dict)
        ]
        tables.append({"kind": counts["kind"], "plural": counts["plural"], "counts": counts, "rows": rows})

    runbooks = depth.get("runbooks", [])
    concurrency = [
        {
            **row,
            "result_label": RESULT_LABELS.get(row.get("result"), "Not recorded"),
            **_state(row.get("verdict")),
        }
        for row in depth.get("concurrency", [])
    ]
    recovery = depth.get("recovery_objectives")
    if recovery:
        spec = kinds.get("recovery_objectives")
        data = recovery.get("data", {})
        recovery = {
            **recovery,
            "rows": spec.rows(data) if spec is not None else [(k, v) for k, v in data.items() if v],
            **_state(recovery.get("verdict"), recovery.get("why", "")),
        }
    signals = [{**row, **_state(row.get("verdict"))} for row in depth.get("signals", [])]
    forecasts = [{**row, **_state(row.get("verdict"))} for row in depth.get("forecasts", [])]
    return {
        "tables": tables,
        "runbooks": runbooks,
        "runbooks_existing": sum(1 for r in runbooks if r.get("exists")),
        "runbooks_tested": sum(1 for r in runbooks if r.get("tested")),
        "other_runbooks": depth.get("other_runbooks", []),
        "concurrency": concurrency,
        "concurrency_passed": sum(1 for r in concurrency if r.get("result") == "passed"),
        "signals": signals,
        "signals_complete": sum(1 for r in signals if r["state"] == "complete"),
        "forecasts": forecasts,
        "forecasts_complete": sum(1 for r in forecasts if r["state"] == "complete"),
        "recovery": recovery,
    }
