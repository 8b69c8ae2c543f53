"""Probe runs: started with an id on the queue, claimed atomically, executed probe by probe with each
result stored once, finished (and applied to the review) in one transaction, swept when left hanging."""

from __future__ import annotations

import contextlib
import logging
import math
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from readiness import dispatch
from reviews import audit
from reviews.models import Level, Review
from reviews.services import ServiceError, _require

from .. import registry
from ..models import ACTIVE_STATES, ProbeResult, ProbeRun, ProbeTarget, RunState
from ..registry import Result, Status
from .findings import apply_run_to_review
from .targets import _conninfo, can_run_probes, describe_connection_error, scrub

logger = logging.getLogger(__name__)

MAX_ROWS_STORED = 200


def run_deadline() -> timedelta:
    return timedelta(seconds=settings.PROBE_RUN_DEADLINE_S)


def per_probe_s() -> float:
    """The longest a target that answers keeps one probe waiting: a connect plus a statement timeout."""
    return settings.PROBE_STATEMENT_TIMEOUT_MS / 1000 + settings.PROBE_CONNECT_TIMEOUT_S


def heartbeat_stale_after() -> timedelta:
    """A worker reports after every probe."""
    return timedelta(seconds=max(60.0, 3 * per_probe_s()))


def max_attempts() -> int:
    return getattr(settings, "PROBE_RUN_MAX_ATTEMPTS", 3)


# --- Runs


def _enqueue(run_id: int) -> dispatch.Dispatch:
    from ..tasks import run_probe_run

    # The task gets the run's id, nothing else: the password stays in the database, encrypted. A broker that
    # is down leaves the run QUEUED (saved, and said so): the sweeper sends it again after its deadline.
    return dispatch.send_on_commit(run_probe_run, run_id)


@transaction.atomic
def start_probe_run(*, target: ProbeTarget, actor, review: Review | None = None) -> ProbeRun:
    target = ProbeTarget.objects.select_related("system").get(pk=target.pk)
    _require(can_run_probes(actor, target.system), "Only members of the system's team may run probes.")
    return _queue_run(target, review=review, actor=actor, action="probe_run.start")


@transaction.atomic
def start_scheduled_run(*, target: ProbeTarget, review: Review | None = None) -> ProbeRun:
    """A run started by the target's schedule (Celery beat), by nobody: audited without an actor. It may
    wait PROBE_SCHEDULED_QUEUE_WAIT_S behind the other targets' runs before the sweeper calls it lost."""
    target = ProbeTarget.objects.select_related("system").get(pk=target.pk)
    wait = max(run_deadline(), timedelta(seconds=settings.PROBE_SCHEDULED_QUEUE_WAIT_S))
    return _queue_run(target, review=review, actor=None, action="probe_run.schedule", queue_wait=wait)


def _queue_run(
    target: ProbeTarget, *, review: Review | None, actor, action: str, queue_wait: timedelta | None = None
) -> ProbeRun:
    if review is not None:
        if review.system_id != target.system_id:
            raise ServiceError("That review is of another system.")
        if review.is_frozen:
            raise ServiceError(
                "This review is decided and frozen; start a run without it or for a new review."
            )
    now = timezone.now()
    try:
        with transaction.atomic():
            run = ProbeRun.objects.create(
                target=target,
                review=review,
                state=RunState.QUEUED,
                started_by=actor if getattr(actor, "is_authenticated", False) else None,
                created_at=now,
                deadline=now + (queue_wait or run_deadline()),
                attempts=1,
            )
    except IntegrityError:  # probe_run_one_active_per_target
        active = ProbeRun.objects.filter(target=target, state__in=ACTIVE_STATES).first()
        raise ServiceError(
            f"A run of {target.name} is already {active.get_state_display().lower() if active else 'active'}"
            f"{f' (run #{active.pk})' if active else ''}; wait for it to finish."
        )
    audit.record(
        actor=actor,
        action=action,
        obj=run,
        review=review,
        after={"target": target.pk, "review": review.pk if review else None},
    )
    run.dispatch = _enqueue(run.pk)  # its `sent` is known once the caller's transaction has committed
    return run


