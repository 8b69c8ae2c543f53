"""The Django Ninja application behind /api/: bearer-token authentication, JSON errors for everything a
client can get wrong, and the docs page served from vendored Swagger UI (nothing from the internet).

The operations are in `api.endpoints`; they fetch through `api.selectors` (another team's object is a
404) and change through the same services as the pages."""

from __future__ import annotations

import json
import logging
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.openapi.docs import DocsBase
from ninja.security import HttpBearer

from reviews.services import ConflictError

from . import records, services

log = logging.getLogger(__name__)

DESCRIPTION = """
The API for pipelines: read systems, reviews and their gate; post evidence (links, restore drills,
migration rehearsals, load tests, runbooks, runbook tests, access patterns, derived stores, capacity
envelopes, and the inventories a review holds: invariants, write paths, concurrency tests, forecasts,
migration plans, recovery objectives, signals, dashboards, alert rules, privacy fields); start probe
runs and read their results.

**Records.** Each kind of inventory record is posted to `/api/reviews/{review_id}/evidence/<kind>`,
its kind dashed and plural:
{record_paths}.
Choices are sent as their codes, yes/no answers as `yes` or `no`, dates as YYYY-MM-DD; a field the
record asks for but may lack keeps it as *incomplete*. The answer's `record` holds the values as stored
and the verdict (complete, incomplete or failing, and why). `GET …/evidence?kind=invariant` lists one
kind.

**Tokens.** Send `Authorization: Bearer rdy_…`. An architect or lead creates tokens on the
*API tokens* page (`/api-tokens/`); a token belongs to a team or to one system, carries scopes
(`read`, `write:evidence`, `run:probes`) and acts for the person who created it.

**Idempotency.** Every POST takes an `Idempotency-Key` header. A retry with the same key gets the
first response, status and body, and changes nothing again; the same key with a different request
is refused (422, `idempotency_key_reused`). Only successful responses are kept (for
`API_IDEMPOTENCY_KEEP_DAYS`, 7 by default): a refused request changed nothing and may be retried.

**Errors** are JSON: `{"error": code, "message": text, "fields": {field: [messages]}}`.

**Gate.** `GET /api/systems/{slug}/gate` (or `/api/reviews/{id}/gate`) gives the outcome, the
reasons, `passed` and `exit_code` (0 passed, 1 BLOCKED, 2 not yet decidable). With `?enforce=true`
an outcome that did not pass answers 409, so `curl --fail` stops a pipeline.
"""

# A stable code per HTTP status, for clients that branch on `error`.
ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_request",
    429: "throttled",
    500: "server_error",
}


class LocalSwagger(DocsBase):
    """Swagger UI from static/vendor/swagger-ui (see its VERSION), started by static/api/docs.js."""

    # Swagger UI sets style attributes from script; everything else is the app's own policy.
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
        "frame-ancestors 'none'"
    )

    def render_page(self, request: HttpRequest, api: NinjaAPI, **kwargs: Any) -> HttpResponse:
        settings = {
            "url": self.get_openapi_url(api, kwargs),
            "layout": "BaseLayout",
            "deepLinking": True,
            "validatorUrl": None,  # the default asks validator.swagger.io
            "tryItOutEnabled": False,
            "persistAuthorization": False,
        }
        response = render(request, "api/docs.html", {"api": api, "swagger_settings": settings})
        response["Content-Security-Policy"] = self.csp
        return response


class TokenAuth(HttpBearer):
    """`Authorization: Bearer rdy_…`. A missing, unknown, revoked or expired token is a 401 that says
    which of these it is."""

    def __call__(self, request: HttpRequest):
        header = request.headers.get("Authorization", "")
        scheme, _, raw = header.partition(" ")
        if not header or scheme.lower() != "bearer":
            raise AuthenticationError(
                401,
                "Send an API token: Authorization: Bearer rdy_… "
                "(architects and leads create them on /api-tokens/).",
            )
        return self.authenticate(request, raw)

    def authenticate(self, request: HttpRequest, token: str):
        try:
            return services.authenticate(token)
        except services.TokenRefused as exc:
            raise AuthenticationError(401, str(exc))


