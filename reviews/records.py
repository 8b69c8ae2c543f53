"""Decision records after they are recorded: the PDF (rendered once, stored) and verification — recompute
a record's digest and say "matches" or exactly which fields differ from the stored record."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import connection, transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from . import audit, charts, record_depth
from .models import Decision, DecisionDocument, Level
from .services import canonical_json, record_digest

log = logging.getLogger(__name__)

OUTCOME_LABELS = {
    "APPROVED": "Approved",
    "APPROVED_WITH_EXCEPTIONS": "Approved with exceptions",
    "BLOCKED": "Blocked",
}
# Which palette variables (static/css/app.css) colour each outcome, as on every page of the app.
OUTCOME_PALETTE = {"APPROVED": "approved", "APPROVED_WITH_EXCEPTIONS": "exceptions", "BLOCKED": "blocked"}

# --- The app's palette: the PDF uses the colours of the pages, read from the one stylesheet.


@lru_cache(maxsize=1)
def palette() -> dict[str, str]:
    """The custom properties of `:root` in static/css/app.css, without their leading dashes."""
    path = finders.find("css/app.css") or str(Path(settings.BASE_DIR) / "static" / "css" / "app.css")
    text = Path(path).read_text(encoding="utf-8")
    root = re.search(r":root\s*\{(.*?)\}", text, re.S)
    if root is None:
        raise RuntimeError(f"{path} has no :root block with the palette")
    return {name: value.strip() for name, value in re.findall(r"--([\w-]+)\s*:\s*([^;]+);", root.group(1))}


def score_colours(colours: dict[str, str] | None = None) -> dict[int, str]:
    colours = colours or palette()
    return {i: colours[f"score-{i}"] for i in range(4)}


# --- The PDF


def people(record: dict) -> dict[str, str]:
    """{username: full name} of the record's participants (the username when no name is set): the record
    keeps usernames, machine data; pages and the PDF show people by name."""
    return {p["username"]: p.get("name") or p["username"] for p in record.get("participants", [])}


PERSON_KEYS = frozenset(
    {
        "added_by",
        "answered_by",
        "approver",
        "chair",
        "created_by",
        "decided_by",
        "edited_by",
        "owner",
        "proposed_by",
        "requested_by",
        "signer",
        "started_by",
    }
)


def usernames(record: Any) -> set[str]:
    """Every username the record names under a person's key, however deep."""
    found: set[str] = set()
    if isinstance(record, dict):
        for key, value in record.items():
            if key in PERSON_KEYS and isinstance(value, str) and value:
                found.add(value)
            elif isinstance(value, dict | list):
                found |= usernames(value)
    elif isinstance(record, list):
        for value in record:
            found |= usernames(value)
    return found


def category_names(record: dict) -> dict[str, str]:
    """{code: name} of the record's categories."""
    return {row["category"]: row["name"] for row in record.get("scorecard", [])}


STATUS_ORDER = {"fail": 0, "error": 1, "warn": 2, "skipped": 3}


def _probe_order(result: dict) -> tuple:
    """Worst first: failures, errors, warnings, then what was skipped; by level within each."""
    return (STATUS_ORDER.get(result.get("status"), 9), result.get("severity", ""), result.get("probe", ""))


def record_history_chart(record: dict, *, colours: dict[str, str] | None = None, **size) -> str:
    """The history chart of a decision record (schema /4 on): its earlier decisions and itself, drawn by
    the same code as the history page. Empty for a system's first decision and for older records."""
    if not record.get("history"):
        return ""
    colours = colours or palette()
    return charts.history_chart_svg(
        charts.record_points(record),
        colours=score_colours(colours),
        outcome_colours={o: colours.get(k, "#000") for o, k in OUTCOME_PALETTE.items()},
        title="Scores and outcome at this and the earlier decisions",
        **size,
    )