def _claim(run_id: int) -> uuid.UUID | None:
    """QUEUED -> RUNNING in one UPDATE, or take over a RUNNING run whose worker stopped reporting.
    Exactly one caller gets the token; every later write of the run is conditional on it."""
    now = timezone.now()
    token = uuid.uuid4()
    claimed = (
        ProbeRun.objects.filter(_claimable(now), pk=run_id).update(
            state=RunState.RUNNING,
            claim_token=token,
            started_at=Coalesce(F("started_at"), now),
            heartbeat_at=now,
            deadline=now + run_deadline(),
        )
        == 1
    )
    return token if claimed else None


def _report(run_id: int, token: uuid.UUID, **fields) -> bool:
    """A cheap UPDATE after each probe; False when another worker has taken the run over."""
    return (
        ProbeRun.objects.filter(pk=run_id, claim_token=token, state=RunState.RUNNING).update(
            heartbeat_at=timezone.now(), **fields
        )
        == 1
    )


def _fail(run_id: int, token: uuid.UUID | None, error: str) -> bool:
    with transaction.atomic():
        now = timezone.now()
        qs = ProbeRun.objects.filter(pk=run_id, state=RunState.RUNNING)
        if token is not None:
            qs = qs.filter(claim_token=token)
        failed = (
            qs.update(
                state=RunState.FAILED,
                error=error[:4000],
                finished_at=now,
                current_probe="",
                claim_token=None,
            )
            == 1
        )
        if failed:
            run = ProbeRun.objects.select_related("target").get(pk=run_id)
            audit.record(
                actor=None,
                action="probe_run.fail",
                obj=run,
                review=run.review if run.review_id else None,
                after={"state": RunState.FAILED, "error": run.error},
            )
    return failed


def _jsonable(value: Any) -> Any:
    """Row values as JSON that PostgreSQL's jsonb accepts (no NaN, no NUL characters)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):  # enums
        return value.value
    return str(value)


def _result_row(run_id: int, result: Result, *, title: str = "") -> ProbeResult:
    details = result.as_json()["details"]
    return ProbeResult(
        run_id=run_id,
        probe_id=result.probe_id[:120],
        title=(title or result.probe_id)[:200],
        category=result.category[:40],
        severity=result.severity if result.severity in Level.values else Level.P3,
        status=Status(result.status).value,
        summary=_jsonable(result.summary or ""),
        details=_jsonable(details),
        rows=_jsonable(list(result.rows[:MAX_ROWS_STORED])),
        fix=_jsonable(result.fix or ""),
        duration_ms=float(result.duration_ms or 0),
    )


def store_result(run: ProbeRun, result: Result, *, title: str = "") -> None:
    """INSERT … ON CONFLICT DO NOTHING: a result already stored for (run, probe) stays as it is."""
    ProbeResult.objects.bulk_create([_result_row(run.pk, result, title=title)], ignore_conflicts=True)


class _Batch:
    """Results waiting to be written: one INSERT … ON CONFLICT DO NOTHING for all of them, with the
    run's progress and heartbeat in one UPDATE after it. Written at least every PROBE_RESULT_FLUSH_S (so
    the heartbeat stays fresh), before each invariant check (a user's SQL may be slow: what came before
    is stored by then), and at the end; a result already stored for (run, probe) stays as it is."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.rows: list[ProbeResult] = []
        self.written = monotonic()

    def add(self, result: Result, *, title: str = "") -> None:
        self.rows.append(_result_row(self.run_id, result, title=title))

    def due(self) -> bool:
        return bool(self.rows) and monotonic() - self.written >= settings.PROBE_RESULT_FLUSH_S

    def write(self) -> None:
        if self.rows:
            ProbeResult.objects.bulk_create(self.rows, ignore_conflicts=True)
            self.rows = []
        self.written = monotonic()


class _OutOfTime(Exception):
    """The run passed PROBE_RUN_DEADLINE_S: seen between probes, whatever the worker's pool."""


