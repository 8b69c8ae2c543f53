"""Probe targets and their invariant checks: the connection checked and split, the password encrypted
at rest, connection tests run by a worker.

The password of a target is decrypted only by `_conninfo`, for the engine; it never leaves this package.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from django.db import transaction
from django.utils import timezone

from guide.links import text as guide_text
from reviews import audit, policy
from reviews.models import Category, Level
from reviews.services import ServiceError, _require

from .. import crypto, registry
from ..models import Environment, InvariantCheck, ProbeTarget

TARGET_FIELDS = (
    "system",
    "name",
    "environment",
    "host",
    "port",
    "dbname",
    "db_user",
    "sslmode",
    "params",
    "schedule_hours",
)
MAX_SCHEDULE_HOURS = 8760
INVARIANT_FIELDS = ("target", "name", "sql", "category", "severity", "row_cap")


def can_manage_targets(user, system) -> bool:
    """Register and edit targets, add and delete invariant checks: the team's architects and leads
    (they decide where the worker connects and what SQL it runs)."""
    return policy.role_in(user, system.team_id) in policy.CHAIR_ROLES


def can_run_probes(user, system) -> bool:
    """Start runs and connection tests of existing targets: any non-auditor member of the team."""
    return policy.role_in(user, system.team_id) in policy.EDITOR_ROLES


# --- Connections


def _check_dsn(dsn: str) -> dict[str, str]:
    """The allow-listed parameters of a DSN typed by a person (URL or key=value, parsed by libpq), with
    its host checked against PROBE_ALLOWED_HOSTS; a clear message naming what is wrong, never the input."""
    from .. import engine

    dsn = dsn.strip()
    if not dsn:
        raise ServiceError({"dsn": "Give the connection string of the database to probe."})
    try:
        params = engine.connection_params(dsn)
        engine.check_host(params)
        for key in engine.SSL_FILE_KEYS:
            if params.get(key):
                engine.ssl_path(key, params[key])
    except engine.ProbeRefused as exc:
        raise ServiceError({"dsn": f"{exc.headline} {exc.hint}".strip()}) from None
    if not params.get("user"):
        raise ServiceError({"dsn": "Give the user (role) the probes log in as."})
    if not params.get("dbname"):
        raise ServiceError({"dsn": "Give the database name."})
    if len(params["dbname"]) > 63 or len(params["user"]) > 63 or len(params["host"]) > 255:
        raise ServiceError({"dsn": "A database or user name has at most 63 characters, a host 255."})
    return params


def _set_connection(target: ProbeTarget, params: dict[str, str]) -> None:
    from .. import engine

    target.host = params["host"]
    target.port = int(params.get("port") or 5432)
    target.dbname = params["dbname"]
    target.db_user = params["user"]
    target.sslmode = params.get("sslmode") or "prefer"
    target.ssl_files = {k: params[k] for k in engine.SSL_FILE_KEYS if params.get(k)}
    target.password_encrypted = crypto.encrypt(params["password"]) if params.get("password") else ""


def _conninfo(target: ProbeTarget) -> dict[str, str]:
    """The target's connection parameters, password decrypted, for the engine only."""
    params = {
        "host": target.host,
        "port": str(target.port),
        "dbname": target.dbname,
        "user": target.db_user,
        "sslmode": target.sslmode,
        **{k: str(v) for k, v in (target.ssl_files or {}).items()},
    }
    if target.password_encrypted:
        try:
            params["password"] = crypto.decrypt(target.password_encrypted)
        except crypto.InvalidToken:
            raise ServiceError(
                "The saved password cannot be decrypted with the configured PROBE_ENCRYPTION_KEYS "
                "(was a key removed before `manage.py rotate_probe_secrets` ran?). Enter the connection "
                "again on the target's edit page."
            ) from None
    return {k: v for k, v in params.items() if v}


