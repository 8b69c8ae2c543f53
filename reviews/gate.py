"""The readiness gate (seed §3–§4): a pure function from a review's state to its outcome and reasons.

It knows nothing of the database; `selectors.gate_input_for` builds its input from a review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class GateOutcome(StrEnum):
    APPROVED = "APPROVED"
    APPROVED_WITH_EXCEPTIONS = "APPROVED_WITH_EXCEPTIONS"
    BLOCKED = "BLOCKED"
    INCOMPLETE = "INCOMPLETE"  # not yet decidable: categories are unscored

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
# A score at or above this needs evidence to count (DESIGN.md: "2 or 3 with no evidence is not accepted").
EVIDENCE_REQUIRED_FROM = 2


@dataclass(frozen=True)
class ScoreIn:
    category_code: str
    category_name: str
    score: int | None  # None: not scored yet
    evidence_count: int = 0
    # How many of those items are fresh (evidence.freshness). None: not computed, every item counts as
    # fresh, as before freshness existed.
    fresh_evidence_count: int | None = None

    @property
    def only_stale_evidence(self) -> bool:
        """It has evidence, but every item is past its maximum age."""
        return self.evidence_count > 0 and self.fresh_evidence_count == 0


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

    @property
    def unresolved(self) -> bool:
        return self.status != "resolved"


@dataclass(frozen=True)
class GateInput:
    schema_changing: bool
    production_traffic: bool
    scores: tuple[ScoreIn, ...]
    findings: tuple[FindingIn, ...]
    now: datetime


@dataclass(frozen=True)
class Reason:
    rule: str  # a stable id: "p0", "p1", "minimum:backup", "unscored"
    status: ReasonStatus
    message: str
    category_code: str = ""
    finding_id: int | None = None


@dataclass(frozen=True)
class Note:
    """Worth saying beside the reasons, but no rule's verdict: e.g. a category without a minimum whose
    2–3 rests only on stale evidence (it counts as 1, which no rule of the gate looks at)."""

    rule: str  # "stale:<category code>"
    message: str
    category_code: str = ""


@dataclass(frozen=True)
class GateResult:
    outcome: GateOutcome
    reasons: tuple[Reason, ...] = field(default_factory=tuple)
    notes: tuple[Note, ...] = field(default_factory=tuple)

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
            more = seen[(rule, status)] - per_rule
            what = "P0 blockers" if rule == "p0" else "P1 findings"
            shown[index] = Reason(rule, status, f"… and {more} more {what} like these")
        return shown


def effective_score(score: ScoreIn) -> int | None:
    """The score the gate believes: a 2 or 3 with no evidence counts as 1 (design, no evidence), and so
    does a 2 or 3 whose evidence has all gone stale."""
    if score.score is None:
        return None
    if score.score >= EVIDENCE_REQUIRED_FROM and (score.evidence_count == 0 or score.only_stale_evidence):
        return 1
    return score.score


def _stale_note(score: ScoreIn) -> str:
    n = score.evidence_count
    return f"its {'only evidence is' if n == 1 else f'{n} evidence items are all'} stale"


def _minimum_rules(gate: GateInput) -> list[tuple[str, str]]:
    rules = [(BACKUP, "always"), (SECURITY, "always")]
    if gate.schema_changing:
        rules.append((MIGRATION, "schema-changing release"))
    if gate.production_traffic:
        rules.append((OBSERVABILITY, "production traffic"))
    return rules


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

    by_code = {s.category_code: s for s in gate.scores}
    for code, when in _minimum_rules(gate):
        score = by_code.get(code)
        name = score.category_name if score else code
        rule = f"minimum:{code}"
        condition = "" if when == "always" else f" ({when})"
        if score is None or score.score is None:
            reasons.append(
                Reason(
                    rule, ReasonStatus.PENDING, f"{name} is not scored; it needs at least 2{condition}", code
                )
            )
            continue
        believed = effective_score(score)
        if believed >= MINIMUM_SCORE:
            reasons.append(
                Reason(rule, ReasonStatus.MET, f"{name} scores {score.score}, at least 2{condition}", code)
            )
        elif believed != score.score:
            why = _stale_note(score) if score.only_stale_evidence else "has no evidence"
            reasons.append(
                Reason(
                    rule,
                    ReasonStatus.BLOCKS,
                    f"{name} scores {score.score} but {why}, so it counts as 1; "
                    f"it needs at least 2{condition}",
                    code,
                )
            )
        else:
            reasons.append(
                Reason(
                    rule,
                    ReasonStatus.BLOCKS,
                    f"{name} scores {score.score}; it needs at least 2{condition}",
                    code,
                )
            )

    # A 2–3 that only stale evidence supports, in a category without a minimum: said, not a verdict.
    minimum_codes = {code for code, _ in _minimum_rules(gate)}
    notes = tuple(
        Note(
            f"stale:{score.category_code}",
            f"{score.category_name} scores {score.score} but {_stale_note(score)}, so it counts as 1",
            score.category_code,
        )
        for score in gate.scores
        if score.category_code not in minimum_codes
        and score.score is not None
        and score.score >= EVIDENCE_REQUIRED_FROM
        and score.only_stale_evidence
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
    if ReasonStatus.BLOCKS in statuses:
        outcome = GateOutcome.BLOCKED
    elif ReasonStatus.PENDING in statuses:
        outcome = GateOutcome.INCOMPLETE
    elif ReasonStatus.EXCEPTION in statuses:
        outcome = GateOutcome.APPROVED_WITH_EXCEPTIONS
    else:
        outcome = GateOutcome.APPROVED
    order = {ReasonStatus.BLOCKS: 0, ReasonStatus.EXCEPTION: 1, ReasonStatus.PENDING: 2, ReasonStatus.MET: 3}
    reasons.sort(key=lambda r: order[r.status])
    return GateResult(outcome, tuple(reasons), notes)