def signed_in_or_token(view):
    """The schema and its docs page: for people signed in, and for a client with a valid token (a
    pipeline reads the schema with the token it calls with). Anyone else is sent to the login page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            try:
                services.authenticate(raw)
            except services.TokenRefused as exc:
                return error_response(request, 401, str(exc))
            return view(request, *args, **kwargs)
        return redirect_to_login(request.get_full_path())

    return wrapped


api = NinjaAPI(
    title="Readiness API",
    version="1",
    description=DESCRIPTION.strip().replace(
        "{record_paths}", ", ".join(f"`{d.path}`" for d in records.DECLARED)
    ),
    urls_namespace="api",
    docs=LocalSwagger(),
    docs_decorator=signed_in_or_token,
    auth=TokenAuth(),
)


def error_response(
    request: HttpRequest, status: int, message: str, *, code: str | None = None, fields: dict | None = None
) -> HttpResponse:
    response = api.create_response(
        request,
        {"error": code or ERROR_CODES.get(status, "error"), "message": message, "fields": fields or {}},
        status=status,
    )
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="readiness"'
    return response


def _field_name(loc: tuple | list) -> str:
    parts = [str(p) for p in loc]
    source = (
        parts.pop(0) if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"} else ""
    )
    if source == "body" and parts and parts[0] == "payload":
        parts.pop(0)
    return ".".join(parts) or source or "request"


def _message(error: dict) -> str:
    message = str(error.get("msg", "Invalid value."))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message


@api.exception_handler(NinjaValidationError)
def on_invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        fields.setdefault(_field_name(error.get("loc", ())), []).append(_message(error))
    summary = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
    return error_response(
        request, 422, f"The request does not match the API's schema. {summary}", fields=fields
    )


@api.exception_handler(HttpError)
def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    message = str(exc)
    if exc.status_code == 400 and message.startswith("Cannot parse request body"):
        message = "The request body is not valid JSON."
    return error_response(request, exc.status_code, message)


@api.exception_handler(services.IdempotencyKeyReused)
def on_key_reused(request: HttpRequest, exc: services.IdempotencyKeyReused) -> HttpResponse:
    return error_response(request, 422, str(exc), code="idempotency_key_reused")


@api.exception_handler(ConflictError)
def on_conflict(request: HttpRequest, exc: ConflictError) -> HttpResponse:
    return error_response(request, 409, " ".join(exc.messages))


@api.exception_handler(DjangoValidationError)
def on_refused(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    """A service's ServiceError (or a model's ValidationError): refused, with field errors."""
    if hasattr(exc, "error_dict"):
        fields = {
            name: [str(m) for e in errors for m in e.messages] for name, errors in exc.error_dict.items()
        }
        summary = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
        return error_response(request, 422, f"Refused. {summary}", code="refused", fields=fields)
    return error_response(request, 422, " ".join(exc.messages), code="refused")


@api.exception_handler(PermissionDenied)
def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return error_response(request, 403, str(exc) or "You may not make this change.")


@api.exception_handler(Http404)
def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    message = str(exc)
    if not message or message.startswith("No ") and "matches the given query" in message:
        message = "Not found, or not reachable with this token."
    return error_response(request, 404, message)


@api.exception_handler(ObjectDoesNotExist)
def on_missing(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
    return error_response(request, 404, "Not found, or not reachable with this token.")


@api.exception_handler(SuspiciousOperation)
def on_suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    """Django refuses a body over DATA_UPLOAD_MAX_MEMORY_SIZE and similar as SuspiciousOperation."""
    return error_response(request, 400, "The request was refused: " + (str(exc) or type(exc).__name__))


@api.exception_handler(Exception)
def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Anything no other handler knows: logged with its traceback, answered in the API's JSON error shape
    (Django would answer the site's HTML error page). The message says nothing of the error itself."""
    log.error("API %s %s failed", request.method, request.path, exc_info=exc)
    return error_response(
        request,
        500,
        "The server failed to answer this request; the error was logged. Try again later, or tell the "
        "administrators.",
    )


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under /api/: a JSON 404 rather than the site's HTML page."""
    body = {
        "error": "not_found",
        "message": f"No API endpoint at {request.path}; see /api/docs.",
        "fields": {},
    }
    return HttpResponse(json.dumps(body), status=404, content_type="application/json")


from . import endpoints  # noqa: E402,F401  (registers the operations on `api`)