def pdf_context(record: dict, *, digest: str, decision_id: int | None = None) -> dict[str, Any]:
    """Everything the PDF template shows, from the frozen record alone (never from live rows)."""
    colours = palette()
    outcome = record.get("outcome", "")
    key = OUTCOME_PALETTE.get(outcome, "pending")
    names = people(record)
    findings = record.get("findings", [])
    level_counts = []
    for level in Level:
        items = [f for f in findings if f["level"] == level.value]
        open_items = [f for f in items if f["status"] != "resolved"]
        level_counts.append(
            {"level": level.value, "label": level.label, "open": len(open_items), "all": len(items)}
        )
    evidence = [
        {"category": f"{row.get('number', '')}. {row['name']}", **item}
        for row in record.get("scorecard", [])
        for item in row.get("evidence", [])
    ]
    chart = charts.score_chart_svg(
        record.get("scorecard", []),
        minimums=charts.minimums_from_reasons(record.get("reasons", [])),
        colours=score_colours(colours),
        width=660,
        row_height=18,
    )
    history_chart = record_history_chart(record, colours=colours, width=660, row_height=18, label_width=190)
    judgement = record.get("judgement") or {}
    final_questions = record.get("final_questions") or []
    if not re.fullmatch(r"[0-9a-f]{64}", digest or ""):
        digest = "INVALID DIGEST"  # it goes into CSS (the page margins): only hex is let through
    return {
        "record": record,
        "digest": digest,
        "decision_id": decision_id,
        "outcome": outcome,
        "outcome_label": OUTCOME_LABELS.get(outcome, outcome),
        "outcome_colour": colours.get(key, "#000"),
        "outcome_background": colours.get(f"{key}-bg", "#fff"),
        "c": {name.replace("-", "_"): value for name, value in colours.items()},
        "people": names,
        "level_counts": level_counts,
        "blocking_reasons": [r for r in record.get("reasons", []) if r.get("status") == "blocks"],
        "resolved": [f for f in findings if f.get("status") == "resolved"],
        "level_labels": {level.value: level.label for level in Level},
        "probe_runs": [
            {**run, "not_passed": sorted(run.get("not_passed", []), key=_probe_order)}
            for run in record.get("probe_runs", [])
        ],
        "category_names": category_names(record),
        "evidence": evidence,
        "chart": mark_safe(chart),  # noqa: S308  (built by charts, which escapes every text)
        "history_chart": mark_safe(history_chart),  # noqa: S308  (likewise)
        "history_count": len(record.get("history") or []),
        "canonical_size": len(canonical_json(record)),
        # Schema /5 on: the chair's judgement and what was decided on (reviews.record_sections).
        "schema5": "judgement" in record,
        "judgement": judgement,
        "gate_outcome_label": OUTCOME_LABELS.get(judgement.get("gate_outcome", ""), ""),
        "final_questions": final_questions,
        "final_counts": _answer_counts(final_questions),
        "checklist_counts": _answer_counts(record.get("checklist") or []),
        # Schema /7 on: the inventories and plans, and what they cover (reviews.record_depth).
        "depth": record_depth.view(record),
    }


def _answer_counts(answers: list[dict]) -> dict[str, int]:
    counts = {"yes": 0, "no": 0, "na": 0, "unknown": 0}
    for a in answers:
        counts[a.get("answer") if a.get("answer") in counts else "unknown"] += 1
    return counts


def render_pdf(record: dict, *, digest: str, decision_id: int | None = None) -> tuple[bytes, int]:
    """The decision record as a PDF: (bytes, number of pages). WeasyPrint is imported here only: its
    import alone takes most of a second, which no page or worker start should pay for."""
    from weasyprint import HTML

    html = render_to_string(
        "records/decision.html", pdf_context(record, digest=digest, decision_id=decision_id)
    )
    document = HTML(string=html, base_url=str(settings.BASE_DIR)).render()
    return document.write_pdf(), len(document.pages)


