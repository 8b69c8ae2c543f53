"""Sending Celery messages from requests without ever turning a saved change into an error page.

The object a message is about is saved first; the message goes after the commit. When the broker is
down the send fails, but what the user did stands: the failure is logged, the caller learns it from the
returned `Dispatch` and says "queued", and a beat job sends the message again once workers are back
(probe runs: probes.tasks.sweep_stale_runs; decision PDFs: reviews.tasks.requeue_decision_pdfs)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import redis.exceptions
from django.db import transaction
from kombu.exceptions import KombuError

log = logging.getLogger(__name__)

# What a page or the API says when the message could not be sent.
QUEUED_MESSAGE = "Queued — it will run when the workers are back."

# Errors of an unreachable or failing broker. Anything else (a bug, or a task that fails when run
# eagerly in the quick start) is not the broker's fault and still propagates.
BROKER_ERRORS = (KombuError, OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@dataclass
class Dispatch:
    """One message: `sent` is None until it was tried (after the commit), then whether the broker took it."""

    task: str
    args: tuple
    sent: bool | None = None
    error: str = ""

    @property
    def waiting_for_workers(self) -> bool:
        """The message did not reach the broker: the work is saved and waits for the beat job."""
        return self.sent is False


def send(task, *args) -> Dispatch:
    """Send `task(*args)` now; a broker error is logged and reported in the result, never raised."""
    dispatch = Dispatch(task=task.name, args=args)
    try:
        task.delay(*args)
    except BROKER_ERRORS as exc:
        dispatch.sent, dispatch.error = False, f"{type(exc).__name__}: {exc}"
        log.warning(
            "broker unreachable; %s%r stays queued until a beat job sends it again: %s", task.name, args, exc
        )
    else:
        dispatch.sent = True
    return dispatch


def send_on_commit(task, *args) -> Dispatch:
    """Send `task(*args)` once the current transaction commits (at once outside one). Read `sent` after
    the outermost atomic block has exited."""
    dispatch = Dispatch(task=task.name, args=args)

    def callback() -> None:
        result = send(task, *args)
        dispatch.sent, dispatch.error = result.sent, result.error

    transaction.on_commit(callback)
    return dispatch