def scrub(text: str, conninfo: Any) -> str:
    """Remove the password of `conninfo` (parameters or a DSN) from a message, whatever quoted it."""
    from .. import engine

    if not conninfo or not text:
        return text
    for secret in sorted(set(engine._secrets(conninfo)), key=len, reverse=True):
        text = text.replace(secret, "********")
    if isinstance(conninfo, str):
        text = text.replace(conninfo, "(connection string)")
    return text


def describe_connection_error(message: Any, conninfo: Any = None) -> dict[str, str]:
    """A headline a person can act on, the server's own words (without secrets), and a hint. A refusal
    of the engine (host or parameter not allowed, a role that may do more than read) says so itself."""
    from .. import engine

    if isinstance(message, engine.ProbeRefused):
        return {"error": message.headline, "detail": scrub(str(message), conninfo), "hint": message.hint}
    detail = scrub(str(message), conninfo).strip()
    low = detail.lower()
    if "authentication failed" in low or re.search(r'role "[^"]*" does not exist', low):
        headline = "Bad credentials: the server refused this user or password."
        hint = "Check the user and password in the connection string."
    elif "no pg_hba.conf entry" in low:
        headline = "Refused by the server's pg_hba.conf: this host, user or database may not connect."
        hint = "Ask the database's administrators to allow the probe role from the Readiness workers."
    elif re.search(r'database "[^"]*" does not exist', low):
        headline = "The database does not exist on that server."
        hint = "Check the database name in the connection string."
    elif "could not translate host name" in low or "name or service not known" in low:
        headline = "Unknown host: the host name does not resolve."
        hint = "Check the host name, and the workers' DNS."
    elif any(
        s in low
        for s in (
            "connection refused",
            "timeout expired",
            "timed out",
            "no route to host",
            "network is unreachable",
            "could not connect",
            "connection failed",
        )
    ):
        headline = "Unreachable host: nothing answered at that host and port."
        hint = "Check the host and port, that the server runs, and that firewalls let the workers through."
    elif "ssl" in low:
        headline = "SSL negotiation failed."
        hint = "Check sslmode in the connection string against what the server offers."
    else:
        headline = "Could not connect."
        hint = "See the server's message."
    return {"error": headline, "detail": detail, "hint": hint}


# --- Per-probe settings


def _settings_of(probe) -> dict[str, Any]:
    from .checks import COMMON_PARAMS

    return {**COMMON_PARAMS, "row_cap": 200, **(probe.params if probe else {})}


def check_params(params: Any) -> dict:
    """{probe id: {setting: value}} over known probes and their known settings, values of the same type
    as the default; "*" sets the settings common to every probe (exclude_schemas, app_roles)."""
    if params in (None, ""):
        return {}
    if not isinstance(params, dict):
        raise ServiceError({"params": 'Give an object: {"probe.id": {"setting": value}}.'})
    probes = {p.id: p for p in registry.all_probes()}
    errors = []
    for probe_id, values in params.items():
        if probe_id != "*" and probe_id not in probes:
            errors.append(f"There is no probe {probe_id!r}.")
            continue
        if not isinstance(values, dict):
            errors.append(f"{probe_id}: give an object of settings.")
            continue
        known = _settings_of(probes.get(probe_id))
        for name, value in values.items():
            if name not in known:
                errors.append(
                    f"{probe_id} has no setting {name!r} (its settings: {', '.join(sorted(known))})."
                )
                continue
            default = known[name]
            if isinstance(default, bool):
                ok = isinstance(value, bool)
            elif isinstance(default, int | float):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            else:
                ok = isinstance(value, type(default))
            if not ok:
                errors.append(
                    f"{probe_id}.{name} must be a {type(default).__name__} like its default {default!r}."
                )
    if errors:
        raise ServiceError({"params": errors})
    return params


# --- Targets


def _check_target(system, name: str, environment: str, exclude_pk: int | None = None) -> str:
    name = name.strip()
    errors = {}
    if not name:
        errors["name"] = "Give the target a name, e.g. “production primary”."
    elif ProbeTarget.objects.filter(system=system, name__iexact=name).exclude(pk=exclude_pk).exists():
        errors["name"] = f"{system} already has a probe target called {name!r}."
    if environment not in Environment.values:
        errors["environment"] = "Choose production, staging, test or development."
    if errors:
        raise ServiceError(errors)
    return name


