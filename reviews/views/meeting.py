"""The meeting page (seed §21): the 13-step agenda, edited in place with htmx, live for every participant.

A full request renders the whole page; an htmx request renders only the part that changed plus the
gate panel and the agenda out of band. Every form also works as a plain POST that redirects back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, Exists, F, OuterRef, Q, Value, When, Window
from django.db.models.fields.json import KT
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from evidence import services as evidence_services
from evidence.models import TYPED_RECORDS, Evidence, EvidenceKind
from readiness import dispatch

from .. import agenda, depth, labels, loosening, policy, score_raise, selectors, services
from .. import gate as gate_rules
from ..forms import (
    DecisionForm,
    ExceptionRequestForm,
    FindingTriageForm,
    NextReviewForm,
    QuickFindingForm,
    QuickLinkForm,
    ScopeForm,
    ScoreForm,
    ScoreUndoForm,
)
from ..models import (
    Answer,
    AuditEvent,
    Category,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Decision,
    ExceptionState,
    Finding,
    FindingStatus,
    Level,
    Review,
    RiskException,
)
from .access import _apply, _get_finding_for_user, _get_review_for_user, _next_or

EVIDENCE_SHOWN = 8  # per category on a step; the review page lists them all
TRIAGE_PAGE = 40  # findings listed at steps 12 and 13
FINDINGS_SHOWN = 10  # per category on a step; the review page lists them all
# Open findings per gate verdict the meeting's gate reads: one more than its panel names (summarized).
GATE_SAMPLE = 7
FINDING_ORDER = [F("level").asc(), F("created_at").desc(), F("id").desc()]  # Finding.Meta.ordering
PENDING_OR_SIGNED = (ExceptionState.REQUESTED, ExceptionState.SIGNED)
JUST_RECORDED = "meeting-just-recorded"  # session key: the decision the chair's last POST recorded
# What update_review takes; the meeting's forms change some of them.
REVIEW_CHAIR_FIELDS = (
    "release_scope",
    "scope_notes",
    "schema_changing",
    "production_traffic",
    "next_review_date",
)


def _presenting(request: HttpRequest) -> bool:
    """Presentation mode asked for by URL (?present=1), so that it works without JavaScript; with it,
    static/js/present.js remembers the mode per browser."""
    return request.GET.get("present") == "1"


def _step_url(review: Review, step: int | str) -> str:
    if step == "decision":
        return reverse("meeting_decision", args=[review.pk])
    return reverse("meeting_step", args=[review.pk, step])


def _gate_findings(review: Review, now) -> tuple[tuple[gate_rules.FindingIn, ...], dict]:
    """What the gate and the agenda need of the review's findings, in a fixed number of queries whatever
    their number: the counts in one aggregate, and for the gate only the first GATE_SAMPLE open findings
    of each of its verdicts (P0 blocks; P1 ships on a signed exception; P1 blocks), with their
    exceptions. The gate's outcome depends on which verdicts occur, its panel names the first few of
    each and counts the rest (GateResult.finding_totals), so a sample in the gate's own order decides
    and reads exactly as all of them would."""
    unresolved = ~Q(status=FindingStatus.RESOLVED)
    p1 = Q(level=Level.P1) & unresolved
    active = Exists(
        RiskException.objects.filter(finding=OuterRef("pk"), state=ExceptionState.SIGNED, expires_at__gt=now)
    )
    # Joined, not one subquery per finding: the exceptions are few and the findings may be thousands.
    counts = Finding.objects.filter(review=review).aggregate(
        unresolved=Count("pk", distinct=True, filter=unresolved),
        unresolved_p0=Count("pk", distinct=True, filter=Q(level=Level.P0) & unresolved),
        unresolved_p1=Count("pk", distinct=True, filter=p1),
        p1_exception=Count(
            "pk",
            distinct=True,
            filter=p1 & Q(exceptions__state=ExceptionState.SIGNED, exceptions__expires_at__gt=now),
        ),
        p1_covered=Count("pk", distinct=True, filter=p1 & Q(exceptions__state__in=PENDING_OR_SIGNED)),
        open_without_owner=Count("pk", distinct=True, filter=unresolved & Q(owner__isnull=True)),
    )
    counts["p1_blocking"] = counts["unresolved_p1"] - counts["p1_exception"]
    counts["p1_without_exception"] = counts["unresolved_p1"] - counts["p1_covered"]
    verdict = Case(
        When(level=Level.P0, then=Value("p0")),
        When(active=True, then=Value("p1x")),
        default=Value("p1"),
    )
    rows = list(
        Finding.objects.filter(review=review, level__in=(Level.P0, Level.P1))
        .exclude(status=FindingStatus.RESOLVED)
        .alias(active=active)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[verdict],
                order_by=FINDING_ORDER,
            )
        )
        .filter(rank__lte=GATE_SAMPLE)
        .order_by("level", "-created_at", "-id")
        .values_list("id", "category__code", "title", "level", "status", "checklist_item_id")
    )
    exceptions: dict[int, list[gate_rules.ExceptionIn]] = defaultdict(list)
    for finding_id, state, expires_at in RiskException.objects.filter(
        finding_id__in=[r[0] for r in rows]
    ).values_list("finding_id", "state", "expires_at"):
        exceptions[finding_id].append(gate_rules.ExceptionIn(state, expires_at))
    findings = tuple(
        gate_rules.FindingIn(pk, title, level, status, code, tuple(exceptions[pk]), item_id)
        for pk, code, title, level, status, item_id in rows
    )
    return findings, counts


class Board:
    """Everything one request needs about the review, in a fixed number of queries: the scorecard and
    every finding in flat form for the gate and the agenda; full findings only for what a step shows."""

    def __init__(self, request: HttpRequest, review: Review):
        self.request = request
        self.review = review
        now = timezone.now()
        self.rows = selectors.scorecard(review, now=now)
        findings, self.finding_counts = _gate_findings(review, now)
        gate = gate_rules.evaluate(
            selectors.gate_input_of(review, rows=self.rows, findings=findings, now=now)
        )
        self.gate = replace(
            gate,
            finding_totals={
                ("p0", gate_rules.ReasonStatus.BLOCKS): self.finding_counts["unresolved_p0"],
                ("p1", gate_rules.ReasonStatus.EXCEPTION): self.finding_counts["p1_exception"],
                ("p1", gate_rules.ReasonStatus.BLOCKS): self.finding_counts["p1_blocking"],
            },
        )
        self.by_code = {r.category.code: r for r in self.rows}
        user = request.user
        self.can_edit = policy.can_edit_review(user, review) and not review.is_frozen
        self.can_chair = policy.can_chair(user, review) and not review.is_frozen
        # Whose page moves the agenda's "chair" mark: the review's chair (any chair while none is named).
        self.drives_agenda = self.can_chair and review.chair_id in (None, user.pk)
        self.can_sign = policy.can_sign_exceptions(user, review.system) and not review.is_frozen

    def findings(self, **filters) -> list[Finding]:
        """Full findings (with category, owner and exceptions) for the part of the page that lists them."""
        findings = list(selectors.findings_with_exceptions(self.review).filter(**filters))
        loosening.attach(findings, self.chains)
        return findings

    def first_findings(self, category_ids: list[int]) -> list[Finding]:
        """The first FINDINGS_SHOWN findings of each category (in the findings' order), each with
        `listed`, how many its category has: one query and the prefetch, whatever their number."""
        findings = list(
            selectors.findings_with_exceptions(self.review)
            .filter(category_id__in=category_ids)
            .annotate(
                rank=Window(RowNumber(), partition_by=[F("category_id")], order_by=FINDING_ORDER),
                listed=Window(Count("id"), partition_by=[F("category_id")]),
            )
            .filter(rank__lte=FINDINGS_SHOWN)
        )
        loosening.attach(findings, self.chains)
        return findings

    @cached_property
    def chains(self) -> dict:
        return loosening.review_chains(self.review)

    @cached_property
    def raise_chains(self) -> dict:
        """Proposed and confirmed raises of scores below a minimum, attached to the scorecard rows."""
        chains = score_raise.review_chains(self.review)
        score_raise.attach(self.review, self.rows, chains)
        return chains

    def facts(self) -> agenda.Facts:
        counts = self.finding_counts
        return agenda.Facts(
            release_scope=self.review.release_scope,
            source_of_truth=self.review.system.source_of_truth,
            scored=frozenset(r.category.code for r in self.rows if r.score is not None),
            category_count=len(self.rows),
            unresolved_p0=counts["unresolved_p0"],
            p1_without_exception=counts["p1_without_exception"],
            open_without_owner=counts["open_without_owner"],
            next_review_date_set=self.review.next_review_date is not None,
            decided=self.review.is_frozen,
        )

    def members(self):
        """The owner picker: people of the team who may act (never its auditors)."""
        return list(
            loosening.owner_candidates(self.review.system.team_id).only(
                "id", "username", "first_name", "last_name"
            )
        )

    def context(self, **extra) -> dict:
        presenting = _presenting(self.request)
        return {
            "presenting": presenting,
            "present_qs": "?present=1" if presenting else "",
            "review": self.review,
            "system": self.review.system,
            "gate": self.gate,
            "rows": self.rows,
            "agenda": agenda.step_states(self.facts()),
            "can_edit": self.can_edit,
            "can_chair": self.can_chair,
            "can_sign": self.can_sign,
            "can_decide_loosening": self.can_chair,
            "drives_agenda": self.drives_agenda,
            "chair_step": self.review.current_step,
            "loosening_notes": loosening.gate_notes(self.chains) + score_raise.gate_notes(self.raise_chains),
            "levels": Level.choices,
            "statuses": loosening.STATUS_CHOICES,
            "answer_choices": Answer.choices,
            "last_event": self.last_event_id(),
            "now": timezone.now(),
            **extra,
        }

    def last_event_id(self) -> int:
        return (
            AuditEvent.objects.filter(review=self.review).order_by("-id").values_list("id", flat=True).first()
            or 0
        )

    def category_blocks(self, codes: tuple[str, ...]) -> list[dict]:
        """For each category of a step: its score row, checklist with answers, findings and evidence."""
        rows = [self.by_code[c] for c in codes if c in self.by_code]
        ids = [r.category.pk for r in rows]
        # The checklists themselves load when opened (meeting_checklist); here only how far along they are.
        item_counts = dict(
            ChecklistItem.objects.filter(category_id__in=ids)
            .order_by()
            .values_list("category_id")
            .annotate(n=Count("id"))
            .values_list("category_id", "n")
        )
        answered = dict(
            ChecklistAnswer.objects.filter(review=self.review, item__category_id__in=ids)
            .order_by()
            .values_list("item__category_id")
            .annotate(n=Count("id"))
            .values_list("item__category_id", "n")
        )
        findings = self.first_findings(ids)
        from probes.selectors import latest_review_results  # probes builds on reviews, not the reverse

        run, results = latest_review_results(self.review, [r.category.code for r in rows])
        blocks = []
        for row in rows:
            blocks.append(
                {
                    "row": row,
                    "category": row.category,
                    "item_count": item_counts.get(row.category.pk, 0),
                    "answered": answered.get(row.category.pk, 0),
                    **_listed(findings, row.category.pk),
                    **_step_evidence(self.review, row),
                    "probe_run": run,
                    "probe_results": [r for r in results if r.category == row.category.code],
                }
            )
        return blocks


def _listed(findings: list[Finding], category_id: int) -> dict:
    """A category's share of Board.first_findings: the findings shown and how many more it has."""
    shown = [f for f in findings if f.category_id == category_id]
    return {"findings": shown, "more_findings": shown[0].listed - len(shown) if shown else 0}


def _shown_step(request: HttpRequest) -> int | None:
    """The step the asking page shows, from the page's address htmx sends with each request (so a part
    or a pulse answered late never puts the agenda, or the chair's mark, on another step)."""
    path = request.htmx.current_url_abs_path if request.htmx else None
    if not path:
        return None
    try:
        match = resolve(path.split("?", 1)[0])
    except Resolver404:
        return None
    if match.url_name == "meeting_step":
        return match.kwargs.get("step")
    if match.url_name == "meeting_decision":
        return agenda.LAST_STEP + 1
    return None


def _step_evidence(review: Review, row: selectors.ScorecardRow) -> dict:
    """A category's evidence on a step, newest first: the first EVIDENCE_SHOWN, how many more, and how
    many probe results, which the step shows by run rather than once more here. Two queries: the rows
    shown and the count from the evidence alone, then their typed records for those rows only."""
    listed = list(
        Evidence.objects.filter(review=review, category=row.category)
        .exclude(kind=EvidenceKind.PROBE_RESULT)
        .annotate(listed=Window(Count("id")))
        .order_by("-observed_at", "-id")
        .values_list("pk", "listed")[:EVIDENCE_SHOWN]
    )
    items = list(
        Evidence.objects.filter(pk__in=[pk for pk, _ in listed] or [0])  # [0]: the query runs all the same
        .select_related(*TYPED_RECORDS)
        .order_by("-observed_at", "-id")
    )
    count = listed[0][1] if listed else 0
    return {
        "evidence": items,
        "more_evidence": max(0, count - len(items)),
        "probe_evidence": max(0, row.evidence_count - count),
    }


def _oob(request: HttpRequest, board: Board, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render the changed part, then the gate panel and the agenda out of band."""
    ctx = board.context(part=True, step_number=_shown_step(request), **context)
    return render(request, template, ctx, status=status)


# --- Pages


@login_required
@require_GET
def meeting(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    query = "?present=1" if _presenting(request) else ""
    if review.is_frozen:
        return redirect(_step_url(review, "decision") + query)
    return redirect(_step_url(review, review.current_step) + query)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def meeting_step(request: HttpRequest, review_id: int, step: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    if not 1 <= step <= agenda.LAST_STEP:
        raise Http404
    board = Board(request, review)
    current = agenda.step(step)
    extra: dict = {
        "step": current,
        "step_number": step,
        "prev_url": _step_url(review, step - 1) if step > 1 else None,
        "next_url": _step_url(review, step + 1) if step < agenda.LAST_STEP else _step_url(review, "decision"),
    }
    if current.kind == "categories":
        extra["blocks"] = board.category_blocks(current.categories)
        extra["members"] = board.members()
        if step == 2:
            extra["claims"] = list(review.claims.select_related("category", "evidence"))
        if step in depth.DEPTH_STEPS:  # the inventories and plans this step walks
            extra["depth"] = depth.depth_for_review(review, steps=(step,)).step(step)
    elif current.kind == "scoring":
        extra["members"] = board.members()
    elif current.kind == "blockers":
        counts = board.finding_counts
        extra["blocking"] = list(
            selectors.findings_with_exceptions(review)
            .filter(level__in=[Level.P0, Level.P1])
            .exclude(status=FindingStatus.RESOLVED)[:TRIAGE_PAGE]
        )
        blocking = counts["unresolved_p0"] + counts["p1_exception"] + counts["p1_blocking"]
        extra["blocking_more"] = max(0, blocking - TRIAGE_PAGE)
    elif current.kind == "owners":
        open_count = board.finding_counts["unresolved"]
        extra["triage"] = list(
            selectors.findings_with_exceptions(review).exclude(status=FindingStatus.RESOLVED)[:TRIAGE_PAGE]
        )
        extra["triage_more"] = max(0, open_count - TRIAGE_PAGE)
        extra["members"] = board.members()
    context = board.context(**extra)
    template = "reviews/meeting_step.html" if request.htmx else "reviews/meeting.html"
    return render(request, template, context)


@login_required
@require_GET
@vary_on_headers("HX-Request")
def meeting_decision(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    board = Board(request, review)
    decision = (
        Decision.objects.filter(review=review)
        .select_related("approver")
        .defer(*Decision.RECORD_FIELDS)
        # The chair's judgement, read out of the record without loading it (null in records before /5).
        .annotate(gate_outcome=KT("record__judgement__gate_outcome"), reason=KT("record__judgement__reason"))
        .first()
    )
    form = DecisionForm(
        initial={"next_review": review.next_review_date},
        unscored=[r.category.name for r in board.rows if r.score is None],
    )
    context = board.context(
        step=None,
        step_number=agenda.LAST_STEP + 1,
        decision=decision,
        # Just recorded from this page (meeting_decide): say so once, where the chair is looking.
        just_recorded=decision is not None and request.session.pop(JUST_RECORDED, None) == decision.pk,
        flags_pending=any(r.rule.startswith("release:") for r in board.gate.pending),
        form=form,
        prev_url=_step_url(review, agenda.LAST_STEP),
        next_url=None,
    )
    template = "reviews/meeting_step.html" if request.htmx else "reviews/meeting.html"
    return render(request, template, context)


@login_required
@require_GET
def meeting_checklist(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    """A category's checklist rows, loaded when the meeting opens its checklist."""
    review = _get_review_for_user(request, review_id)
    if not request.htmx:
        return redirect("review_checklist", review_id=review.pk, code=code)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    answers = {a.item_id: a for a in ChecklistAnswer.objects.filter(review=review, item__category=category)}
    items = ChecklistItem.objects.filter(category=category).order_by("position")
    context = {
        "review": review,
        "items": [(i, answers.get(i.pk)) for i in items],
        "can_edit": policy.can_edit_review(request.user, review) and not review.is_frozen,
        "answer_choices": Answer.choices,
    }
    return render(request, "reviews/meeting/_checklist.html", context)


# --- Changes: each returns the part that changed and refreshes the gate and the agenda out of band


def _done(request: HttpRequest, review: Review, step: int | str) -> HttpResponse:
    """The plain-POST answer: back to the step."""
    return redirect(_step_url(review, step))


@login_required
@require_POST
def meeting_here(request: HttpRequest, review_id: int, step: int) -> HttpResponse:
    """The chair's page reports where the chair is, so others can follow."""
    review = _get_review_for_user(request, review_id)
    if not policy.can_chair(request.user, review):
        raise PermissionDenied
    if not review.is_frozen and 1 <= step <= agenda.LAST_STEP:
        services.move_to_step(review=review, step=step, actor=request.user)
    return HttpResponse(status=204)


def _review_change(
    request: HttpRequest,
    review_id: int,
    *,
    form_class,
    template: str,
    form_name: str,
    step: int,
    saved_message: str,
) -> HttpResponse:
    """The chair changes part of the review itself (scope and flags, next review date): the form's fields
    replace those of the review, the rest stays as it is."""
    review = _get_review_for_user(request, review_id)
    if not policy.can_chair(request.user, review):
        raise PermissionDenied
    form = form_class(request.POST)

    def change():
        current = {name: getattr(review, name) for name in REVIEW_CHAIR_FIELDS}
        changes = {k: v for k, v in form.cleaned_data.items() if k != "version"}
        return services.update_review(
            review=review, actor=request.user, version=form.cleaned_data["version"], **{**current, **changes}
        )

    saved = form.is_valid() and _apply(form, change)
    if not request.htmx:
        _flash(request, form, saved_message)
        return _done(request, review, step)
    review.refresh_from_db()
    board = Board(request, review)
    context = {
        form_name: form,
        "saved": bool(saved),
        "save_state": "saved" if saved else "error",
        "saved_at": timezone.now(),
    }
    return _oob(request, board, template, context, status=200 if saved else 422)


@login_required
@require_POST
def meeting_scope(request: HttpRequest, review_id: int) -> HttpResponse:
    return _review_change(
        request,
        review_id,
        form_class=ScopeForm,
        template="reviews/meeting/_scope.html",
        form_name="scope_form",
        step=1,
        saved_message="Scope saved.",
    )


@login_required
@require_POST
def meeting_next_review(request: HttpRequest, review_id: int) -> HttpResponse:
    return _review_change(
        request,
        review_id,
        form_class=NextReviewForm,
        template="reviews/meeting/_next_review.html",
        form_name="next_form",
        step=agenda.LAST_STEP,
        saved_message="Next review date set.",
    )


def _score_undo(previous: dict | None, saved) -> dict | None:
    """What the Undo after a save posts back: the score as it was (empty score: it was unscored) and the
    version the save left, so that a change by anyone since is a conflict. None when nothing changed."""
    before = {
        "score": "" if previous is None else previous["score"],
        "owner": "" if previous is None or previous["owner_id"] is None else previous["owner_id"],
        "notes": "" if previous is None else previous["notes"],
    }
    after = {"score": saved.score, "owner": saved.owner_id or "", "notes": saved.notes}
    if before == after:
        return None
    return {**before, "version": saved.version}


def _score_widget(
    request: HttpRequest, review: Review, code: str, *, form, state: str, undo: dict | None = None
) -> HttpResponse:
    """The score widget after a save or an undo (`state` "saved" or "undone"), a raise proposed instead
    ("proposed") or a refusal ("error"): the circles always show what is stored, the refusal's words
    beside them."""
    board = Board(request, review)
    row = board.by_code[code]
    board.raise_chains  # noqa: B018 (attaches the open and confirmed raises to the rows)
    return _oob(
        request,
        board,
        "reviews/meeting/_score.html",
        {
            "row": row,
            "proposed": state == "proposed",
            "full": request.POST.get("full") == "1",
            "score_form": form,
            "members": board.members(),
            "save_state": state,
            "saved_at": row.score.updated_at if row.score and state != "error" else timezone.now(),
            "undo": undo,
        },
        status=422 if state == "error" else 200,
    )


@login_required
@require_POST
def meeting_score(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    form = ScoreForm(request.POST, review=review)
    previous = (
        CategoryScore.objects.filter(review=review, category=category)
        .values("score", "owner_id", "notes")
        .first()
    )
    saved = form.is_valid() and _apply(
        form,
        lambda: score_raise.set_or_propose(
            review=review, category=category, actor=request.user, **form.cleaned_data
        ),
    )
    proposed = bool(saved) and saved[1] is not None
    if not request.htmx:
        _flash(
            request,
            form,
            f"Raise of {category.name} proposed: an architect or lead confirms it."
            if proposed
            else f"{category.name} scored.",
        )
        return redirect(_next_or(request, _step_url(review, 11)))
    if not saved:
        return _score_widget(request, review, code, form=form, state="error")
    if proposed:  # a raise above a minimum: the score keeps its value until someone else confirms
        return _score_widget(request, review, code, form=form, state="proposed")
    return _score_widget(
        request, review, code, form=form, state="saved", undo=_score_undo(previous, saved[0])
    )


@login_required
@require_POST
def meeting_score_undo(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    """Put a score back as it was before a save (the Undo shown for a few seconds after it): a normal
    versioned save through the same service, or taking the score away if there was none."""
    review = _get_review_for_user(request, review_id, write=True)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    form = ScoreUndoForm(request.POST, review=review)

    def restore() -> bool:
        data = {k: v for k, v in form.cleaned_data.items() if k != "reason"}
        if data["score"] is None:
            services.clear_score(
                review=review, category=category, actor=request.user, version=data["version"]
            )
        else:
            services.set_score(review=review, category=category, actor=request.user, **data)
        return True

    undone = form.is_valid() and _apply(form, restore)
    if not request.htmx:
        _flash(request, form, f"{category.name}: the change was undone.")
        return redirect(_next_or(request, _step_url(review, 11)))
    return _score_widget(request, review, code, form=form, state="undone" if undone else "error")


@login_required
@require_POST
def meeting_add_evidence(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    """Attach a link as evidence to a category, in place."""
    review = _get_review_for_user(request, review_id, write=True)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    form = QuickLinkForm(request.POST)
    saved = form.is_valid() and _apply(
        form,
        lambda: evidence_services.add_link(
            review=review, category=category, actor=request.user, **form.cleaned_data
        ),
    )
    if not request.htmx:
        _flash(request, form, "Evidence attached.")
        return redirect(_next_or(request, _step_url(review, 11)))
    board = Board(request, review)
    context = {
        "category": category,
        **_step_evidence(review, board.by_code[code]),
        "evidence_form": None if saved else form,
    }
    return _oob(request, board, "reviews/meeting/_evidence.html", context, status=200 if saved else 422)


@login_required
@require_POST
def meeting_add_finding(request: HttpRequest, review_id: int, code: str) -> HttpResponse:
    review = _get_review_for_user(request, review_id, write=True)
    category = get_object_or_404(Category, version_id=review.catalogue_id, code=code)
    form = QuickFindingForm(request.POST, review=review)
    saved = form.is_valid() and _apply(
        form,
        lambda: services.add_finding(
            review=review, category=category, actor=request.user, **form.cleaned_data
        ),
    )
    if not request.htmx:
        _flash(request, form, "Finding recorded.")
        return redirect(_next_or(request, _step_url(review, 12)))
    board = Board(request, review)
    return _oob(
        request,
        board,
        "reviews/meeting/_findings.html",
        {
            "category": category,
            **_listed(board.first_findings([category.pk]), category.pk),
            "members": board.members(),
            "finding_form": None if saved else form,
            "saved": bool(saved),
        },
        status=200 if saved else 422,
    )


def _finding_row(request: HttpRequest, finding: Finding, **extra) -> HttpResponse:
    """One finding's row for htmx, open for editing (`editing`) or asking an exception (`asking`)."""
    board = Board(request, finding.review)
    row = board.findings(pk=finding.pk)[0]
    return render(
        request, "reviews/meeting/_finding.html", board.context(f=row, members=board.members(), **extra)
    )


def _finding_form_view(
    request: HttpRequest, finding_id: int, *, mode: str, fallback: str, make_form, change, saved_message: str
) -> HttpResponse:
    """A finding's row in the meeting, opened in `mode` ("editing" or "asking") by GET and saved by POST.

    Without JavaScript, GET goes to the `fallback` page and POST redirects back to the step.
    """
    finding = _get_finding_for_user(request, finding_id, write=True)
    review = finding.review
    if request.method == "GET":
        if not request.htmx:
            return redirect(fallback, finding_id=finding.pk)
        return _finding_row(request, finding, **{mode: True})
    form = make_form(request.POST, review)
    saved = form.is_valid() and _apply(form, lambda: change(finding, form.cleaned_data))
    if not request.htmx:
        _flash(request, form, saved_message)
        return redirect(_next_or(request, _step_url(review, 12)))
    board = Board(request, review)
    context = {
        "f": board.findings(pk=finding.pk)[0],
        "members": board.members(),
        mode: not saved,
        "triage_form" if mode == "editing" else "exception_form": None if saved else form,
    }
    return _oob(request, board, "reviews/meeting/_finding.html", context, status=200 if saved else 422)


@login_required
@require_http_methods(["GET", "POST"])
def meeting_triage(request: HttpRequest, finding_id: int) -> HttpResponse:
    """Regrade, close, or give an owner and a date, keeping the finding's text."""
    return _finding_form_view(
        request,
        finding_id,
        mode="editing",
        fallback="finding_edit",
        make_form=lambda data, review: FindingTriageForm(data, review=review),
        saved_message="Finding saved.",
        change=lambda finding, data: loosening.update_or_propose(
            finding=finding, actor=request.user, title=finding.title, description=finding.description, **data
        )[0],
    )


@login_required
@require_POST
def meeting_decide(request: HttpRequest, review_id: int) -> HttpResponse:
    review = _get_review_for_user(request, review_id)
    if not policy.can_chair(request.user, review):
        raise PermissionDenied
    form = DecisionForm(request.POST, unscored=selectors.unscored_categories(review))
    decision = form.is_valid() and _apply(
        form, lambda: services.record_decision(review=review, actor=request.user, **form.decision_kwargs())
    )
    if decision:
        # The decision step itself says it was recorded (meeting_decision's just_recorded).
        request.session[JUST_RECORDED] = decision.pk
        if decision.pdf_dispatch.waiting_for_workers:
            messages.warning(request, f"The decision's PDF: {dispatch.QUEUED_MESSAGE}")
        url = _step_url(review, "decision")
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    board = Board(request, review)
    context = board.context(
        step=None,
        step_number=agenda.LAST_STEP + 1,
        decision=None,
        form=form,
        prev_url=_step_url(review, agenda.LAST_STEP),
        next_url=None,
    )
    if request.htmx:
        return render(request, "reviews/meeting_step.html", context, status=422)
    return render(request, "reviews/meeting.html", context, status=200)


@login_required
@require_http_methods(["GET", "POST"])
def meeting_exception(request: HttpRequest, finding_id: int) -> HttpResponse:
    """Ask for an exception on a P1 without leaving the meeting."""
    return _finding_form_view(
        request,
        finding_id,
        mode="asking",
        fallback="exception_request",
        make_form=lambda data, review: ExceptionRequestForm(data),
        saved_message="Exception requested; a lead of the team must sign it.",
        change=lambda finding, data: services.request_exception(finding=finding, actor=request.user, **data),
    )


# --- Live: what others changed reaches every open meeting page within a few seconds


@login_required
@require_GET
def meeting_pulse(request: HttpRequest, review_id: int) -> HttpResponse:
    """204 when nothing changed since `since`; else the gate, agenda and activity out of band, and an
    event that tells the page to refresh the step unless the user is typing in it."""
    review = _get_review_for_user(request, review_id)
    try:
        since = int(request.GET.get("since", "0"))
    except ValueError:
        since = 0
    newer = list(
        AuditEvent.objects.filter(review=review, id__gt=since).select_related("actor").order_by("-id")[:5]
    )
    if not newer:
        return HttpResponse(status=204)
    board = Board(request, review)
    mine = all(e.actor_id == request.user.pk for e in newer)
    step_number = _shown_step(request) or 0
    response = render(
        request,
        "reviews/meeting/_pulse.html",
        board.context(events=newer, step_number=step_number),
    )
    if not mine:
        trigger_client_event(response, "readiness:changed", {"by": labels.person_name(newer[0].actor)})
    return response


def _flash(request: HttpRequest, form, success: str) -> None:
    if form.errors:
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
    else:
        messages.success(request, success)
