"""What the gate needs to know of each (review, category), read in bulk: one review's page and the
portfolio's hundreds of reviews build their gate inputs from these same reads, so they cannot disagree.

- the evidence: how many items, how many fresh, how many fresh and supporting readiness
  (evidence.verdict), what those show toward a 3, and the records that fail;
- the critical checklist items and their answers.

Four queries whatever the number of reviews, plain values only (no model instances)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, F, OuterRef, Q

from evidence import freshness, kinds, verdict
from evidence.freshness import fresh_q as freshness_q
from evidence.models import Evidence, EvidenceKind, RunbookTest

from . import gate as gate_rules
from .models import ChecklistAnswer, ChecklistItem

KIND_LABELS = dict(EvidenceKind.choices)


@dataclass(frozen=True)
class EvidenceFacts:
    count: int = 0
    fresh: int = 0
    supporting: int = 0  # fresh and supporting readiness
    shows: frozenset[str] = frozenset()  # what the fresh, supporting items show toward a 3
    failed: tuple[gate_rules.FailedEvidenceIn, ...] = ()
    incomplete: tuple[gate_rules.FailedEvidenceIn, ...] = ()  # fresh records that are unfinished


NO_EVIDENCE = EvidenceFacts()

_FIELDS = (
    "review_id",
    "category_id",
    "id",
    "kind",
    "title",
    "shows",
    "observed_at",
    "restore_drill__requested_recovery_point",
    "restore_drill__actual_recovery_point",
    "restore_drill__started_at",
    "restore_drill__ended_at",
    "restore_drill__rpo_target_minutes",
    "restore_drill__rto_target_minutes",
    "restore_drill__validation_passed",
    "load_test__p95_ms",
    "load_test__target_p95_ms",
    "migration_rehearsal__validation_passed",
    "runbook__id",
    "runbook__last_tested",
    "runbook_test__passed",
    "runbook_tested",
    "record__data",
)


def _verdict(row: dict) -> verdict.Verdict:
    kind = row["kind"]
    if (spec := kinds.get(kind)) is not None:
        return spec.verdict(row["record__data"]) if row["record__data"] is not None else verdict.SUPPORTS
    if kind == EvidenceKind.RESTORE_DRILL and row["restore_drill__started_at"] is not None:
        return verdict.restore_drill(
            rpo_achieved=row["restore_drill__requested_recovery_point"]
            - row["restore_drill__actual_recovery_point"],
            rpo_target_minutes=row["restore_drill__rpo_target_minutes"],
            rto_achieved=row["restore_drill__ended_at"] - row["restore_drill__started_at"],
            rto_target_minutes=row["restore_drill__rto_target_minutes"],
            validation_passed=row["restore_drill__validation_passed"],
        )
    if kind == EvidenceKind.LOAD_TEST and row["load_test__p95_ms"] is not None:
        return verdict.load_test(
            p95_ms=row["load_test__p95_ms"], target_p95_ms=row["load_test__target_p95_ms"]
        )
    if kind == EvidenceKind.MIGRATION_REHEARSAL and row["migration_rehearsal__validation_passed"] is not None:
        return verdict.migration_rehearsal(validation_passed=row["migration_rehearsal__validation_passed"])
    if kind == EvidenceKind.RUNBOOK_TEST and row["runbook_test__passed"] is not None:
        return verdict.runbook_test(passed=row["runbook_test__passed"])
    if kind == EvidenceKind.RUNBOOK and row["runbook__id"] is not None:
        return verdict.runbook(
            last_tested=row["runbook__last_tested"], passed_tests=1 if row["runbook_tested"] else 0
        )
    return verdict.SUPPORTS


# The kinds whose records can fail (evidence.verdict); every other kind supports readiness as it is.
JUDGED_KINDS = (
    EvidenceKind.RESTORE_DRILL,
    EvidenceKind.LOAD_TEST,
    EvidenceKind.MIGRATION_REHEARSAL,
    EvidenceKind.RUNBOOK,
    EvidenceKind.RUNBOOK_TEST,
)
# An item of a judged kind that has its record (the related name is the kind).
JUDGED = Q(kind__in=list(kinds.KINDS), record__isnull=False)  # the kinds declared in evidence.kinds
for _kind in JUDGED_KINDS:
    JUDGED |= Q(kind=_kind, **{f"{_kind}__isnull": False})


# The judged items of the built-in kinds whose verdict (evidence.verdict) SQL decides as well, when they
# support readiness: counted in SQL with the kinds that cannot fail, so that only the items that fail, and
# those of the kinds whose verdict only Python knows, are read row by row. Each branch is `_verdict`'s
# for that kind, read as "supports"; tests/reviews/test_gate_facts.py holds them to verdict.of.
SUPPORTS_IN_SQL = (
    Q(kind=EvidenceKind.LOAD_TEST, load_test__isnull=False)
    & (Q(load_test__target_p95_ms__isnull=True) | Q(load_test__p95_ms__lte=F("load_test__target_p95_ms")))
    | Q(kind=EvidenceKind.MIGRATION_REHEARSAL, migration_rehearsal__isnull=False)
    & (
        Q(migration_rehearsal__validation_passed=True)
        | Q(migration_rehearsal__validation_passed__isnull=True)
    )
    | Q(kind=EvidenceKind.RUNBOOK_TEST, runbook_test__isnull=False)
    & (Q(runbook_test__passed=True) | Q(runbook_test__passed__isnull=True))
    | Q(kind=EvidenceKind.RUNBOOK, runbook__isnull=False)
    & (
        Q(runbook__last_tested__isnull=False)
        | Exists(RunbookTest.objects.filter(runbook_id=OuterRef("runbook__id"), passed=True))
    )
)


def evidence_facts(review_ids: list[int], *, now: datetime) -> dict[tuple[int, int], EvidenceFacts]:
    """{(review_id, category_id): EvidenceFacts} in two queries: counted in SQL the kinds that cannot
    fail (links and files are most of a portfolio's evidence) and the judged items SQL knows support
    readiness (SUPPORTS_IN_SQL), the other judged items read row by row: so the rows read grow with the
    records that fail, not with the evidence."""
    table = freshness.max_age_table()
    acc: dict[tuple[int, int], list] = {}

    def slot(key):
        facts = acc.get(key)
        if facts is None:
            facts = acc[key] = [0, 0, 0, set(), [], []]
        return facts

    for review_id, category_id, kind, shows, n, fresh in (
        Evidence.objects.filter(review_id__in=review_ids)
        .alias(counted=ExpressionWrapper(~JUDGED | SUPPORTS_IN_SQL, output_field=BooleanField()))
        .filter(counted=True)
        .order_by()
        .values_list("review_id", "category_id", "kind", "shows")
        .annotate(n=Count("id"), fresh=Count("id", filter=freshness_q(now)))
        .values_list("review_id", "category_id", "kind", "shows", "n", "fresh")
    ):
        facts = slot((review_id, category_id))
        facts[0] += n
        facts[1] += fresh
        facts[2] += fresh
        if fresh:
            facts[3].update(verdict.shows(kind, shows))
    rows = (
        Evidence.objects.filter(JUDGED, review_id__in=review_ids)
        .alias(counted=ExpressionWrapper(SUPPORTS_IN_SQL, output_field=BooleanField()))
        .filter(counted=False)
        .annotate(
            runbook_tested=Exists(RunbookTest.objects.filter(runbook_id=OuterRef("runbook__id"), passed=True))
        )
        .order_by("observed_at", "id")
        .values(*_FIELDS)
    )
    for row in rows:
        facts = slot((row["review_id"], row["category_id"]))
        facts[0] += 1
        judged = _verdict(row)
        if not judged.supports and not judged.incomplete:
            facts[4].append(
                gate_rules.FailedEvidenceIn(
                    row["id"], KIND_LABELS.get(row["kind"], row["kind"]), row["title"], judged.why
                )
            )
        if freshness.is_stale(row["kind"], row["observed_at"], now, table):
            continue
        facts[1] += 1
        if judged.incomplete:
            facts[5].append(
                gate_rules.FailedEvidenceIn(
                    row["id"], KIND_LABELS.get(row["kind"], row["kind"]), row["title"], judged.why
                )
            )
        if judged.supports:
            facts[2] += 1
            facts[3].update(verdict.shows(row["kind"], row["shows"]))
    return {
        key: EvidenceFacts(count, fresh, supporting, frozenset(shows), tuple(failed), tuple(incomplete))
        for key, (count, fresh, supporting, shows, failed, incomplete) in acc.items()
    }


def critical_items(
    catalogue_of: dict[int, int],
) -> dict[tuple[int, int], tuple[gate_rules.CriticalItemIn, ...]]:
    """{(review_id, category_id): the category's critical items with the review's answers}: two queries.
    `catalogue_of`: {review_id: catalogue version id}."""
    items: dict[int, dict[int, list[tuple]]] = {}  # {version: {category: [(pk, code, text, level)]}}
    for pk, version_id, category_id, code, text, level in (
        ChecklistItem.objects.filter(
            category__version_id__in=set(catalogue_of.values()), critical_level__isnull=False
        )
        .order_by("category__number", "position", "pk")
        .values_list("pk", "category__version_id", "category_id", "code", "text", "critical_level")
    ):
        items.setdefault(version_id, {}).setdefault(category_id, []).append((pk, code, text, level))
    if not items:
        return {}
    answers = {
        (review_id, item_id): answer
        for review_id, item_id, answer in ChecklistAnswer.objects.filter(
            review_id__in=list(catalogue_of), item__critical_level__isnull=False
        ).values_list("review_id", "item_id", "answer")
    }
    # Most reviews answer alike: one immutable tuple per (category, answers), shared between them.
    shared: dict[tuple, tuple[gate_rules.CriticalItemIn, ...]] = {}
    result: dict[tuple[int, int], tuple[gate_rules.CriticalItemIn, ...]] = {}
    for review_id, version_id in catalogue_of.items():
        for category_id, category_items in items.get(version_id, {}).items():
            said = tuple(answers.get((review_id, pk)) for pk, _, _, _ in category_items)
            value = shared.get((category_id, said))
            if value is None:
                value = shared[(category_id, said)] = tuple(
                    gate_rules.CriticalItemIn(pk, code, text, level, answer)
                    for (pk, code, text, level), answer in zip(category_items, said, strict=True)
                )
            result[(review_id, category_id)] = value
    return result


def minimum_of(category) -> gate_rules.MinimumIn | None:
    """The gate's minimum a Category carries in its catalogue version (None: none)."""
    if category.minimum_score is None:
        return None
    return gate_rules.MinimumIn(category.minimum_score, category.minimum_when or "always")


def score_in(
    *,
    code: str,
    name: str,
    score: int | None,
    has_owner: bool,
    evidence: EvidenceFacts,
    critical: tuple[gate_rules.CriticalItemIn, ...],
    minimum: gate_rules.MinimumIn | None | str = gate_rules.BUILT_IN,
) -> gate_rules.ScoreIn:
    return gate_rules.ScoreIn(
        category_code=code,
        category_name=name,
        score=score,
        evidence_count=evidence.count,
        fresh_evidence_count=evidence.fresh,
        supporting_count=evidence.supporting,
        failed=evidence.failed,
        incomplete=evidence.incomplete,
        shows=evidence.shows,
        has_owner=has_owner if score is not None else None,
        critical=critical,
        minimum=minimum,
    )