def renderer_name() -> str:
    from importlib.metadata import version

    return f"WeasyPrint {version('weasyprint')}"


PDF_LOCK_NAMESPACE = 0x52504446  # "RPDF": advisory locks of the PDF rendering, by decision number


def _lock_for_rendering(decision_id: int) -> None:
    """A transaction-level advisory lock, not SELECT FOR UPDATE: locking a row needs UPDATE on its table,
    which the runtime role does not hold on decisions (they are append-only; manage.py grant_runtime_role).
    SQLite (the quick start) runs one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PDF_LOCK_NAMESPACE, decision_id % 2**31])


def store_decision_pdf(decision_id: int) -> DecisionDocument | None:
    """Render and store the PDF of a decision once. A lock on the decision's number is held while
    rendering, so a redelivered or concurrent task waits, then finds the document and does nothing.
    Returns the new document, or None when there was nothing to do."""
    with transaction.atomic():
        _lock_for_rendering(decision_id)
        decision = Decision.objects.select_related("review", "system").filter(pk=decision_id).first()
        if decision is None:
            log.warning("decision %s does not exist; no PDF rendered", decision_id)
            return None
        if DecisionDocument.objects.filter(decision_id=decision_id).exists():
            return None
        started = time.perf_counter()
        pdf, pages = render_pdf(decision.record, digest=decision.digest, decision_id=decision.pk)
        elapsed = int((time.perf_counter() - started) * 1000)
        document = DecisionDocument.objects.create(
            decision=decision,
            pdf=pdf,
            sha256=hashlib.sha256(pdf).hexdigest(),
            size=len(pdf),
            pages=pages,
            renderer=renderer_name(),
            render_ms=elapsed,
        )
        audit.record(
            actor=None,
            action="decision.pdf",
            obj=decision,
            review=decision.review,
            after={"sha256": document.sha256, "pages": pages, "size": len(pdf), "render_ms": elapsed},
        )
        return document


def requeue_missing_pdfs(*, now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """Decisions still without a PDF some minutes after they were recorded (their message was lost, or
    the broker was down when they were recorded): ask a worker again. Idempotent; oldest first; at most
    `limit` per call. Counts what was sent and what the broker refused."""
    from .services import enqueue_decision_pdf

    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DECISION_PDF_REQUEUE_AFTER_S)
    ids = list(
        Decision.objects.filter(recorded_at__lt=cutoff, document__isnull=True)
        .order_by("recorded_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    counts = {"requeued": 0, "waiting_for_workers": 0}
    for decision_id in ids:
        if enqueue_decision_pdf(decision_id).waiting_for_workers:
            counts["waiting_for_workers"] += 1
            break  # the broker is down: the next run tries again
        counts["requeued"] += 1
    return counts


# --- Verification


class RecordError(ValueError):
    """An uploaded file that is not a decision record."""


MISSING = object()


@dataclass(frozen=True)
class Difference:
    path: str  # dotted: "scorecard.3.evidence.0.title"
    stored: Any  # MISSING when the field is only in the given record
    given: Any  # MISSING when the field is only in the stored record

    @staticmethod
    def show(value: Any) -> str:
        if value is MISSING:
            return "(absent)"
        return json.dumps(value, ensure_ascii=False, sort_keys=True)

    @property
    def stored_text(self) -> str:
        return self.show(self.stored)

    @property
    def given_text(self) -> str:
        return self.show(self.given)

    def __str__(self) -> str:
        return f"{self.path}: {self.stored_text} → {self.given_text}"


def diff(stored: Any, given: Any, path: str = "") -> list[Difference]:
    """Every leaf where two JSON values differ, by dotted path. Types count: 1, 1.0, true and "1" differ."""
    if isinstance(stored, dict) and isinstance(given, dict):
        out: list[Difference] = []
        for key in sorted(set(stored) | set(given)):
            sub = f"{path}.{key}" if path else str(key)
            out += diff(stored.get(key, MISSING), given.get(key, MISSING), sub)
        return out
    if isinstance(stored, list) and isinstance(given, list):
        out = []
        for i in range(max(len(stored), len(given))):
            sub = f"{path}.{i}" if path else str(i)
            out += diff(
                stored[i] if i < len(stored) else MISSING, given[i] if i < len(given) else MISSING, sub
            )
        return out
    if stored is MISSING or given is MISSING or type(stored) is not type(given) or stored != given:
        return [Difference(path or "(record)", stored, given)]
    return []


@dataclass
class SourceCheck:
    """One of the three places a stored decision is written: whether it agrees with the others."""

    name: str  # "record", "audit trail", "PDF"
    agrees: bool | None  # None: nothing to compare (the PDF is not rendered yet)
    detail: str


@dataclass
class Verification:
    """The answer of a verification: whether the record matches, and if not, exactly where."""

    computed_digest: str
    decision: Decision | None = None
    claimed_digest: str | None = None  # the digest written in an uploaded file, if any
    differences: list[Difference] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    chain_ok: bool | None = None
    previous: Decision | None = None
    sources: list[SourceCheck] = field(default_factory=list)  # record, audit trail, PDF (stored only)
    disagreeing: str = ""  # which of the three disagree, in words

    @property
    def stored_digest(self) -> str | None:
        return self.decision.digest if self.decision else None

    @property
    def matches(self) -> bool:
        return (
            self.decision is not None
            and self.computed_digest == self.decision.digest
            and (self.claimed_digest is None or self.claimed_digest == self.computed_digest)
            and not self.differences
            and not self.problems
            and all(source.agrees is not False for source in self.sources)
        )

    def lines(self) -> list[str]:
        """Plain text, as the command prints it."""
        if self.matches:
            out = [f"matches: SHA-256 {self.computed_digest}"]
        else:
            out = ["DOES NOT MATCH", f"recomputed SHA-256 {self.computed_digest}"]
            if self.decision is not None:
                out.append(f"stored    SHA-256 {self.decision.digest}")
            if self.claimed_digest is not None:
                out.append(f"in file   SHA-256 {self.claimed_digest}")
            out += [f"problem: {p}" for p in self.problems]
            if self.differences:
                out.append(f"{len(self.differences)} field(s) differ (stored → given):")
                out += [f"  {d}" for d in self.differences]
        for source in self.sources:
            verdict = {True: "agrees", False: "DISAGREES", None: "not checked"}[source.agrees]
            out.append(f"{source.name}: {verdict}: {source.detail}")
        if self.disagreeing:
            out.append(self.disagreeing)
        if self.chain_ok is not None:
            out.append("chain: links to the previous decision" if self.chain_ok else "chain: BROKEN")
        return out


def previous_decision(decision: Decision) -> Decision | None:
    """The same system's decision recorded just before this one (what previous_digest must name)."""
    return (
        Decision.objects.filter(system_id=decision.system_id)
        .filter(recorded_at__lte=decision.recorded_at)
        .exclude(pk=decision.pk)
        .exclude(recorded_at=decision.recorded_at, pk__gt=decision.pk)
        .order_by("-recorded_at", "-id")
        .first()
    )


