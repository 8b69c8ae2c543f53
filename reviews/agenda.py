"""The 13-step meeting agenda of seed §21: what each step discusses, and when a step is done.

Pure data and pure functions: `step_states` derives each step's state from facts about the review,
so the agenda needs no stored "done" flags that could drift from the review itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import AGENDA_STEPS


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    kind: str  # scope | categories | scoring | blockers | owners
    categories: tuple[str, ...] = ()
    prompt: str = ""

    @property
    def slug(self) -> str:
        return str(self.number)

    @property
    def guide(self) -> str:
        """The key of this step's place in the guide (guide.links): "step-3"."""
        return f"step-{self.number}"


STEPS: tuple[Step, ...] = (
    Step(
        1,
        AGENDA_STEPS[0],
        "scope",
        prompt="What does this release change? Does it change the schema? "
        "Does it serve production traffic? The answers decide which minimums of the gate apply.",
    ),
    Step(
        2,
        AGENDA_STEPS[1],
        "categories",
        ("ownership", "integration"),
        "Which entities is this database authoritative for, what is only derived, who may write, "
        "and who wins in a conflict?",
    ),
    Step(
        3,
        AGENDA_STEPS[2],
        "categories",
        ("data-model", "schema"),
        "Which invariants matter most, where is each enforced, and how is it tested?",
    ),
    Step(
        4,
        AGENDA_STEPS[3],
        "categories",
        ("transaction",),
        "For each critical write: idempotency, locks, isolation, retries and side effects.",
    ),
    Step(
        5,
        AGENDA_STEPS[4],
        "categories",
        ("query-index", "capacity"),
        "Named access patterns with latency and frequency, index contracts and plan evidence.",
    ),
    Step(
        6,
        AGENDA_STEPS[5],
        "categories",
        ("migration",),
        "Expand/migrate/contract, locks taken, runtime on production-like data, rollback.",
    ),
    Step(
        7,
        AGENDA_STEPS[6],
        "categories",
        ("backup", "replication"),
        "Backup is not the product; restore is. Measured RPO and RTO from a recent drill.",
    ),
    Step(
        8,
        AGENDA_STEPS[7],
        "categories",
        ("observability",),
        "What is broken, why, and what is the safest next action: signals, dashboards, alerts.",
    ),
    Step(
        9,
        AGENDA_STEPS[8],
        "categories",
        ("security", "privacy"),
        "Least privilege, no superuser application role, RLS tested, PII classified and retained by rule.",
    ),
    Step(
        10,
        AGENDA_STEPS[9],
        "categories",
        ("runbooks",),
        "A runbook for every high-risk failure, with its forbidden actions and its last test.",
    ),
    Step(11, AGENDA_STEPS[10], "scoring", prompt="Score each category 0–3. A 2 or 3 needs evidence."),
    Step(
        12, AGENDA_STEPS[11], "blockers", prompt="Every P0 must be fixed; every P1 needs a signed exception."
    ),
    Step(
        13,
        AGENDA_STEPS[12],
        "owners",
        prompt="Every open finding gets an owner; a P2 gets a due date; set the next review date.",
    ),
)
LAST_STEP = len(STEPS)


def step(number: int) -> Step:
    return STEPS[number - 1]


@dataclass(frozen=True)
class Facts:
    """What the agenda needs to know about a review, gathered in a fixed number of queries."""

    release_scope: str
    source_of_truth: str
    scored: frozenset[str]  # category codes with a score
    category_count: int
    unresolved_p0: int
    p1_without_exception: int  # unresolved P1 with no exception requested or signed
    open_without_owner: int  # unresolved P1–P3 without an owner
    next_review_date_set: bool
    decided: bool
    extra: dict = field(default_factory=dict)


def step_done(s: Step, facts: Facts) -> bool:
    if s.kind == "scope":
        return bool(facts.release_scope.strip())
    if s.kind == "categories":
        done = all(code in facts.scored for code in s.categories)
        if s.number == 2:
            done = done and bool(facts.source_of_truth.strip())
        return done
    if s.kind == "scoring":
        return len(facts.scored) >= facts.category_count
    if s.kind == "blockers":
        return facts.unresolved_p0 == 0 and facts.p1_without_exception == 0
    if s.kind == "owners":
        return facts.open_without_owner == 0 and facts.next_review_date_set
    raise ValueError(s.kind)


def step_states(facts: Facts) -> list[tuple[Step, bool]]:
    return [(s, step_done(s, facts)) for s in STEPS]
