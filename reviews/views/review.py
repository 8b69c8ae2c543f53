"""The review page, its checklist and scoring."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from evidence.models import TYPED_RECORDS, Evidence, EvidenceKind

from .. import carryover, depth, loosening, policy, score_raise, selectors, services
from ..forms import AnswerForm, AnswerUndoForm, ReviewForm, ScoreForm
from ..models import (
    Category,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Decision,
    Level,
    LooseningState,
    Review,
    ScoreRaise,
)
from .access import _apply, _get_review_for_user, _get_system_for_user, _page

# --- Reviews


@login_required
@require_http_methods(["GET", "POST"])
def review_create(request: HttpRequest, slug: str) -> HttpResponse:
    system = _get_system_for_user(request, slug)
    if policy.role_in(request.user, system.team_id) not in policy.CHAIR_ROLES:
        raise PermissionDenied
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        review = _apply(form, lambda: services.start_review(system=system, actor=request.user, **data))
        if review:
            messages.success(request, "Review started.")
            return redirect(review)
    return render(request, "reviews/review_form.html", {"form": form, "system": system})


@login_required
@require_http_methods(["GET", "POST"])
def review_edit(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    if not policy.can_chair(request.user, review):
        raise PermissionDenied
    initial = {
        f: getattr(review, f)
        for f in (
            "release_scope",
            "scope_notes",
            "schema_changing",
            "production_traffic",
            "next_review_date",
            "version",
        )
    }
    form = ReviewForm(request.POST or None, initial=initial)
    if (
        request.method == "POST"
        and form.is_valid()
        and _apply(
            form, lambda: services.update_review(review=review, actor=request.user, **form.cleaned_data)
        )
    ):
        messages.success(request, "Scope saved.")
        return redirect(review)
    return render(
        request,
        "reviews/review_form.html",
        {
            "form": form,
            "system": review.system,
            "review": review,
        },
    )


def review_context(request: HttpRequest, review: Review) -> dict:
    rows = selectors.scorecard(review)
    findings = list(selectors.findings_with_exceptions(review))
    gate = selectors.review_gate(review, rows=rows, findings=findings)
    chains = loosening.review_chains(review)
    loosening.attach(findings, chains)
    raise_chains = score_raise.review_chains(review)
    score_raise.attach(review, rows, raise_chains)
    carryover.mark_findings(findings, frozen=review.is_frozen)
    by_level = {level: [f for f in findings if f.level == level] for level in Level.values}
    return {
        "review": review,
        "system": review.system,
        "rows": rows,
        "gate": gate,
        "findings_by_level": [(Level(level), items) for level, items in by_level.items()],
        "open_counts": {
            lvl: sum(1 for f in items if f.status != "resolved") for lvl, items in by_level.items()
        },
        "can_edit": policy.can_edit_review(request.user, review) and not review.is_frozen,
        "can_chair": policy.can_chair(request.user, review) and not review.is_frozen,
        "can_sign": policy.can_sign_exceptions(request.user, review.system) and not review.is_frozen,
        "can_decide_loosening": policy.can_chair(request.user, review) and not review.is_frozen,
        "loosening_notes": loosening.gate_notes(chains) + score_raise.gate_notes(raise_chains),
        "now": timezone.now(),
    }


@login_required
@require_GET
def review_detail(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    context = review_context(request, review)
    context["claims"] = review.claims.select_related("category", "evidence")
    # Probe results are listed by their runs (the probes section), not one row each among the evidence.
    evidence = _page(
        request,
        Evidence.objects.filter(review=review)
        .exclude(kind=EvidenceKind.PROBE_RESULT)
        .select_related("category", "added_by", "carried_from__review", *TYPED_RECORDS),
    )
    context["evidence"] = evidence
    rows = context["rows"]
    context["evidence_total"] = sum(r.evidence_count for r in rows)
    context["probe_evidence"] = max(0, context["evidence_total"] - evidence.paginator.count)
    context["scored"] = sum(1 for r in rows if r.score is not None)
    context["open_findings"] = sum(context["open_counts"].values())
    context["open_summary"] = ", ".join(f"{n} {level}" for level, n in context["open_counts"].items() if n)
    # Open findings first, level by level; the resolved ones of each level fold away.
    context["finding_groups"] = [
        (level, [f for f in items if f.status != "resolved"], [f for f in items if f.status == "resolved"])
        for level, items in context["findings_by_level"]
    ]
    context["decision"] = (
        Decision.objects.filter(review=review)
        .select_related("approver")
        .defer(*Decision.RECORD_FIELDS)
        .first()
    )
    context["depth"] = depth.depth_for_review(review, summaries=True)
    return render(request, "reviews/review_detail.html", context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def review_checklist(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    items = ChecklistItem.objects.filter(category=category).order_by("position")
    answers = {a.item_id: a for a in ChecklistAnswer.objects.filter(review=review, item__category=category)}
    context = {
        "review": review,
        "system": review.system,
        "category": category,
        "items": [(item, answers.get(item.pk)) for item in items],
        "can_edit": policy.can_edit_review(request.user, review) and not review.is_frozen,
        "answer_choices": AnswerForm.base_fields["answer"].choices,
        "categories": Category.objects.filter(version_id=review.catalogue_id).order_by("number"),
    }
    return render(request, "reviews/checklist.html", context)


def _answer_row(
    request: HttpRequest, review: Review, item: ChecklistItem, *, form, state: str, undo: dict | None = None
) -> HttpResponse:
    """A checklist row after a save or an undo (`state` "saved" or "undone") or a refusal ("error"): the
    row shows the stored answer, the refusal's words under it; the gate panel follows out of band."""
    answer = ChecklistAnswer.objects.filter(review=review, item=item).first()
    error = None
    if state == "error":
        error = "; ".join(m for errs in form.errors.values() for m in errs) or "The answer was not saved."
    return render(
        request,
        "reviews/_checklist_row.html",
        {
            "review": review,
            "item": item,
            "answer": answer,
            "error": error,
            "can_edit": not review.is_frozen,
            "answer_choices": AnswerForm.base_fields["answer"].choices,
            "gate": selectors.review_gate(review),
            "oob_gate": True,
            "save_state": state,
            "saved_at": answer.answered_at if answer and state == "saved" else timezone.now(),
            "undo": undo,
        },
        status=422 if error else 200,
    )