def _check_chain(result: Verification, decision: Decision) -> None:
    previous = previous_decision(decision)
    result.previous = previous
    expected = previous.digest if previous else ""
    result.chain_ok = decision.previous_digest == expected
    if not result.chain_ok:
        result.problems.append(
            f"previous_digest is {decision.previous_digest or '(empty)'} but the system's previous decision "
            f"has digest {expected or '(none: this should be the first)'}"
        )


RECORD_ACTIONS = ("decision.record", "decision.import")


def _short(digest: str | None) -> str:
    return (digest or "(none)")[:12] + ("…" if digest and len(digest) > 12 else "")


def _odd_one_out(values: dict[str, str | None]) -> str | None:
    """Of three named values, the one that differs from the two that agree; None if all agree or none do."""
    names = list(values)
    for name in names:
        others = [values[n] for n in names if n != name]
        if others[0] == others[1] and values[name] != others[0]:
            return name
    return None


def _check_sources(result: Verification, decision: Decision) -> None:
    """Compare the three places a decision is written and say which disagree: the record (its recomputed
    digest and its digest column), the audit trail's decision.record event (the digest at the moment of
    recording), and the stored PDF (its bytes, the hash stored with it, the hash noted when rendered)."""
    from .models import AuditEvent

    computed, column = result.computed_digest, decision.digest
    events = AuditEvent.objects.filter(object_type="reviews.decision", object_id=str(decision.pk))
    recorded = events.filter(action__in=RECORD_ACTIONS).order_by("id").first()
    event_after = (recorded.after or {}) if recorded else {}
    event_digest = event_after.get("digest")

    # The digest, three times: two that agree outvote the third.
    odd = _odd_one_out({"record": computed, "column": column, "event": event_digest})
    words = {
        None: "",
        "record": "the record was altered: it no longer hashes to its digest, which the audit trail confirms",
        "column": "the record's digest column was altered: the record and the audit trail agree on another",
        "event": "the audit trail's event names another digest than the record and its digest column: the "
        "event was altered, or the record and its digest were replaced together",
    }
    all_same = computed == column == event_digest
    if not all_same and odd is None:
        words[None] = "the record, its digest column and the audit trail all name different digests"
    record_ok = all_same or odd == "event"
    result.sources.append(
        SourceCheck(
            "record",
            record_ok,
            f"hashes to {_short(computed)}, its digest column says {_short(column)}"
            + ("" if record_ok else f": {words[odd]}"),
        )
    )
    if recorded is None:
        event_ok, detail = False, "has no decision.record event for this decision"
    else:
        outcome = event_after.get("outcome")
        event_ok = (all_same or odd in ("record", "column")) and outcome == decision.outcome
        detail = f"event #{recorded.pk} of {recorded.at:%Y-%m-%d %H:%M} names digest {_short(event_digest)}"
        if outcome != decision.outcome:
            detail += f" and outcome {outcome!r}, where the decision says {decision.outcome!r}"
        elif not event_ok:
            detail += f": {words[odd]}"
    result.sources.append(SourceCheck("audit trail", event_ok, detail))

    document = DecisionDocument.objects.filter(decision=decision).first()
    if document is None:
        result.sources.append(SourceCheck("PDF", None, "not rendered yet"))
    else:
        actual = hashlib.sha256(bytes(document.pdf)).hexdigest()
        rendered = events.filter(action="decision.pdf").order_by("id").first()
        noted = (rendered.after or {}).get("sha256") if rendered else None
        pdf_ok = actual == document.sha256 == noted
        detail = (
            f"the file hashes to {_short(actual)}, stored with it: {_short(document.sha256)}, "
            f"noted in the audit trail when rendered: {_short(noted)}"
        )
        if not pdf_ok:
            pdf_odd = _odd_one_out({"file": actual, "stored": document.sha256, "noted": noted})
            detail += {
                "file": ": the PDF file was altered",
                "stored": ": the hash stored with the PDF was altered",
                "noted": ": the audit trail's note was altered, or the PDF and its hash were replaced "
                "together",
                None: ": all three differ",
            }[pdf_odd]
        result.sources.append(SourceCheck("PDF", pdf_ok, detail))

    wrong = [s for s in result.sources if s.agrees is False]
    if wrong:
        names = [s.name for s in wrong]
        fine = [s.name for s in result.sources if s.agrees]
        result.disagreeing = (
            f"{' and '.join(names)} disagree{'s' if len(names) == 1 else ''}"
            + (f" with {' and '.join(fine)}" if fine else "")
            + "."
        )