@dataclass
class _Clock:
    """When this worker claimed the run and when the target last answered, to stop a run on time and
    to say why it was stopped."""

    started: float = field(default_factory=monotonic)
    last_answer: float = field(default_factory=monotonic)

    def answered(self) -> None:
        self.last_answer = monotonic()

    def check(self) -> None:
        if monotonic() - self.started >= settings.PROBE_RUN_DEADLINE_S:
            raise _OutOfTime

    def error(self) -> str:
        now = monotonic()
        ran, silent = now - self.started, now - self.last_answer
        kept = "Results already stored are kept; start a new run"
        if silent > per_probe_s():  # longer than any probe of a target that answers can take
            return (
                f"The target stopped answering; the run was stopped after {ran:.0f} s (no answer for the "
                f"last {silent:.0f} s; the time limit of a run is {settings.PROBE_RUN_DEADLINE_S} s). "
                f"{kept} when the target answers again."
            )
        return (
            f"The run was stopped after {ran:.0f} s, its time limit being {settings.PROBE_RUN_DEADLINE_S} s: "
            f"the target answers too slowly to finish in time. {kept}."
        )


# The key space of the app database's advisory locks that stand for "a worker is probing this target".
TARGET_LOCK_CLASS = 0x7072


@contextlib.contextmanager
def target_lock(target_id: int) -> Iterator[bool]:
    """Whether this worker holds the target: a session advisory lock on the app database, held for the
    whole run, so no two workers ever probe one target at once, even when a run whose worker went silent
    (but lives) was taken over or a message was duplicated. The lock goes with the worker's connection:
    a killed worker frees it at once. Without PostgreSQL (the quick start) tasks run in-process: True."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s, %s)", [TARGET_LOCK_CLASS, target_id % 2**31])
        held = bool(cur.fetchone()[0])
    raw = connection.connection
    try:
        yield held
    finally:
        # A run interrupted mid-query closed the connection, and the lock with it.
        if held and raw is not None and connection.connection is raw:
            with contextlib.suppress(DatabaseError), connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s, %s)", [TARGET_LOCK_CLASS, target_id % 2**31])


def _claimable(now: datetime) -> Q:
    stale = now - heartbeat_stale_after()
    return Q(state=RunState.QUEUED) | Q(state=RunState.RUNNING, heartbeat_at__lt=stale)


def execute_run(run_id: int) -> str:
    """The body of `probes.tasks.run_probe_run`: claim, run what is not stored yet, finish.

    Never raises for what can go wrong with the target (the run fails with the reason). A worker that
    dies mid-run leaves the run RUNNING with its stored results; the sweeper re-enqueues it and the next
    worker resumes after the stored results. A run is executed only by the worker holding its target
    (`target_lock`): "target busy" when another worker still probes it (the task tries again later).

    A run stops at PROBE_RUN_DEADLINE_S: checked before each result is kept, and, for a probe that
    waits on a target that stopped answering, by the task's soft time limit (SoftTimeLimitExceeded,
    raised in the worker a little after the deadline). The engine may turn that interruption into an
    error result for the probe it was running; the check before keeping it catches that too, so the run
    fails with the reason either way, the results obtained in time are stored and the interrupted
    probe's is not.
    """
    claimable = ProbeRun.objects.filter(_claimable(timezone.now()), pk=run_id)
    target_id = claimable.values_list("target_id", flat=True).first()
    if target_id is None:
        return "not claimed"  # finished, or running on a live worker: a duplicate message
    with target_lock(target_id) as held:
        if not held:
            return "target busy"
        token = _claim(run_id)
        if token is None:
            return "not claimed"
        clock = _Clock()
        batch = _Batch(run_id)
        try:
            return _execute(run_id, token, clock, batch)
        except (_OutOfTime, SoftTimeLimitExceeded) as exc:
            if isinstance(exc, SoftTimeLimitExceeded) and not connection.in_atomic_block:
                connection.close()  # the interruption may have come in the middle of a query of our own
            batch.write()  # what came in time is kept
            _fail(run_id, token, clock.error())
            return "failed"
        except ServiceError as exc:
            _fail(run_id, token, " ".join(exc.messages))
            return "failed"
        except Exception as exc:
            logger.error(
                "probe run %s stopped on an internal error:\n%s", run_id, _scrubbed_traceback(run_id)
            )
            with contextlib.suppress(Exception):
                batch.write()
            _fail(
                run_id,
                token,
                f"The run stopped on an internal error ({type(exc).__name__}); see the worker's log.",
            )
            return "failed"


def _scrubbed_traceback(run_id: int) -> str:
    """The current traceback without the target's password: a library's message could quote the DSN."""
    text = traceback.format_exc()
    try:
        return scrub(text, _conninfo(ProbeTarget.objects.get(runs__pk=run_id)))
    except Exception:
        return (
            text.strip().splitlines()[-1].split(":", 1)[0] + " (traceback withheld: it could not be scrubbed)"
        )


def _execute(run_id: int, token: uuid.UUID, clock: _Clock, batch: _Batch) -> str:
    from .. import engine

    run = ProbeRun.objects.select_related("target").get(pk=run_id)
    target = run.target
    conninfo = _conninfo(target)
    probes = registry.all_probes()
    titles = {p.id: p.title for p in probes}
    checks = list(target.invariant_checks.order_by("pk"))
    plan = [p.id for p in probes] + [c.probe_id for c in checks]
    stored = set(ProbeResult.objects.filter(run_id=run_id).values_list("probe_id", flat=True))
    remaining = [probe_id for probe_id in plan if probe_id not in stored]  # resume after what is stored

    def flush() -> bool:
        """Write the batch and report progress; False when another worker has taken the run over."""
        batch.write()
        return _report(
            run_id,
            token,
            progress_done=len(plan) - len(remaining),
            progress_total=len(plan),
            current_probe=remaining[0] if remaining else "",
        )

    def kept(result: Result, probe_id: str, title: str) -> bool:
        batch.add(replace(result, probe_id=probe_id), title=title)
        if probe_id in remaining:
            remaining.remove(probe_id)
        return flush() if batch.due() else True

    if not flush():
        return "lost claim"
    try:
        todo = [probe_id for probe_id in remaining if probe_id in titles]
        if todo:
            # closing(): a run stopped early closes its connection to the target at once.
            with contextlib.closing(
                engine.iter_probes(
                    conninfo,
                    only=todo,
                    params=target.params or None,
                    statement_timeout_ms=settings.PROBE_STATEMENT_TIMEOUT_MS,
                    lock_timeout_ms=settings.PROBE_LOCK_TIMEOUT_MS,
                    connect_timeout_s=settings.PROBE_CONNECT_TIMEOUT_S,
                )
            ) as results:
                for result in results:
                    clock.check()
                    clock.answered()
                    if not kept(result, result.probe_id, titles.get(result.probe_id, "")):
                        return "lost claim"
        for check in checks:
            if check.probe_id not in remaining:
                continue
            clock.check()
            if not flush():  # a user's SQL may be slow: what came before it is stored by then
                return "lost claim"
            try:
                result = engine.run_invariant(
                    conninfo,
                    check.sql,
                    name=check.name,
                    category=check.category,
                    severity=check.severity,
                    row_cap=check.row_cap,
                    statement_timeout_ms=settings.PROBE_STATEMENT_TIMEOUT_MS,
                    lock_timeout_ms=settings.PROBE_LOCK_TIMEOUT_MS,
                    connect_timeout_s=settings.PROBE_CONNECT_TIMEOUT_S,
                )
            except (engine.ProbeConnectionError, SoftTimeLimitExceeded):
                raise
            except Exception as exc:  # one check's failure never stops the run
                result = Result(
                    probe_id=check.probe_id,
                    category=check.category,
                    severity=check.severity,
                    status=Status.ERROR,
                    summary=f"The check could not run: {scrub(str(exc), conninfo)}",
                )
            clock.check()
            clock.answered()
            if not kept(result, check.probe_id, check.name):
                return "lost claim"
    except engine.ProbeConnectionError as exc:
        batch.write()
        info = describe_connection_error(exc, conninfo)
        _fail(run_id, token, "\n".join(v for v in (info["error"], info["detail"], info["hint"]) if v))
        return "failed"
    for probe_id in list(remaining):  # the engine gave no result for it: say so rather than leave a gap
        kept(
            Result(
                probe_id=probe_id,
                category=next((p.category for p in probes if p.id == probe_id), "observability"),
                severity=next((p.severity for p in probes if p.id == probe_id), Level.P3),
                status=Status.ERROR,
                summary="The probe engine returned no result for this probe.",
            ),
            probe_id,
            titles.get(probe_id, ""),
        )
    batch.write()
    return _finish(run_id, token)


def _finish(run_id: int, token: uuid.UUID) -> str:
    with transaction.atomic():
        run = ProbeRun.objects.select_for_update().get(pk=run_id)
        if run.claim_token != token or run.state != RunState.RUNNING:
            return "lost claim"
        now = timezone.now()
        run.state = RunState.DONE
        run.finished_at = now
        run.heartbeat_at = now
        run.current_probe = ""
        run.claim_token = None
        run.progress_done = run.progress_total
        run.applied_to_review = bool(run.review_id) and apply_run_to_review(run)
        run.save()
        statuses = list(run.results.values_list("status", flat=True))
        audit.record(
            actor=None,
            action="probe_run.finish",
            obj=run,
            review=run.review if run.review_id else None,
            after={
                "state": run.state,
                "results": {s: statuses.count(s) for s in sorted(set(statuses))},
                "applied_to_review": run.applied_to_review,
            },
        )
    return "done"


# --- The sweeper


def worker_stops_it_within() -> timedelta:
    """A RUNNING run past its deadline is its worker's to stop (the run fails with the reason) until the
    task's hard time limit has passed as well; only then may the sweeper take it over."""
    hard = getattr(settings, "PROBE_RUN_TIME_LIMIT_S", settings.PROBE_RUN_DEADLINE_S)
    return timedelta(seconds=max(0, hard - settings.PROBE_RUN_DEADLINE_S))