def _check_schedule(hours: int | None) -> int | None:
    if hours is None:
        return None
    if not 1 <= hours <= MAX_SCHEDULE_HOURS:
        raise ServiceError(
            {"schedule_hours": f"Give a number of hours from 1 to {MAX_SCHEDULE_HOURS}, or none."}
        )
    return hours


def _enqueue_test(target_id: int) -> None:
    from readiness import dispatch

    from ..tasks import test_target_connection

    # The task gets the target's id, nothing else: the password stays in the database, encrypted. A
    # broker that is down leaves the test pending (logged), never an error page: ask again later.
    dispatch.send_on_commit(test_target_connection, target_id)


@transaction.atomic
def create_target(
    *,
    system,
    name: str,
    dsn: str,
    actor,
    environment: str = Environment.PRODUCTION,
    params: Any = None,
    schedule_hours: int | None = None,
) -> ProbeTarget:
    """Register a target; a worker then tests its connection and verifies its role (the page shows it)."""
    _require(
        can_manage_targets(actor, system),
        "Only architects and leads of the system's team may add probe targets.",
    )
    name = _check_target(system, name, environment)
    connection = _check_dsn(dsn)
    params = check_params(params)
    schedule_hours = _check_schedule(schedule_hours)
    target = ProbeTarget(
        system=system,
        name=name,
        environment=environment,
        params=params,
        schedule_hours=schedule_hours,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        test_requested_at=timezone.now(),
    )
    _set_connection(target, connection)
    target.save()
    audit.record(
        actor=actor, action="probe_target.create", obj=target, after=audit.snapshot(target, TARGET_FIELDS)
    )
    _enqueue_test(target.pk)
    return target


@transaction.atomic
def update_target(
    *,
    target: ProbeTarget,
    name: str,
    environment: str,
    actor,
    params: Any = None,
    dsn: str = "",
    schedule_hours: int | None = None,
) -> ProbeTarget:
    """An empty `dsn` keeps the saved connection; a new one must be given whole, password included (the
    old password is never shown), and is tested again by a worker."""
    target = ProbeTarget.objects.select_for_update().select_related("system").get(pk=target.pk)
    _require(
        can_manage_targets(actor, target.system),
        "Only architects and leads of the system's team may edit probe targets.",
    )
    name = _check_target(target.system, name, environment, exclude_pk=target.pk)
    connection = _check_dsn(dsn) if dsn.strip() else None
    params = check_params(params)
    schedule_hours = _check_schedule(schedule_hours)
    if connection is not None and target.runs.exists():
        moved = (connection["host"], int(connection.get("port") or 5432), connection["dbname"]) != (
            target.host,
            target.port,
            target.dbname,
        )
        if moved:
            # A target's findings are resolved by its own later runs: pointed at another database, a clean
            # one would close what the first still has, with nobody's note or evidence.
            raise ServiceError(
                {
                    "dsn": "This target has probe runs: it stays on its database (host, port and database "
                    "name). Change the user, password or TLS settings here; register a new target for "
                    "another database."
                }
            )
    before = audit.snapshot(target, TARGET_FIELDS)
    target.name, target.environment, target.params = name, environment, params
    target.schedule_hours = schedule_hours
    if connection is not None:
        _set_connection(target, connection)
        target.last_test_at, target.last_test_ok, target.last_test_result = None, None, {}
        target.test_requested_at = timezone.now()
    target.updated_at = timezone.now()
    target.save()
    audit.record(
        actor=actor,
        action="probe_target.update",
        obj=target,
        before=before,
        after={**audit.snapshot(target, TARGET_FIELDS), "connection_changed": connection is not None},
    )
    if connection is not None:
        _enqueue_test(target.pk)
    return target


