"""The readiness gate (seed §3–§4): a pure function from a review's state to its outcome and reasons.

It knows nothing of the database; `selectors.gate_input_for` builds its input from a review.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache


class GateOutcome(StrEnum):
    APPROVED = "APPROVED"
    APPROVED_WITH_EXCEPTIONS = "APPROVED_WITH_EXCEPTIONS"
    BLOCKED = "BLOCKED"
    INCOMPLETE = "INCOMPLETE"  # not yet decidable: categories unscored, release flags unanswered

    @property
    def label(self) -> str:
        return {
            "APPROVED": "Approved",
            "APPROVED_WITH_EXCEPTIONS": "Approved with exceptions",
            "BLOCKED": "Blocked",
            "INCOMPLETE": "Not yet decidable",
        }[self.value]


class ReasonStatus(StrEnum):
    BLOCKS = "blocks"
    EXCEPTION = "exception"  # passes only because of a signed, unexpired exception
    PENDING = "pending"  # cannot be judged yet
    MET = "met"


# The category minimums of seed §4: (category code, minimum score, when it applies).
BACKUP, SECURITY, MIGRATION, OBSERVABILITY = "backup", "security", "migration", "observability"
MINIMUM_SCORE = 2


@dataclass(frozen=True)
class MinimumIn:
    """A category's minimum in the gate (Category.minimum_score/minimum_when): at least `score`, always
    or when the release flag `when` ("schema_changing", "production_traffic") is yes."""

    score: int
    when: str = "always"


# Catalogue version 1's minimums, which a ScoreIn built without its catalogue's (minimum=BUILT_IN) follows.
BUILT_IN = "built-in"
BUILT_IN_MINIMUMS = {
    BACKUP: MinimumIn(MINIMUM_SCORE),
    SECURITY: MinimumIn(MINIMUM_SCORE),
    MIGRATION: MinimumIn(MINIMUM_SCORE, "schema_changing"),
    OBSERVABILITY: MinimumIn(MINIMUM_SCORE, "production_traffic"),
}
WHEN_LABELS = {
    "always": "always",
    "schema_changing": "schema-changing release",
    "production_traffic": "production traffic",
}
# A score at or above this needs evidence to count (DESIGN.md: "2 or 3 with no evidence is not accepted").
EVIDENCE_REQUIRED_FROM = 2
# What a 3 is (seed §4): "control, automated test or monitoring, runbook, and owner". Each piece of
# evidence shows some of these (evidence.verdict.roles); a 3 whose fresh, supporting evidence does not
# show all three, or that has no owner, counts as 2.
CONTROL, TEST, RUNBOOK = "control", "test", "runbook"
PROOF_ROLES = (CONTROL, TEST, RUNBOOK)
ROLE_NAMES = {CONTROL: "a control", TEST: "an automated test or monitoring", RUNBOOK: "a runbook"}


@dataclass(frozen=True)
class CriticalItemIn:
    """A checklist item whose "No" is a blocker or a serious finding (ChecklistItem.critical_level)."""

    item_id: int
    code: str
    text: str
    level: str  # "P0" or "P1"
    answer: str | None  # Answer value; None: not answered

    @property
    def holds(self) -> bool:
        """Answered yes, or not applicable (with a reason, which the service requires)."""
        return self.answer in ("yes", "na")

    def describe(self) -> str:
        said = {"no": "answered No", "unknown": "answered Unknown", None: "not answered"}[self.answer]
        return f"“{self.text.rstrip('.')}” is {said}"


@dataclass(frozen=True)
class FailedEvidenceIn:
    """A typed evidence record that does not support readiness, and why (evidence.verdict)."""

    evidence_id: int
    kind_label: str  # "Restore drill"
    title: str
    why: str  # "missed its RPO target (…) and failed validation"

    def describe(self) -> str:
        return f"{self.kind_label.lower()} “{self.title}” {self.why}"


@dataclass(frozen=True)
class ScoreIn:
    category_code: str
    category_name: str
    score: int | None  # None: not scored yet
    evidence_count: int = 0
    # How many of those items are fresh (evidence.freshness). None: not computed, every item counts as
    # fresh, as before freshness existed.
    fresh_evidence_count: int | None = None
    # Of the fresh items, how many support readiness (evidence.verdict): a failed drill does not.
    # None: not judged, every fresh item supports.
    supporting_count: int | None = None
    failed: tuple[FailedEvidenceIn, ...] = ()  # the records that do not support it, whatever their age
    # Fresh records that support nothing because they are unfinished (a field they ask for is empty).
    incomplete: tuple[FailedEvidenceIn, ...] = ()
    # What the fresh, supporting evidence shows (PROOF_ROLES) and whether the score has an owner.
    # None: not judged, so a 3 stays a 3 (as before these rules).
    shows: frozenset[str] | None = None
    has_owner: bool | None = None
    critical: tuple[CriticalItemIn, ...] = ()  # the category's critical checklist items
    # The category's minimum in its catalogue version; None: none. BUILT_IN: version 1's rule for the code.
    minimum: MinimumIn | None | str = BUILT_IN

    @property
    def only_stale_evidence(self) -> bool:
        """It has evidence, but every item is past its maximum age."""
        return self.evidence_count > 0 and self.fresh_evidence_count == 0

    @property
    def supporting(self) -> int:
        """Fresh items that support readiness (every item when neither is judged)."""
        if self.supporting_count is not None:
            return self.supporting_count
        return self.evidence_count if self.fresh_evidence_count is None else self.fresh_evidence_count

    @property
    def open_critical(self) -> tuple[CriticalItemIn, ...]:
        """Critical items answered No or Unknown, or not answered: each caps the score at 1."""
        return tuple(c for c in self.critical if not c.holds)

    @property
    def missing_for_three(self) -> list[str]:
        """What a 3 lacks (seed §4: control, automated test or monitoring, runbook, owner)."""
        missing = [] if self.shows is None else [ROLE_NAMES[r] for r in PROOF_ROLES if r not in self.shows]
        if self.has_owner is False:
            missing.append("an owner")
        return missing


@dataclass(frozen=True)
class ExceptionIn:
    state: str  # ExceptionState value
    expires_at: datetime

    def active(self, now: datetime) -> bool:
        return self.state == "signed" and self.expires_at > now


@dataclass(frozen=True)
class FindingIn:
    id: int
    title: str
    level: str  # "P0".."P3"
    status: str  # open / resolved / accepted
    category_code: str = ""
    exceptions: tuple[ExceptionIn, ...] = ()
    checklist_item_id: int | None = None  # opened by answering a critical checklist item No

    @property
    def unresolved(self) -> bool:
        return self.status != "resolved"


@dataclass(frozen=True)
class GateInput:
    # The release flags (seed §4's conditional minimums). None: the chair has not answered yet, and the
    # gate cannot decide until both are answered.
    schema_changing: bool | None
    production_traffic: bool | None
    scores: tuple[ScoreIn, ...]
    findings: tuple[FindingIn, ...]
    now: datetime


@dataclass(frozen=True)
class Reason:
    rule: str  # a stable id: "p0", "p1", "minimum:backup", "unscored", "release:schema_changing"
    status: ReasonStatus
    message: str
    category_code: str = ""
    finding_id: int | None = None


@dataclass(frozen=True)
class Note:
    """Worth saying beside the reasons, but no rule's verdict: e.g. a category without a minimum whose
    2–3 rests only on stale evidence (it counts as 1, which no rule of the gate looks at)."""

    rule: str  # "stale:<code>", "counts:<code>" (a score believed lower), "evidence:<id>" (a failed record)
    message: str
    category_code: str = ""


@dataclass(frozen=True)
class GateResult:
    outcome: GateOutcome
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    notes: tuple[Note, ...] = field(default_factory=tuple)
    # How many findings of a rule and status there are when the input held only the first few of them
    # (the meeting counts the rest in SQL): {(rule, status): total}. Empty: the reasons name them all.
    finding_totals: Mapping[tuple[str, ReasonStatus], int] = field(default_factory=dict, compare=False)

    @property
    def blockers(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.status == ReasonStatus.BLOCKS)

    @property
    def exceptions(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.status == ReasonStatus.EXCEPTION)

    @property
    def pending(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.status == ReasonStatus.PENDING)

    def summarized(self, per_rule: int = 6) -> list[Reason]:
        """The reasons for a panel: every rule's verdict, but at most `per_rule` findings of the same
        rule and status, followed by one line that counts the rest."""
        shown: list[Reason] = []
        seen: dict[tuple[str, ReasonStatus], int] = {}
        tail: dict[tuple[str, ReasonStatus], int] = {}
        for reason in self.reasons:
            key = (reason.rule, reason.status)
            if reason.finding_id is not None:
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > per_rule:
                    if key not in tail:
                        tail[key] = len(shown)
                        shown.append(reason)  # placeholder, replaced below
                    continue
            shown.append(reason)
        for (rule, status), index in sorted(tail.items(), key=lambda kv: -kv[1]):
            more = self.finding_totals.get((rule, status), seen[(rule, status)]) - per_rule
            what = "P0 blockers" if rule == "p0" else "P1 findings"
            shown[index] = Reason(rule, status, f"… and {more} more {what} like these")
        return shown


@lru_cache(maxsize=8192)  # ScoreIn is immutable; the portfolio shares its inputs between reviews
def judge(score: ScoreIn) -> tuple[int | None, tuple[str, ...]]:
    """The score the gate believes, and why it is lower than the one given (empty when it is not).

    - a 2 or 3 needs evidence that is fresh and supports readiness (DESIGN.md: no evidence, no
      readiness; a restore drill that missed its targets is no evidence of a working restore): else 1;
    - a 3 needs a control, an automated test or monitoring, a runbook and an owner (seed §4): else 2;
    - a critical checklist item answered No or Unknown, or not answered, caps the category at 1."""
    if score.score is None:
        return None, ()
    believed, why = score.score, []
    if believed >= EVIDENCE_REQUIRED_FROM:
        if score.evidence_count == 0:
            believed = 1
            why.append("has no evidence")
        elif score.supporting == 0:
            believed = 1
            if score.failed or score.incomplete:
                parts = []
                if score.failed:
                    parts.append(
                        f"its evidence does not support it ({'; '.join(f.describe() for f in score.failed)})"
                    )
                if score.incomplete:
                    parts.append(
                        f"its evidence is incomplete ({'; '.join(f.describe() for f in score.incomplete)})"
                    )
                rest = score.evidence_count > len(score.failed) + len(score.incomplete)
                why.append(" and ".join(parts) + (", and the rest is stale" if rest else ""))
            else:
                why.append(_stale_note(score))
    if believed == 3 and score.missing_for_three:
        believed = 2
        why.append(f"a 3 also needs {_and(score.missing_for_three)}, which it lacks")
    open_items = score.open_critical
    if open_items and believed > 1:
        believed = 1
        why.append(
            "critical checklist "
            + ("item " if len(open_items) == 1 else "items ")
            + _and([c.describe() for c in open_items])
        )
    return believed, tuple(why)


def effective_score(score: ScoreIn) -> int | None:
    """The score the gate believes (see `judge`)."""
    return judge(score)[0]


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _stale_note(score: ScoreIn) -> str:
    n = score.evidence_count
    return f"its {'only evidence is' if n == 1 else f'{n} evidence items are all'} stale"


def _minimum_rules(gate: GateInput) -> list[tuple[str, int, str]]:
    """(code, minimum, when) of the minimums that apply: always ones first, then the release flags'."""
    if all(s.minimum == BUILT_IN for s in gate.scores):
        declared = list(BUILT_IN_MINIMUMS.items())  # said even of a category missing from the scores
    else:
        declared = [
            (s.category_code, BUILT_IN_MINIMUMS.get(s.category_code) if s.minimum == BUILT_IN else s.minimum)
            for s in gate.scores
        ]
    rules = [
        (code, m.score, m.when)
        for code, m in declared
        if m is not None and (m.when == "always" or getattr(gate, m.when))
    ]
    return sorted(rules, key=lambda rule: list(WHEN_LABELS).index(rule[2]))  # stable: catalogue order


