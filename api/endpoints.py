"""The API's operations. Thin: check the token's scope, fetch through `selectors` (404 for what the token
does not reach), call one service, shape the answer. POSTs run through `services.run_idempotent`."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Status
from ninja.errors import AuthorizationError, HttpError
from ninja.params.functions import Header, Path, Query

from evidence import kinds, typed
from evidence import services as evidence_services
from evidence.models import Evidence
from guide.links import text as guide_text
from probes import services as probe_services
from readiness import dispatch
from reviews import audit
from reviews.models import Category, Review

from . import records, schemas, selectors, services
from .api import api
from .models import ApiToken, Scope
from .schemas import ErrorOut

ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
POST_ERRORS: dict[int, Any] = {**ERRORS, 409: ErrorOut}

IDEMPOTENCY_KEY = Header(
    None,
    alias="Idempotency-Key",
    description="Any unique string per command (1–255 printable ASCII characters), e.g. a UUID or "
    "<pipeline>-<run>-<step>. A retry with the same key gets the first response and changes nothing.",
    min_length=1,
    max_length=255,
    pattern=r"^[\x21-\x7e][\x20-\x7e]*$",
)
SLUG = Path(..., pattern=r"^[-a-zA-Z0-9_]{1,120}$", description="The system's slug.")
LIMIT = Query(100, ge=1, le=500)
RELEASE = Query(None, description="The release scope to answer for (its newest review; trimmed, any case).")
OFFSET = Query(0, ge=0, le=1_000_000)
KIND = Query(None, description="Only evidence of this kind, e.g. invariant, runbook.")


def _id(description: str):
    return Path(..., ge=1, le=schemas.MAX_ID, description=description)


def _token(request: HttpRequest, scope: str) -> ApiToken:
    token: ApiToken = request.auth
    if not token.has_scope(scope):
        raise AuthorizationError(
            403,
            f"This token ({token.prefix}…) does not have the {scope} scope; it has "
            f"{', '.join(token.scopes)}. Create a token with {scope} on /api-tokens/.",
        )
    return token


def _dump(schema, data: dict) -> dict:
    return schema.model_validate(data).model_dump(mode="json")


def _respond(
    request: HttpRequest, token: ApiToken, key: str | None, work: Callable[[], services.ApiResult]
) -> HttpResponse:
    result = services.run_idempotent(
        token=token, key=key, method=request.method, path=request.path, body=request.body, work=work
    )
    response = HttpResponse(result.content, status=result.status, content_type="application/json")
    if key:
        response["Idempotency-Key"] = key
        response["Idempotent-Replayed"] = "true" if result.replayed else "false"
    return response


def _audit_api(token: ApiToken, action: str, obj, review: Review | None, key: str | None) -> None:
    """Beside the service's own event: that it came through the API, with which token and key."""
    audit.record(
        actor=token.created_by,
        action=action,
        obj=obj,
        review=review,
        after={"token": token.prefix, "token_name": token.name, "idempotency_key": key},
    )


# --- Systems and reviews


@api.get("/systems", response={200: list[schemas.SystemOut], **ERRORS}, tags=["systems"])
def list_systems(request: HttpRequest):
    """The systems this token reaches: its team's, or its one system."""
    return selectors.system_list(_token(request, Scope.READ))


@api.get("/systems/{slug}/reviews", response={200: schemas.ReviewListOut, **ERRORS}, tags=["systems"])
def list_reviews(request: HttpRequest, slug: str = SLUG, limit: int = LIMIT, offset: int = OFFSET):
    """A system's reviews, newest first."""
    system = selectors.get_system(_token(request, Scope.READ), slug)
    return selectors.review_list(system, limit=limit, offset=offset)


@api.get(
    "/systems/{slug}/gate", response={200: schemas.GateOut, 409: schemas.GateOut, **ERRORS}, tags=["gate"]
)
def system_gate(
    request: HttpRequest,
    slug: str = SLUG,
    release: schemas.Title | None = RELEASE,
    review: int | None = Query(None, ge=1, le=schemas.MAX_ID, description="A review of this system."),
    enforce: bool = Query(False),
):
    """What a deploy pipeline asks before it ships. With `release` (or `review`): that review's gate.
    Without: the whole system, BLOCKED while any open review or the last decision is blocked, else
    the worst of them, each listed in `reviews`. `exit_code`: 0 passed, 1 BLOCKED, 2 not yet decidable;
    with `enforce=true`, an outcome that did not pass answers 409 (for `curl --fail`)."""
    system = selectors.get_system(_token(request, Scope.READ), slug)
    if release is not None and review is not None:
        raise HttpError(422, "Ask for a release or a review, not both.")
    if release is not None:
        if not release.strip():
            raise HttpError(422, "release: name the release scope.")
        entry = {**selectors.gate_entry(selectors.release_review(system, release)), "answers_for": "release"}
    elif review is not None:
        entry = selectors.gate_entry(selectors.system_review(system, review))
    else:
        entry = selectors.system_gate_entry(system)
    return Status(409 if enforce and not entry["passed"] else 200, entry)