def verify_stored(decision: Decision, *, sources: bool = True) -> Verification:
    """Recompute the stored record's digest; check the columns agree with the record and the chain links;
    with `sources`, also compare the record with its audit event and its stored PDF (_check_sources)."""
    record = decision.record
    result = Verification(computed_digest=record_digest(record), decision=decision)
    if sources:
        _check_sources(result, decision)
    elif result.computed_digest != decision.digest:
        result.problems.append("the stored record's digest is not the stored digest: the record was altered")
    columns = {
        "outcome": decision.outcome,
        "previous_digest": decision.previous_digest,
        "next_review": decision.next_review.isoformat(),
        "recorded_at": decision.recorded_at.isoformat(),
        "blockers": decision.blockers,
        "exceptions": decision.exceptions,
        "follow_up": decision.follow_up,
    }
    for name, value in columns.items():
        for d in diff(value, record.get(name, MISSING), name):
            result.problems.append(f"column {d.path} is {d.stored_text} but the record says {d.given_text}")
    _check_chain(result, decision)
    return result


# A decision record nests a few levels (record → scorecard → row → evidence → item); nothing deeper is one,
# and a deeper value would exhaust the stack of the digest and the field-by-field comparison.
RECORD_MAX_DEPTH = 64


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than `limit`, without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def parse_record_file(data: bytes) -> tuple[dict, str | None]:
    """A record file as downloaded ({"digest", "record"}) or a bare record: (record, claimed digest)."""
    too_deep = RecordError(f"This JSON nests deeper than any decision record ({RECORD_MAX_DEPTH} levels).")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError(f"This is not a JSON file: {err}") from None
    try:
        body = json.loads(text)
    except RecursionError:  # the parser stops at the interpreter's recursion limit
        raise too_deep from None
    except ValueError as err:  # not JSON, or a number of more digits than Python converts
        raise RecordError(f"This is not a JSON file: {err}") from None
    if _depth_exceeds(body, RECORD_MAX_DEPTH):
        raise too_deep
    try:
        canonical_json(body)
    except UnicodeEncodeError:  # "\ud800": a lone surrogate escape has no UTF-8 form, hence no digest
        raise RecordError("This JSON holds text that is not valid Unicode (a lone surrogate).") from None
    if not isinstance(body, dict):
        raise RecordError("A decision record is a JSON object.")
    if isinstance(body.get("record"), dict):
        claimed = body.get("digest")
        if claimed is not None and not isinstance(claimed, str):
            raise RecordError("The file's digest is not a string.")
        return body["record"], claimed
    if "outcome" in body and "schema" in body:
        return body, None
    raise RecordError('This JSON is not a decision record: it has neither "record" nor "outcome".')


def find_stored(record: dict, claimed: str | None, decisions: QuerySet[Decision]) -> Decision | None:
    """The stored decision a record claims to be: by its digest, else by the review it decides."""
    for digest in (claimed, record_digest(record)):
        if digest:
            found = decisions.filter(digest=digest).first()
            if found:
                return found
    review = record.get("review")
    review_id = review.get("id") if isinstance(review, dict) else None
    if isinstance(review_id, int) and not isinstance(review_id, bool):
        return decisions.filter(review_id=review_id).first()
    return None


def verify_given(record: dict, *, claimed: str | None, decision: Decision | None) -> Verification:
    """Compare a given record (an uploaded file) with the stored decision it claims to be."""
    result = Verification(computed_digest=record_digest(record), decision=decision, claimed_digest=claimed)
    if claimed is not None and claimed != result.computed_digest:
        result.problems.append("the digest written in the file is not the digest of the record in it")
    if decision is None:
        result.problems.append("no stored decision has this digest or decides this review")
        return result
    result.differences = diff(decision.record, record)
    if result.computed_digest != decision.digest and not result.differences:
        result.problems.append("the record's digest differs from the stored digest")
    _check_chain(result, decision)
    return result
