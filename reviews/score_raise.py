"""Four eyes on reopening a score below a minimum. Backup and security must score at least 2, migration
safety too when the release changes the schema, observability when it serves production traffic (the
gate's minimums). A score of 0 or 1 there blocks the release; raising it to 2 or more lifts that blocker,
so it is proposed with a reason and takes effect only when an architect or lead of the team other than
the proposer confirms it. Until then the score keeps its value.

A release flag not yet answered counts as "yes" here: the minimum may apply, so the raise is guarded; a
flag answered "no" after it was "yes" or unanswered keeps guarding (has_minimum)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import audit, loosening, policy
from .gate import EVIDENCE_REQUIRED_FROM, MINIMUM_SCORE
from .models import AuditEvent, Category, CategoryScore, LooseningState, Review, ReviewState, ScoreRaise

FIELDS = ("from_score", "to_score", "reason", "proposed_by", "state", "decided_by", "decision_note")


def _error(message, **kwargs):
    from .services import ServiceError  # services imports this module

    return ServiceError(message, **kwargs)


def _name(user) -> str:
    return user.get_full_name() or user.username


def has_minimum(review: Review, category: Category) -> bool:
    """Whether the gate's minimum may apply to this category in this review (its catalogue version says
    which categories have one, Category.minimum_score). A conditional minimum guards while its release
    flag is yes or unanswered, and also once the flag is no if it was ever yes or unanswered in this
    review: else saying "no", raising the score and saying "yes" again would lift the minimum alone."""
    if category.minimum_score is None:
        return False
    flag = category.minimum_when
    if flag in ("", "always"):
        return True
    if getattr(review, flag) is not False:
        return True
    return (
        AuditEvent.objects.filter(review_id=review.pk, action__in=("review.start", "review.update"))
        .filter(Q(**{f"after__{flag}": True}) | Q(**{f"after__{flag}": None}))
        .exists()
    )


def _minimum(category: Category) -> int:
    return category.minimum_score if category.minimum_score is not None else MINIMUM_SCORE


def is_guarded(review: Review, category: Category, current: int | None, new: int) -> bool:
    """Raising `current` (None: unscored) to `new` reopens a score below the minimum."""
    return current is not None and current < _minimum(category) <= new and has_minimum(review, category)


def refusal(category: Category, current: int, new: int) -> str:
    return (
        f"Raising {category.name} from {current} to {new} lifts its minimum, so it needs a second person: "
        "say why, then choose the score again; an architect or lead other than you confirms it."
    )


def check_direct(*, review: Review, category: Category, current: int | None, new: int) -> None:
    """What `services.set_score` may write directly: never a guarded raise."""
    if is_guarded(review, category, current, new):
        raise _error({"score": refusal(category, current, new)})


def check_clear(*, review: Review, category: Category, current: int) -> None:
    """Taking a score below the minimum away would leave the category unscored, and its next score a first
    one that nobody confirms: refused like a raise."""
    if current < _minimum(category) and has_minimum(review, category):
        raise _error(
            {
                "score": f"{category.name} scores {current}, below its minimum: taking the score away would "
                "lift that blocker. Propose a raise instead; an architect or lead other than you confirms it."
            }
        )


def _require_evidence(review: Review, category: Category, score: int) -> None:
    if score >= EVIDENCE_REQUIRED_FROM and not review.evidence.filter(category=category).exists():
        raise _error(
            {
                "score": f"Attach evidence to {category.name} before scoring it {score}: "
                "no evidence, no readiness."
            }
        )


@transaction.atomic
def propose(
    *, review: Review, category: Category, actor, score: int, reason: str, version: int | None = None
):
    """Propose raising a score below its minimum. The score keeps its value until someone else confirms."""
    from .services import ConflictError, _category_of

    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    if not policy.can_edit_review(actor, review):
        raise PermissionDenied("You may not change this review's scores.")
    loosening._require_open(review)
    _category_of(review, category)
    current = CategoryScore.objects.select_for_update().filter(review=review, category=category).first()
    if current is None or not is_guarded(review, category, current.score, score):
        raise _error({"score": "This score change lifts no minimum: save it directly."})
    if version is not None and current.version != version:
        raise ConflictError(
            f"{category.name} was scored by someone else since you loaded it: it is now {current.score}.",
            current=current,
        )
    if not reason.strip():
        raise _error({"reason": refusal(category, current.score, score)})
    _require_evidence(review, category, score)
    pending = ScoreRaise.objects.filter(
        review=review, category=category, state=LooseningState.PROPOSED
    ).first()
    if pending is not None:
        raise _error(
            f"{pending.summary} already awaits confirmation (proposed by {_name(pending.proposed_by)}): "
            "it must be confirmed, rejected or withdrawn first."
        )
    try:
        with transaction.atomic():
            row = ScoreRaise.objects.create(
                review=review,
                category=category,
                from_score=current.score,
                to_score=score,
                reason=reason.strip(),
                proposed_by=actor,
            )
    except IntegrityError:  # a concurrent proposal won the partial unique index
        raise _error("Another raise of this score was just proposed; reload the page.") from None
    audit.record(
        actor=actor,
        action="score_raise.propose",
        obj=row,
        review=review,
        after={**audit.snapshot(row, FIELDS), "category": category.code},
    )
    return row


@transaction.atomic
def set_or_propose(
    *,
    review: Review,
    category: Category,
    actor,
    score: int,
    owner=None,
    notes: str = "",
    version: int | None = None,
    reason: str = "",
) -> tuple[CategoryScore, ScoreRaise | None]:
    """What the score forms call: a guarded raise saves the owner and notes as they are and proposes the
    raise with `reason`; any other change is saved directly."""
    from .services import set_score

    review = Review.objects.select_for_update().select_related("system").get(pk=review.pk)
    current = CategoryScore.objects.filter(review=review, category=category).first()
    if current is None or not is_guarded(review, category, current.score, score):
        return set_score(
            review=review,
            category=category,
            actor=actor,
            score=score,
            owner=owner,
            notes=notes,
            version=version,
        ), None
    if not reason.strip():
        raise _error({"reason": refusal(category, current.score, score)})
    if (getattr(owner, "pk", None), notes) != (current.owner_id, current.notes):
        current = set_score(
            review=review,
            category=category,
            actor=actor,
            score=current.score,
            owner=owner,
            notes=notes,
            version=version,
        )
        version = current.version
    return current, propose(
        review=review, category=category, actor=actor, score=score, reason=reason, version=version
    )


def _lock(row: ScoreRaise) -> ScoreRaise:
    return (
        ScoreRaise.objects.select_for_update(of=("self",))
        .select_related("review__system", "category", "proposed_by")
        .get(pk=row.pk)
    )


def _require_decider(row: ScoreRaise, actor, what: str) -> None:
    loosening.require_decider(row, actor, review=row.review, what=what, noun="a raise of a score")


def _decide(row: ScoreRaise, *, actor, to_state: str, note: str) -> None:
    loosening.settle(
        row,
        actor=actor,
        to_state=to_state,
        note=note,
        review=row.review,
        group="score_raise",
        fields=FIELDS,
        extra={"category": row.category.code},
    )


@transaction.atomic
def confirm(*, raise_: ScoreRaise, actor, note: str = "") -> CategoryScore:
    """Apply a proposed raise, with its audit events, in one transaction."""
    from .services import SCORE_FIELDS

    Review.objects.select_for_update().filter(pk=raise_.review_id).first()
    row = _lock(raise_)
    _require_decider(row, actor, "confirm")
    review, category = row.review, row.category
    score = CategoryScore.objects.select_for_update().filter(review=review, category=category).first()
    if score is None or score.score != row.from_score:
        now = "unscored" if score is None else f"scored {score.score}"
        raise _error(
            f"{category.name} changed since this was proposed (it is now {now}): reject it, or let the "
            "proposer withdraw it and propose again."
        )
    _require_evidence(review, category, row.to_score)
    before = audit.snapshot(score, SCORE_FIELDS)
    score.score = row.to_score
    score.updated_by, score.updated_at = actor, timezone.now()
    score.version += 1
    score.save()
    _decide(row, actor=actor, to_state=LooseningState.CONFIRMED, note=note)
    audit.record(
        actor=actor,
        action="score.set",
        obj=score,
        review=review,
        before=before,
        after={
            **audit.snapshot(score, SCORE_FIELDS),
            "score_raise": row.pk,
            "proposed_by": row.proposed_by_id,
            "confirmed_by": actor.pk,
            "reason": row.reason,
        },
    )
    return score


@transaction.atomic
def reject(*, raise_: ScoreRaise, actor, note: str = "") -> ScoreRaise:
    """The score keeps its value."""
    row = _lock(raise_)
    _require_decider(row, actor, "reject")
    _decide(row, actor=actor, to_state=LooseningState.REJECTED, note=note)
    return row


@transaction.atomic
def withdraw(*, raise_: ScoreRaise, actor) -> ScoreRaise:
    row = _lock(raise_)
    loosening.require_proposer(row, actor, noun="a raise of a score")
    _decide(row, actor=actor, to_state=LooseningState.WITHDRAWN, note="")
    return row


# --- Reads


def review_chains(review: Review) -> dict[int, list[ScoreRaise]]:
    """The open and confirmed raises of a review's scores by category id, oldest first: one query."""
    rows = (
        ScoreRaise.objects.filter(
            review=review, state__in=(LooseningState.PROPOSED, LooseningState.CONFIRMED)
        )
        .select_related("category", "proposed_by", "decided_by")
        .order_by("proposed_at", "pk")
    )
    chains: dict[int, list[ScoreRaise]] = {}
    for row in rows:
        chains.setdefault(row.category_id, []).append(row)
    return chains