def _stale(now: datetime) -> Q:
    overdue = now - worker_stops_it_within()
    return Q(state=RunState.QUEUED, deadline__lt=now) | Q(state=RunState.RUNNING) & (
        Q(deadline__lt=overdue)
        | Q(heartbeat_at__lt=now - heartbeat_stale_after())
        | Q(heartbeat_at__isnull=True)
    )


def _stale_reason(run: ProbeRun, now: datetime) -> str:
    if run.state == RunState.QUEUED:
        return "no worker started it before its deadline (is a worker running, and the broker reachable?)"
    if run.deadline and run.deadline < now - worker_stops_it_within():
        return f"it ran past its deadline of {settings.PROBE_RUN_DEADLINE_S} s"
    where = f" during {run.current_probe}" if run.current_probe else ""
    return f"its worker stopped reporting progress{where} (killed, or lost its connection)"


def sweep_stale_runs(*, now: datetime | None = None) -> dict[str, int]:
    """Runs left QUEUED or RUNNING past their deadline, or whose worker went silent, are re-enqueued
    (the next worker resumes after the stored results), or FAILED with the reason after
    PROBE_RUN_MAX_ATTEMPTS dispatches. Nothing is left hanging."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0}
    for run_id in list(ProbeRun.objects.filter(_stale(now)).values_list("pk", flat=True)[:500]):
        with transaction.atomic():
            run = ProbeRun.objects.select_for_update(skip_locked=True).filter(_stale(now), pk=run_id).first()
            if run is None:  # finished, or another sweeper has it
                continue
            reason = _stale_reason(run, now)
            review = Review.objects.filter(pk=run.review_id).first() if run.review_id else None
            if run.attempts >= max_attempts():
                run.state = RunState.FAILED
                run.error = (
                    f"Gave up after {run.attempts} attempts: {reason}. Results already stored are kept; "
                    "start a new run."
                )
                run.finished_at = now
                run.current_probe = ""
                run.claim_token = None
                run.save()
                audit.record(
                    actor=None,
                    action="probe_run.fail",
                    obj=run,
                    review=review,
                    after={"state": run.state, "error": run.error},
                )
                counts["failed"] += 1
            else:
                # A worker still holding the old token stops at its next write.
                run.state = RunState.QUEUED
                run.attempts += 1
                run.claim_token = None
                run.heartbeat_at = None
                run.deadline = now + run_deadline()
                run.save()
                audit.record(
                    actor=None,
                    action="probe_run.requeue",
                    obj=run,
                    review=review,
                    after={"attempt": run.attempts, "reason": reason},
                )
                _enqueue(run.pk)
                counts["requeued"] += 1
    return counts
