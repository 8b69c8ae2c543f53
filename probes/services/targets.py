"""Probe targets and their invariant checks: the DSN encrypted at rest, checked, masked, tested.

The DSN of a target is decrypted only by `_conninfo`, for the engine; it never leaves this package.
"""

from __future__ import annotations

import re
from typing import Any

import psycopg
from django.db import transaction
from django.utils import timezone

from reviews import audit, policy
from reviews.models import Category, Level
from reviews.services import ServiceError, _require

from .. import crypto, registry
from ..models import Environment, InvariantCheck, ProbeTarget

TARGET_FIELDS = ("system", "name", "environment", "dsn_masked", "params", "schedule_hours")
MAX_SCHEDULE_HOURS = 8760
INVARIANT_FIELDS = ("target", "name", "sql", "category", "severity", "row_cap")


def can_manage_probes(user, system) -> bool:
    """Register targets, test them, add checks and start runs: any non-auditor member of the team."""
    return policy.role_in(user, system.team_id) in policy.EDITOR_ROLES


# --- Connection strings


def _check_dsn(dsn: str) -> str:
    dsn = dsn.strip()
    if not dsn:
        raise ServiceError({"dsn": "Give the connection string of the database to probe."})
    try:
        parts = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        parts = None
    if not parts or (parts.get("port") and not str(parts["port"]).isdigit()):
        # The parser's message can quote the input, password included: say what is expected instead.
        raise ServiceError(
            {
                "dsn": "This is not a PostgreSQL connection string. Use "
                "postgresql://user:password@host:5432/dbname or host=… port=5432 dbname=… user=… password=…"
            }
        )
    return dsn


def _mask(dsn: str) -> str:
    from .. import engine

    return engine.mask_dsn(dsn)[:500]


def _conninfo(target: ProbeTarget) -> str:
    try:
        return crypto.decrypt(target.dsn_encrypted)
    except crypto.InvalidToken:
        raise ServiceError(
            "The saved connection string cannot be decrypted with the configured PROBE_ENCRYPTION_KEYS "
            "(was a key removed before `manage.py rotate_probe_secrets` ran?). Enter it again on the "
            "target's edit page."
        ) from None


def scrub(text: str, conninfo: str | None) -> str:
    """Remove the password of `conninfo` from a message, whatever quoted it."""
    if not conninfo or not text:
        return text
    try:
        password = psycopg.conninfo.conninfo_to_dict(conninfo).get("password")
    except psycopg.Error:
        password = None
    if password:
        text = text.replace(str(password), "********")
    return text.replace(conninfo, "(connection string)")


def describe_connection_error(message: str, conninfo: str | None = None) -> dict[str, str]:
    """A headline a person can act on, the server's own words (without secrets), and a hint."""
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
    _require(can_manage_probes(actor, system), "Only members of the system's team may add probe targets.")
    name = _check_target(system, name, environment)
    dsn = _check_dsn(dsn)
    params = check_params(params)
    schedule_hours = _check_schedule(schedule_hours)
    target = ProbeTarget.objects.create(
        system=system,
        name=name,
        environment=environment,
        dsn_encrypted=crypto.encrypt(dsn),
        dsn_masked=_mask(dsn),
        params=params,
        schedule_hours=schedule_hours,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit.record(
        actor=actor, action="probe_target.create", obj=target, after=audit.snapshot(target, TARGET_FIELDS)
    )
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
    """An empty `dsn` keeps the saved one; a new one must be given whole (the old one is never shown)."""
    target = ProbeTarget.objects.select_for_update().select_related("system").get(pk=target.pk)
    _require(can_manage_probes(actor, target.system), "Only members of the system's team may edit targets.")
    name = _check_target(target.system, name, environment, exclude_pk=target.pk)
    params = check_params(params)
    schedule_hours = _check_schedule(schedule_hours)
    before = audit.snapshot(target, TARGET_FIELDS)
    target.name, target.environment, target.params = name, environment, params
    target.schedule_hours = schedule_hours
    if dsn.strip():
        dsn = _check_dsn(dsn)
        target.dsn_encrypted = crypto.encrypt(dsn)
        target.dsn_masked = _mask(dsn)
        target.last_test_at, target.last_test_ok, target.last_test_result = None, None, {}
    target.updated_at = timezone.now()
    target.save()
    audit.record(
        actor=actor,
        action="probe_target.update",
        obj=target,
        before=before,
        after={**audit.snapshot(target, TARGET_FIELDS), "dsn_changed": bool(dsn.strip())},
    )
    return target


def test_connection(*, target: ProbeTarget, actor) -> dict[str, Any]:
    """Connect as the probes would and report the server version, the role's privileges and the
    extensions; or a clear error. Stored on the target as its last test."""
    _require(can_manage_probes(actor, target.system), "Only members of the system's team may test targets.")
    from .. import engine

    conninfo = _conninfo(target)
    try:  # no transaction held while the network is slow
        result = {"ok": True, **engine.server_info(conninfo)}  # JSON-safe already
    except engine.ProbeConnectionError as exc:
        result = {"ok": False, **describe_connection_error(str(exc), conninfo)}
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
    _require(can_manage_probes(actor, target.system), "Only members of the system's team may add checks.")
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Name the invariant, e.g. “every journal entry balances”."
    elif InvariantCheck.objects.filter(target=target, name__iexact=name).exists():
        errors["name"] = f"{target.name} already has a check called {name!r}."
    if not Category.objects.filter(code=category).exists():
        errors["category"] = "Choose a category of the catalogue."
    if severity not in Level.values:
        errors["severity"] = "A finding is P0, P1, P2 or P3 (seed §3)."
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
    _require(can_manage_probes(actor, check.target.system), "Only members of the system's team may do this.")
    audit.record(
        actor=actor, action="invariant.delete", obj=check, before=audit.snapshot(check, INVARIANT_FIELDS)
    )
    check.delete()
