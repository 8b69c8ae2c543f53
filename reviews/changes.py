"""What changed since the last decision: a pure function from two decision records to their differences.

Both sides have the shape of a canonical decision record (selectors.decision_record): the system's last
recorded decision's frozen record, and a record built from the current review state. Findings, evidence
and exceptions belong to one review, so across reviews they are matched by what they are about, not by
id: a finding by (category, title), evidence by (category, kind, title, url or file), an exception by its
finding and its id. Items carried into the review from the decided one (reviews.carryover: their entries
name the origin's id in "carried_from") are counted as carried, neither added nor removed. Only JSON-safe
values come out, so the result can go into a record as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

LEVEL_ORDER = {"P0": 0, "P1": 1, "P2": 2, "P3": 3}

# (kind, observed_at, now) -> stale? ; evidence.freshness.is_stale with its table, passed in to stay pure.
StaleTest = Callable[[str, datetime, datetime], bool]


def _never_stale(kind: str, observed_at: datetime, now: datetime) -> bool:
    return False


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _finding_key(f: Mapping) -> str:
    return f"{f.get('category', '')}|{f.get('title', '')}"


def _evidence_key(code: str, e: Mapping) -> str:
    return f"{code}|{e.get('kind', '')}|{e.get('title', '')}|{e.get('url') or e.get('file') or ''}"


def _scores(before: Mapping, after: Mapping) -> list[dict]:
    old = {r["category"]: r for r in before.get("scorecard", [])}
    out = []
    for row in after.get("scorecard", []):
        code = row["category"]
        prev = old.get(code)
        was, now = (prev or {}).get("score"), row.get("score")
        was_eff, now_eff = (prev or {}).get("effective_score"), row.get("effective_score")
        if was == now and was_eff == now_eff:
            continue
        direction = (
            "up"
            if (now_eff if now_eff is not None else -1) > (was_eff if was_eff is not None else -1)
            else "down"
            if (now_eff if now_eff is not None else -1) < (was_eff if was_eff is not None else -1)
            else "changed"
        )
        out.append(
            {
                "category": code,
                "name": row.get("name", code),
                "before": was,
                "after": now,
                "effective_before": was_eff,
                "effective_after": now_eff,
                "direction": direction,
            }
        )
    return out


def _findings(before: Mapping, after: Mapping) -> dict[str, list[dict]]:
    old = {_finding_key(f): f for f in before.get("findings", [])}
    new = {_finding_key(f): f for f in after.get("findings", [])}
    old_ids = {f.get("id") for f in before.get("findings", [])}
    opened, resolved, regraded, carried = [], [], [], []

    def brief(f: Mapping) -> dict:
        return {"category": f.get("category", ""), "title": f.get("title", ""), "level": f.get("level", "")}

    for key, f in new.items():
        prev = old.get(key)
        is_open = f.get("status") != "resolved"
        was_open = prev is not None and prev.get("status") != "resolved"
        if is_open and not was_open:
            opened.append(brief(f))
        elif was_open and not is_open:
            resolved.append(brief(f))
        elif is_open and f.get("carried_from") is not None and f.get("carried_from") in old_ids:
            # Left open by the last decision and carried into this review: still owed, not new.
            carried.append({**brief(f), "owner": f.get("owner"), "due_date": f.get("due_date")})
        if prev is not None and prev.get("level") != f.get("level") and is_open:
            regraded.append({**brief(f), "level_before": prev.get("level", "")})
    for key, prev in old.items():
        if key not in new and prev.get("status") != "resolved":
            resolved.append({**brief(prev), "gone": True})
    order = lambda d: (LEVEL_ORDER.get(d["level"], 9), d["category"], d["title"])  # noqa: E731
    return {
        "opened": sorted(opened, key=order),
        "resolved": sorted(resolved, key=order),
        "regraded": sorted(regraded, key=order),
        "carried": sorted(carried, key=order),
    }


def _exceptions(before: Mapping, after: Mapping, now: datetime) -> dict[str, list[dict]]:
    def collect(record: Mapping, known: Mapping | None = None) -> dict[int, dict]:
        found = {}
        for f in record.get("findings", []):
            for e in f.get("exceptions", []):
                # A carried exception is the decided one going on: compared under the origin's id.
                eid = e.get("carried_from") if known and e.get("carried_from") in known else e["id"]
                found[eid] = {**e, "finding": f.get("title", ""), "category": f.get("category", "")}
        return found

    then = _when(before.get("recorded_at"))
    old = collect(before)
    new = collect(after, old)

    def active(e: Mapping, at: datetime | None) -> bool:
        expires = _when(e.get("expires_at"))
        return e.get("state") == "signed" and (at is None or expires is None or expires > at)

    def brief(e: Mapping) -> dict:
        return {
            "id": e["id"],
            "finding": e["finding"],
            "category": e["category"],
            "expires_at": e.get("expires_at"),
            "signer": e.get("signer"),
        }

    added, expired, revoked = [], [], []
    for eid, e in sorted(new.items()):
        prev = old.get(eid)
        was_active = prev is not None and active(prev, then)
        if active(e, now) and not was_active:
            added.append(brief(e))
        elif was_active or prev is None:
            if e.get("state") == "revoked" and (prev is None or prev.get("state") != "revoked"):
                revoked.append(brief(e))
            elif was_active and not active(e, now):
                expired.append(brief(e))
    # Exceptions of the decided review's findings that the current review no longer carries but that
    # were active then: expired if their date has passed, else they lapse with their review.
    for eid, prev in sorted(old.items()):
        if eid not in new and active(prev, then) and not active(prev, now):
            expired.append(brief(prev))
    return {"added": added, "expired": expired, "revoked": revoked}


def _evidence(before: Mapping, after: Mapping, now: datetime, is_stale: StaleTest) -> dict[str, list[dict]]:
    def collect(record: Mapping) -> dict[str, dict]:
        found = {}
        for row in record.get("scorecard", []):
            for e in row.get("evidence", []):
                found[_evidence_key(row["category"], e)] = {**e, "category": row["category"]}
        return found

    then = _when(before.get("recorded_at"))
    old, new = collect(before), collect(after)

    def brief(e: Mapping) -> dict:
        return {
            "category": e["category"],
            "kind": e.get("kind", ""),
            "title": e.get("title", ""),
            "observed_at": e.get("observed_at"),
        }

    added = [brief(e) for key, e in new.items() if key not in old]
    carried = [brief(e) for key, e in new.items() if key in old and e.get("carried_from") is not None]
    removed = [brief(e) for key, e in old.items() if key not in new]
    stale = []
    for key, e in new.items():
        observed = _when(e.get("observed_at"))
        if observed is None or not is_stale(e.get("kind", ""), observed, now):
            continue
        prev = old.get(key)
        # Gone stale since: it was there and fresh at the last decision, or it came in stale already.
        if prev is None or then is None or not is_stale(prev.get("kind", ""), observed, then):
            stale.append(brief(e))
    order = lambda d: (d["category"], d["kind"], d["title"])  # noqa: E731
    return {
        "added": sorted(added, key=order),
        "removed": sorted(removed, key=order),
        "stale": sorted(stale, key=order),
        "carried": sorted(carried, key=order),
    }


def _probe_statuses(record: Mapping) -> dict[str, dict[str, dict]]:
    """{target: {probe: result}} from the latest finished run per target; passing probes are absent."""
    latest: dict[str, Mapping] = {}
    for run in record.get("probe_runs", []):
        if run.get("state") != "done":
            continue
        latest[run.get("target", "")] = run  # runs are in start order: the last one wins
    return {target: {r["probe"]: r for r in run.get("not_passed", [])} for target, run in latest.items()}


def _probes(before: Mapping, after: Mapping) -> list[dict]:
    old, new = _probe_statuses(before), _probe_statuses(after)
    out = []
    for target in sorted(set(old) & set(new)):
        for probe in sorted(set(old[target]) | set(new[target])):
            was, now = old[target].get(probe), new[target].get(probe)
            status_was = was["status"] if was else "pass"
            status_now = now["status"] if now else "pass"
            if status_was != status_now:
                ref = now or was
                out.append(
                    {
                        "target": target,
                        "probe": probe,
                        "title": ref.get("title", probe),
                        "category": ref.get("category", ""),
                        "before": status_was,
                        "after": status_now,
                    }
                )
    return out


def changes_since(
    before: Mapping, after: Mapping, *, now: datetime | None = None, is_stale: StaleTest | None = None
) -> dict:
    """The differences from the decided record `before` to the current state `after`.

    `now` is when `after` holds (default: its recorded_at); `is_stale(kind, observed_at, at)` says
    whether evidence is stale at a moment (default: never)."""
    now = now or _when(after.get("recorded_at"))
    is_stale = is_stale or _never_stale
    findings = _findings(before, after)
    exceptions = _exceptions(before, after, now)
    evidence = _evidence(before, after, now, is_stale)
    result = {
        "since": {
            "review_id": (before.get("review") or {}).get("id"),
            "outcome": before.get("outcome"),
            "recorded_at": before.get("recorded_at"),
        },
        "scores": _scores(before, after),
        "findings": findings,
        "exceptions": exceptions,
        "evidence": evidence,
        "probes": _probes(before, after),
    }
    # Carried items are what the last decision left and this review took over: shown, not changes.
    result["carried"] = len(findings["carried"]) + len(evidence["carried"])
    result["count"] = (
        len(result["scores"])
        + sum(len(v) for k, v in findings.items() if k != "carried")
        + sum(len(v) for v in exceptions.values())
        + sum(len(v) for k, v in evidence.items() if k != "carried")
        + len(result["probes"])
    )
    return result


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


def summary(changes: Mapping | None) -> list[dict]:
    """What changed, counted, for a page that shows the counts first and the details on demand:
    [{"what": "Scores", "counts": ["2 up", "1 down"]}, ...], only the kinds that changed, carried last."""
    if not changes:
        return []
    out = []
    scores = changes.get("scores", [])
    if scores:
        by = {d: sum(1 for s in scores if s.get("direction") == d) for d in ("up", "down")}
        other = len(scores) - by["up"] - by["down"]
        counts = [f"{by['up']} up"] if by["up"] else []
        counts += [f"{by['down']} down"] if by["down"] else []
        counts += [f"{other} changed but {'counts' if other == 1 else 'count'} the same"] if other else []
        out.append({"what": "Scores", "counts": counts})
    parts = (
        (
            "Findings",
            changes.get("findings", {}),
            (("opened", "opened"), ("resolved", "resolved"), ("regraded", "regraded")),
        ),
        (
            "Exceptions",
            changes.get("exceptions", {}),
            (("added", "added"), ("expired", "expired"), ("revoked", "revoked")),
        ),
        (
            "Evidence",
            changes.get("evidence", {}),
            (("added", "added"), ("removed", "no longer attached"), ("stale", "gone stale")),
        ),
    )
    for what, group, kinds in parts:
        counts = [f"{len(group.get(key, []))} {label}" for key, label in kinds if group.get(key)]
        if counts:
            out.append({"what": what, "counts": counts})
    probes = changes.get("probes", [])
    if probes:
        out.append({"what": "Probe results", "counts": [_n(len(probes), "changed", "changed")]})
    if changes.get("carried"):
        out.append({"what": "Carried from the last decision", "counts": [_n(changes["carried"], "item")]})
    return out
