"""A request id for every request, carried into the Celery tasks it starts, and JSON log lines.

The middleware takes the caller's X-Request-ID when it is sane (a proxy or load balancer may set one),
else makes one, answers with it in the X-Request-ID header, and keeps it in a context variable for the
time of the request. Every log record gets it as `request_id` (RequestIdFilter); a task published during
the request carries it in a message header, and the worker sets it while the task runs, so the worker's
log lines of that task carry the same id. With LOG_FORMAT=json each log line is one JSON object
(JsonFormatter)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

from celery.signals import before_task_publish, task_postrun, task_prerun

HEADER = "X-Request-ID"
TASK_HEADER = "readiness_request_id"
# Letters, digits and - _ . : only, at most 64 characters: anything else (a log injection, a huge value)
# is replaced by a generated id.
SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def current() -> str:
    """The id of the request (or task) this code runs for; "" outside of both."""
    return _current.get()


def sane(value: str | None) -> str | None:
    return value if value and SANE.match(value) else None


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE: every later middleware, the view and their log lines see the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = sane(request.headers.get(HEADER)) or new_id()
        request.request_id = request_id
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (empty outside a request or task). Django logs an error answer
    (django.request: "Not Found", "Internal Server Error") after the middleware returned, with the request
    on the record: its id is taken from there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            request = getattr(record, "request", None)
            record.request_id = current() or getattr(request, "request_id", "") or ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, and the
    exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "") or current(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


@before_task_publish.connect(weak=False)
def _carry_into_message(headers=None, **kwargs) -> None:
    """A task published while a request (or a task) runs carries its id."""
    request_id = current()
    if request_id and headers is not None:
        headers[TASK_HEADER] = request_id


def _task_header(task) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    value = getattr(request, TASK_HEADER, None)
    if value is None and isinstance(getattr(request, "headers", None), dict):
        value = request.headers.get(TASK_HEADER)
    return sane(value)


_task_tokens: dict[str, contextvars.Token] = {}


@task_prerun.connect(weak=False)
def _set_for_task(task_id=None, task=None, **kwargs) -> None:
    """On the worker: the task runs under the id of the request that started it. An eager task (the quick
    start) already runs inside the request and keeps its id."""
    request_id = _task_header(task)
    if request_id and task_id:
        _task_tokens[task_id] = _current.set(request_id)


@task_postrun.connect(weak=False)
def _reset_after_task(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # set in another context (a thread pool): forget it there
            _current.set("")