RELEASE_FLAGS = (
    (
        "schema_changing",
        "The chair has not said whether this release changes the schema "
        "(if it does, migration safety must score at least 2)",
    ),
    (
        "production_traffic",
        "The chair has not said whether this release serves production traffic "
        "(if it does, observability must score at least 2)",
    ),
)


def evaluate(gate: GateInput) -> GateResult:
    reasons: list[Reason] = []

    for finding in gate.findings:
        if not finding.unresolved:
            continue
        if finding.level == "P0":
            reasons.append(
                Reason(
                    "p0",
                    ReasonStatus.BLOCKS,
                    f"Open P0 blocker: {finding.title}",
                    finding.category_code,
                    finding.id,
                )
            )
        elif finding.level == "P1":
            active = [e for e in finding.exceptions if e.active(gate.now)]
            if active:
                until = max(e.expires_at for e in active)
                reasons.append(
                    Reason(
                        "p1",
                        ReasonStatus.EXCEPTION,
                        f"P1 ships on a signed exception until {until:%Y-%m-%d}: {finding.title}",
                        finding.category_code,
                        finding.id,
                    )
                )
            else:
                if any(e.state in {"signed", "expired"} for e in finding.exceptions):
                    why = "its exception has expired"
                elif any(e.state == "requested" for e in finding.exceptions):
                    why = "its exception still awaiting a signature"
                else:
                    why = "no signed exception"
                reasons.append(
                    Reason(
                        "p1",
                        ReasonStatus.BLOCKS,
                        f"Open P1 with {why}: {finding.title}",
                        finding.category_code,
                        finding.id,
                    )
                )

    # The release flags have no default: until the chair answers both, the gate cannot decide.
    undecided = [
        Reason(f"release:{flag}", ReasonStatus.PENDING, message)
        for flag, message in RELEASE_FLAGS
        if getattr(gate, flag) is None
    ]
    reasons.extend(undecided)

    by_code = {s.category_code: s for s in gate.scores}
    minimum_codes = set()
    for code, minimum, when in _minimum_rules(gate):
        minimum_codes.add(code)
        score = by_code.get(code)
        name = score.category_name if score else code
        rule = f"minimum:{code}"
        condition = "" if when == "always" else f" ({WHEN_LABELS[when]})"
        if score is None or score.score is None:
            reasons.append(
                Reason(
                    rule,
                    ReasonStatus.PENDING,
                    f"{name} is not scored; it needs at least {minimum}{condition}",
                    code,
                )
            )
            continue
        believed, why = judge(score)
        if believed >= minimum:
            counted = f" (counts as {believed}: {'; '.join(why)})" if why else ""
            reasons.append(
                Reason(
                    rule,
                    ReasonStatus.MET,
                    f"{name} scores {score.score}{counted}, at least {minimum}{condition}",
                    code,
                )
            )
        elif why:
            reasons.append(
                Reason(
                    rule,
                    ReasonStatus.BLOCKS,
                    f"{name} scores {score.score} but {'; '.join(why)}, so it counts as {believed}; "
                    f"it needs at least {minimum}{condition}",
                    code,
                )
            )
        else:
            reasons.append(
                Reason(
                    rule,
                    ReasonStatus.BLOCKS,
                    f"{name} scores {score.score}; it needs at least {minimum}{condition}",
                    code,
                )
            )

    # Outside the minimums a score believed lower is said, not a verdict: no rule of the gate looks at it.
    notes: list[Note] = []
    for score in gate.scores:
        believed, why = judge(score)
        if score.category_code not in minimum_codes and why:
            only_stale = score.only_stale_evidence and believed == 1 and len(why) == 1
            notes.append(
                Note(
                    f"{'stale' if only_stale else 'counts'}:{score.category_code}",
                    f"{score.category_name} scores {score.score} but {'; '.join(why)}, "
                    f"so it counts as {believed}",
                    score.category_code,
                )
            )
        # A failed record that the score's own sentence does not already name.
        named = " ".join(why)
        for failed in score.failed:
            if f"“{failed.title}”" not in named:
                notes.append(
                    Note(
                        f"evidence:{failed.evidence_id}",
                        f"{score.category_name}: {failed.describe()}, so it does not count as evidence",
                        score.category_code,
                    )
                )

    unscored = [s.category_name for s in gate.scores if s.score is None]
    if unscored:
        named = ": " + ", ".join(unscored) if len(unscored) <= 5 else ""
        reasons.append(
            Reason(
                "unscored",
                ReasonStatus.PENDING,
                f"{len(unscored)} of {len(gate.scores)} categories unscored{named}",
            )
        )

    if not any(r.rule == "p0" for r in reasons):
        reasons.append(Reason("p0", ReasonStatus.MET, "No open P0 blocker"))
    if not any(r.rule == "p1" for r in reasons):
        reasons.append(Reason("p1", ReasonStatus.MET, "No open P1 finding"))

    statuses = {r.status for r in reasons}
    if undecided:
        outcome = GateOutcome.INCOMPLETE  # whatever else holds: the minimums depend on the answers
    elif ReasonStatus.BLOCKS in statuses:
        outcome = GateOutcome.BLOCKED
    elif ReasonStatus.PENDING in statuses:
        outcome = GateOutcome.INCOMPLETE
    elif ReasonStatus.EXCEPTION in statuses:
        outcome = GateOutcome.APPROVED_WITH_EXCEPTIONS
    else:
        outcome = GateOutcome.APPROVED
    order = {ReasonStatus.BLOCKS: 0, ReasonStatus.EXCEPTION: 1, ReasonStatus.PENDING: 2, ReasonStatus.MET: 3}
    reasons.sort(key=lambda r: order[r.status])
    return GateResult(outcome, tuple(reasons), tuple(notes))