def attach(review: Review, rows, chains: dict[int, list[ScoreRaise]]) -> None:
    """Give each scorecard row (with `.category`) `open_raise` (or None), `raise_chain` (confirmed) and
    `has_minimum` (raising it from below 2 needs a second person)."""
    for r in rows:
        r.has_minimum = has_minimum(review, r.category)
        found = chains.get(r.category.pk, [])
        r.open_raise = next((x for x in found if x.state == LooseningState.PROPOSED), None)
        r.raise_chain = [x for x in found if x.state == LooseningState.CONFIRMED]


def gate_notes(chains: dict[int, list[ScoreRaise]]) -> list[str]:
    """Beside the gate's reasons: a raise awaiting confirmation leaves the score where it is; a confirmed
    one says who lifted the minimum and why."""
    notes = []
    for rows in chains.values():
        for row in rows:
            who = _name(row.proposed_by)
            if row.state == LooseningState.PROPOSED:
                notes.append(
                    f"{row.category.name} still counts as {row.from_score}: raising it to {row.to_score}, "
                    f"proposed by {who}, awaits confirmation: {row.reason}"
                )
            else:
                notes.append(
                    f"{row.summary}: proposed by {who}, confirmed by {_name(row.decided_by)}: {row.reason}"
                )
    return notes


def awaiting(user) -> QuerySet[ScoreRaise]:
    """Raises this user may confirm or reject: their teams (as architect or lead), never their own, on
    reviews not yet decided."""
    teams = policy.team_ids_with_role(user, policy.CHAIR_ROLES)
    return (
        ScoreRaise.objects.filter(state=LooseningState.PROPOSED, review__system__team_id__in=teams)
        .exclude(proposed_by=user)
        .exclude(review__state=ReviewState.DECIDED)
        .select_related("review__system", "category", "proposed_by")
        .order_by("proposed_at", "pk")
    )