def _get_item(review: Review, item_id: int) -> ChecklistItem:
    return get_object_or_404(
        ChecklistItem.objects.select_related("category"), pk=item_id, category__version_id=review.catalogue_id
    )


@login_required
@require_POST
def checklist_answer(request: HttpRequest, review_id: int, item_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    item = _get_item(review, item_id)
    form = AnswerForm(request.POST)
    previous = ChecklistAnswer.objects.filter(review=review, item=item).first()
    answer = form.is_valid() and _apply(
        form,
        lambda: services.answer_item(
            review=review,
            item=item,
            answer=form.cleaned_data["answer"],
            note=form.cleaned_data["note"],
            # the forms here say nothing of evidence: saving an answer keeps the evidence it cites
            evidence=previous.evidence if previous else None,
            version=form.cleaned_data["version"],
            actor=request.user,
        ),
    )
    if not request.htmx:
        if not answer:
            error = "; ".join(m for errs in form.errors.values() for m in errs) or "The answer was not saved."
            messages.error(request, f"“{item.text}”: {error}")
        return redirect("review_checklist", review_id=review.pk, code=item.category.code)
    if not answer:
        return _answer_row(request, review, item, form=form, state="error")
    undo = None
    before = (previous.answer, previous.note) if previous else ("", "")
    if before != (answer.answer, answer.note):
        undo = {"answer": before[0], "note": before[1], "version": answer.version}
    return _answer_row(request, review, item, form=form, state="saved", undo=undo)


@login_required
@require_POST
def checklist_answer_undo(request: HttpRequest, review_id: int, item_id: int) -> HttpResponse:
    """Put a checklist answer back as it was before a save (the Undo shown for a few seconds after it):
    a normal versioned save through the same service, or taking the answer away if there was none."""
    review = _get_review_for_user(request, review_id, write=True)
    item = _get_item(review, item_id)
    form = AnswerUndoForm(request.POST)

    def restore() -> bool:
        data = form.cleaned_data
        if not data["answer"]:
            services.clear_answer(review=review, item=item, actor=request.user, version=data["version"])
            return True
        current = ChecklistAnswer.objects.filter(review=review, item=item).first()
        services.answer_item(
            review=review,
            item=item,
            answer=data["answer"],
            note=data["note"],
            evidence=current.evidence if current else None,
            version=data["version"],
            actor=request.user,
        )
        return True

    undone = form.is_valid() and _apply(form, restore)
    if not request.htmx:
        if undone:
            messages.success(request, f"“{item.text}”: the change was undone.")
        else:
            for errs in form.errors.values():
                for message in errs:
                    messages.error(request, f"“{item.text}”: {message}")
        return redirect("review_checklist", review_id=review.pk, code=item.category.code)
    return _answer_row(request, review, item, form=form, state="undone" if undone else "error")


@login_required
@require_http_methods(["GET", "POST"])
def score_edit(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    current = CategoryScore.objects.filter(review=review, category=category).select_related("owner").first()
    initial = {"version": current.version if current else 0}
    if current:
        initial.update(score=current.score, owner=current.owner, notes=current.notes)
    form = ScoreForm(request.POST or None, initial=initial, review=review)
    if request.method == "POST" and form.is_valid():
        saved = _apply(
            form,
            lambda: score_raise.set_or_propose(
                review=review, category=category, actor=request.user, **form.cleaned_data
            ),
        )
        if saved:
            row, proposed = saved
            if proposed is not None:
                messages.success(
                    request,
                    f"{proposed.summary} proposed: it takes effect when an architect or lead other than you "
                    "confirms it.",
                )
            else:
                messages.success(request, f"{category.name}: scored {row.score}.")
            return redirect(f"{review.get_absolute_url()}#scorecard")
    evidence = Evidence.objects.filter(review=review, category=category)
    return render(
        request,
        "reviews/score_form.html",
        {
            "form": form,
            "review": review,
            "system": review.system,
            "category": category,
            "current": current,
            "evidence": evidence,
            "open_raise": ScoreRaise.objects.filter(
                review=review, category=category, state=LooseningState.PROPOSED
            )
            .select_related("category", "proposed_by")
            .first(),
        },
    )
