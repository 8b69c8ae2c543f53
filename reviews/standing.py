"""Where a system stands: the worst gate across every review that still counts for it.

A newer review must not hide an older one. What a deploy pipeline needs to know, asking about a system
without naming a release, is whether *anything* currently under review or last decided for it says
"do not ship". So these reviews count:

- every open review (draft or in meeting), judged by its gate now;
- the review of the system's latest decision, judged by its recorded outcome, made worse (never better)
  by its gate now when that is BLOCKED (an exception the approval leaned on has since expired or been
  revoked). A later decision supersedes it; older decided reviews no longer count.

The system's outcome is the worst of them, in the order BLOCKED > INCOMPLETE (not yet decidable: a
pipeline must not ship on an unfinished review either) > APPROVED_WITH_EXCEPTIONS > APPROVED. On a tie
the newest review is the one shown. A pipeline that ships one release asks for that release
(`GET /api/systems/{slug}/gate?release=...`) and gets that review's gate alone.

`system_states` answers for many systems in a fixed number of queries (dashboard, API); the portfolio
builds its rows with the same `SEVERITY` and `decided_outcome` from its own bulk reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from . import gate as gate_rules
from .models import Decision, Review, ReviewState, System

Outcome = gate_rules.GateOutcome

# Worst first.
SEVERITY = {
    Outcome.BLOCKED: 0,
    Outcome.INCOMPLETE: 1,
    Outcome.APPROVED_WITH_EXCEPTIONS: 2,
    Outcome.APPROVED: 3,
}


@dataclass(frozen=True, slots=True)
class Counted:
    """One review that counts for its system, and the outcome it counts with."""

    review: Review
    gate: gate_rules.GateResult
    outcome: Outcome
    decided: bool  # the review of the system's latest decision (else: an open review)


@dataclass(frozen=True, slots=True)
class SystemState:
    reviews: tuple[Counted, ...] = field(default_factory=tuple)  # newest first

    @property
    def worst(self) -> Counted | None:
        """The review the system's outcome comes from (the newest of the worst)."""
        return min(self.reviews, key=lambda c: SEVERITY[c.outcome], default=None)

    @property
    def outcome(self) -> Outcome | None:
        """None when the system has no open review and no decision."""
        worst = self.worst
        return worst.outcome if worst else None

    @property
    def blocked(self) -> list[Counted]:
        return [c for c in self.reviews if c.outcome == Outcome.BLOCKED]


def decided_outcome(decision_outcome: str, gate_now: gate_rules.GateResult) -> Outcome:
    """What the latest decision counts as now: as recorded, or BLOCKED when its gate now blocks."""
    if gate_now.outcome == Outcome.BLOCKED:
        return Outcome.BLOCKED
    return Outcome(decision_outcome)


def worst(outcomes: Iterable[Outcome]) -> Outcome | None:
    return min(outcomes, key=SEVERITY.__getitem__, default=None)


def system_states(
    systems: Iterable[System],
    *,
    now: datetime | None = None,
    latest: dict[int, Decision] | None = None,
    also: Iterable[int] = (),
) -> tuple[dict[int, SystemState], dict[int, Review]]:
    """({system id: SystemState}, {review id: Review}) for these systems in six queries whatever their
    number, five when the caller has the latest decisions (`latest`, as selectors.latest_decisions_by_
    system gives them). The reviews of `also` are read in the same query (the dashboard's newest)."""
    from django.db.models import Q

    from .selectors import latest_decisions_by_system, review_gates

    now = now or timezone.now()
    systems = list(systems)
    ids = [s.pk for s in systems]
    if not ids:
        return {}, {}
    latest = latest_decisions_by_system(systems) if latest is None else latest
    decided = {sid: (d.review_id, d.outcome) for sid, d in latest.items()}
    wanted = {rid for rid, _ in decided.values()} | set(also)
    reviews = {
        r.pk: r
        for r in Review.objects.filter(
            Q(system_id__in=ids) & ~Q(state=ReviewState.DECIDED) | Q(pk__in=wanted)
        ).order_by("-created_at", "-id")
    }
    counted_ids = {rid for rid, _ in decided.values()} | {
        r.pk for r in reviews.values() if r.state != ReviewState.DECIDED
    }
    gates = review_gates([r for r in reviews.values() if r.pk in counted_ids], now=now)
    by_system: dict[int, list[Counted]] = {}
    for r in reviews.values():  # newest first
        if r.state != ReviewState.DECIDED:
            by_system.setdefault(r.system_id, []).append(Counted(r, gates[r.pk], gates[r.pk].outcome, False))
        elif decided.get(r.system_id, (None,))[0] == r.pk:
            outcome = decided_outcome(decided[r.system_id][1], gates[r.pk])
            by_system.setdefault(r.system_id, []).append(Counted(r, gates[r.pk], outcome, True))
    return {sid: SystemState(tuple(by_system.get(sid, ()))) for sid in ids}, reviews


def system_state(system: System, *, now: datetime | None = None) -> SystemState:
    """Where one system stands (see the module): the reviews that count and the worst of them."""
    return system_states([system], now=now)[0][system.pk]