@api.get("/reviews/{review_id}", response={200: schemas.ReviewDetailOut, **ERRORS}, tags=["reviews"])
def get_review(request: HttpRequest, review_id: int = _id("The review's id.")):
    """A review with its scorecard: each category's score, what the gate believes, and fresh evidence."""
    return selectors.review_detail(selectors.get_review(_token(request, Scope.READ), review_id))


@api.get(
    "/reviews/{review_id}/gate",
    response={200: schemas.GateOut, 409: schemas.GateOut, **ERRORS},
    tags=["gate"],
)
def review_gate(request: HttpRequest, review_id: int = _id("The review's id."), enforce: bool = Query(False)):
    """The gate's outcome and every reason. `exit_code`: 0 passed, 1 BLOCKED, 2 not yet
    decidable. With `enforce=true`, an outcome that did not pass answers 409 (for `curl --fail`)."""
    return _gate(selectors.get_review(_token(request, Scope.READ), review_id), enforce)


def _gate(review: Review, enforce: bool):
    entry = selectors.gate_entry(review)
    return Status(409 if enforce and not entry["passed"] else 200, entry)


# --- Evidence


@api.get(
    "/reviews/{review_id}/evidence", response={200: schemas.EvidenceListOut, **ERRORS}, tags=["evidence"]
)
def list_evidence(
    request: HttpRequest,
    review_id: int = _id("The review's id."),
    category: str | None = Query(None, pattern=r"^[a-z0-9-]{1,40}$", description="A category code."),
    kind: schemas.EvidenceKindCode | None = KIND,
    stale: bool | None = Query(None, description="true: only stale items; false: only fresh ones."),
    limit: int = LIMIT,
    offset: int = OFFSET,
):
    """A review's evidence, newest first, each with its age and whether it has gone stale; a typed
    record with its values (`record` with its verdict for the declared kinds, `runbook`, …)."""
    review = selectors.get_review(_token(request, Scope.READ), review_id)
    return selectors.evidence_list(
        review, limit=limit, offset=offset, category=category, stale=stale, kind=kind
    )


def _post_evidence(
    request: HttpRequest, review_id: int, key: str | None, add: Callable[[Review, Any], Evidence]
) -> HttpResponse:
    token = _token(request, Scope.WRITE_EVIDENCE)
    review = selectors.get_review(token, review_id)

    def work() -> services.ApiResult:
        item = add(review, token.created_by)
        _audit_api(token, "api.evidence.add", item, review, key)
        return services.ApiResult(201, _dump(schemas.EvidenceOut, selectors.evidence_entry(item)))

    return _respond(request, token, key, work)