@transaction.atomic
def request_connection_test(*, target: ProbeTarget, actor) -> ProbeTarget:
    """Ask a worker to test the connection (the page polls until the result is there): a web request
    never waits for a slow or silent target."""
    target = ProbeTarget.objects.select_for_update().select_related("system").get(pk=target.pk)
    _require(can_run_probes(actor, target.system), "Only members of the system's team may test targets.")
    target.test_requested_at = timezone.now()
    target.save(update_fields=["test_requested_at"])
    audit.record(actor=actor, action="probe_target.test_request", obj=target)
    _enqueue_test(target.pk)
    return target


def test_connection(*, target: ProbeTarget, actor=None) -> dict[str, Any]:
    """Connect as the probes would (host allowed, role verified) and report the server version, the
    role's privileges and the extensions; or a clear error. Stored on the target as its last test.
    Called by the worker (`probes.tasks.test_target_connection`, no actor) and by tests."""
    if actor is not None:
        _require(can_run_probes(actor, target.system), "Only members of the system's team may test targets.")
    from .. import engine

    try:
        conninfo: Any = _conninfo(target)
    except ServiceError as exc:
        conninfo = None
        result = {"ok": False, "error": " ".join(exc.messages), "detail": "", "hint": ""}
    if conninfo is not None:
        try:  # no transaction held while the network is slow
            result = {"ok": True, **engine.server_info(conninfo)}  # JSON-safe already
        except engine.ProbeConnectionError as exc:
            result = {"ok": False, **describe_connection_error(exc, conninfo)}
        except psycopg.Error as exc:
            result = {"ok": False, **describe_connection_error(str(exc), conninfo)}
    now = timezone.now()
    with transaction.atomic():
        ProbeTarget.objects.filter(pk=target.pk).update(
            last_test_at=now, last_test_ok=result["ok"], last_test_result=result
        )
        target.last_test_at, target.last_test_ok, target.last_test_result = now, result["ok"], result
        audit.record(
            actor=actor,
            action="probe_target.test",
            obj=target,
            after={
                k: result.get(k) for k in ("ok", "server_version", "current_user", "is_superuser", "error")
            },
        )
    return result


# --- Invariant checks (seed §6.1, §11.4)


@transaction.atomic
def add_invariant_check(
    *,
    target: ProbeTarget,
    name: str,
    sql: str,
    actor,
    category: str = "data-model",
    severity: str = Level.P1,
    row_cap: int = 100,
) -> InvariantCheck:
    from .. import engine

    target = ProbeTarget.objects.select_for_update().select_related("system").get(pk=target.pk)
    _require(
        can_manage_targets(actor, target.system),
        "Only architects and leads of the system's team may add invariant checks.",
    )
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Name the invariant, e.g. “every journal entry balances”."
    elif InvariantCheck.objects.filter(target=target, name__iexact=name).exists():
        errors["name"] = f"{target.name} already has a check called {name!r}."
    if not Category.objects.filter(code=category).exists():
        errors["category"] = "Choose a category of the catalogue."
    if severity not in Level.values:
        errors["severity"] = f"A finding is P0, P1, P2 or P3 ({guide_text('severity-levels')})."
    if not isinstance(row_cap, int) or not 1 <= row_cap <= 1000:
        errors["row_cap"] = "Keep between 1 and 1000 rows as evidence."
    try:
        sql = engine.validate_invariant_sql(sql)
    except ValueError as exc:
        errors["sql"] = str(exc)
    if errors:
        raise ServiceError(errors)
    check = InvariantCheck.objects.create(
        target=target,
        name=name,
        sql=sql,
        category=category,
        severity=severity,
        row_cap=row_cap,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        actor=actor, action="invariant.create", obj=check, after=audit.snapshot(check, INVARIANT_FIELDS)
    )
    return check


@transaction.atomic
def delete_invariant_check(*, check: InvariantCheck, actor) -> None:
    check = InvariantCheck.objects.select_for_update().select_related("target__system").get(pk=check.pk)
    _require(
        can_manage_targets(actor, check.target.system),
        "Only architects and leads of the system's team may delete invariant checks.",
    )
    audit.record(
        actor=actor, action="invariant.delete", obj=check, before=audit.snapshot(check, INVARIANT_FIELDS)
    )
    check.delete()