@api.post(
    "/reviews/{review_id}/evidence/links",
    response={201: schemas.EvidenceOut, **POST_ERRORS},
    tags=["evidence"],
)
def post_link(
    request: HttpRequest,
    payload: schemas.LinkIn,
    review_id: int = _id("The review's id."),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """A link (a CI job, a dashboard, a report) as evidence of one category."""

    def add(review: Review, actor) -> Evidence:
        category = Category.objects.filter(version_id=review.catalogue_id, code=payload.category).first()
        if category is None:
            codes = Category.objects.filter(version_id=review.catalogue_id).values_list("code", flat=True)
            raise evidence_services.ServiceError(
                {
                    "category": f"No category {payload.category!r} in this review's catalogue; "
                    f"one of: {', '.join(codes)}."
                }
            )
        data = payload.model_dump(exclude={"category"})
        return evidence_services.add_link(review=review, category=category, actor=actor, **data)

    return _post_evidence(request, review_id, idempotency_key, add)


def _guide_text(key: str) -> str:
    """ "Guide: Invariant inventory", or "" while the guide has no such place (it names none then)."""
    try:
        return guide_text(key)
    except KeyError:
        return ""


def _description(spec: kinds.Spec) -> str:
    finding = f"; it opens a {spec.failing_level} finding" if spec.failing_level else ""
    where = _guide_text(spec.guide)
    return (
        f"{spec.description} Evidence of the `{spec.category}` category. The answer's `record` holds the "
        "values as stored and the verdict: complete (it supports its category), incomplete (kept, but "
        "something it asks for is missing; no finding) or failing (it shows something wrong"
        f"{finding}), with `why`. Errors are listed by field; nothing is stored when any is "
        "wrong." + (f" {where}." if where else "")
    )


def _measured_description(spec: kinds.Spec) -> str:
    where = _guide_text(spec.guide)
    age = f", as old as its {spec.by_name[spec.observed].label.lower()}" if spec.observed else ""
    return (
        f"{spec.description} Evidence of the `{spec.category}` category{age}. The answer's `{spec.kind}` "
        "holds what it says."
        + (" One that shows something wrong opens a finding." if spec.failing_level else "")
        + " Errors are listed by field; nothing is stored when any is wrong."
        + (f" {where}." if where else "")
    )


def _typed_operation(name: str, payload_schema, add: Callable[..., Evidence], summary: str):
    def operation(
        request: HttpRequest,
        payload,
        review_id: int = _id("The review's id."),
        idempotency_key: str | None = IDEMPOTENCY_KEY,
    ):
        return _post_evidence(
            request,
            review_id,
            idempotency_key,
            lambda review, actor: add(review=review, actor=actor, **payload.model_dump()),
        )

    # Ninja reads the payload's schema from the annotations (strings here, under `from __future__`).
    operation.__annotations__ = {**operation.__annotations__, "payload": payload_schema}
    operation.__name__ = operation.__qualname__ = name
    operation.__doc__ = summary
    return operation


# Every typed kind (evidence.kinds): its payload schema is built from the kind's description (api.records),
# and the service is the one every typed kind goes through. The measured kinds (restore drills, runbooks …)
# answer with their own values (`restore_drill`, `runbook` …), the kinds kept as a Record with `record`.
for _declared, _doc in (
    *((d, _measured_description(d.spec)) for d in records.MEASURED),
    *((d, _description(d.spec)) for d in records.DECLARED),
):
    globals()[_declared.name] = api.post(
        f"/reviews/{{review_id}}/evidence/{_declared.path}",
        response={201: schemas.EvidenceOut, **POST_ERRORS},
        tags=["evidence"],
        summary=_declared.spec.add_title,
    )(
        _typed_operation(
            _declared.name,
            _declared.schema,
            functools.partial(typed.add_record, kind=_declared.spec.kind),
            _doc,
        )
    )


# --- Probes


@api.get("/probe-targets", response={200: list[schemas.ProbeTargetOut], **ERRORS}, tags=["probes"])
def list_targets(request: HttpRequest):
    """The probe targets of the systems this token reaches (never their connection strings)."""
    return selectors.target_list(_token(request, Scope.READ))


@api.post(
    "/probe-targets/{target_id}/runs", response={202: schemas.ProbeRunOut, **POST_ERRORS}, tags=["probes"]
)
def start_run(
    request: HttpRequest,
    payload: schemas.ProbeRunIn | None = None,
    target_id: int = _id("The probe target's id."),
    idempotency_key: str | None = IDEMPOTENCY_KEY,
):
    """Queue a run of every probe of the target; with `review_id`, its results become that review's
    evidence and findings. Poll `GET /api/probe-runs/{id}` until `finished`."""
    token = _token(request, Scope.RUN_PROBES)
    target = selectors.get_target(token, target_id)
    review_id = payload.review_id if payload else None
    review = selectors.get_review(token, review_id) if review_id else None

    started: list = []

    def work() -> services.ApiResult:
        run = probe_services.start_probe_run(target=target, actor=token.created_by, review=review)
        started.append(run)
        _audit_api(token, "api.probe_run.start", run, review, idempotency_key)
        return services.ApiResult(202, _dump(schemas.ProbeRunOut, selectors.run_entry(run)))

    response = _respond(request, token, idempotency_key, work)
    if started and started[0].dispatch.waiting_for_workers:
        # Known only after the commit: the run is saved and queued, its message could not be sent.
        body = json.loads(response.content)
        body["message"] = dispatch.QUEUED_MESSAGE
        response.content = json.dumps(body)
    return response


@api.get("/probe-runs/{run_id}", response={200: schemas.ProbeRunOut, **ERRORS}, tags=["probes"])
def get_run(request: HttpRequest, run_id: int = _id("The probe run's id.")):
    """A probe run's state, progress and results."""
    return selectors.run_entry(selectors.get_run(_token(request, Scope.READ), run_id))
