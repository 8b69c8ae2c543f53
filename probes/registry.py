"""What a probe is and what it returns. Probes register themselves from `probes.checks`.

A probe is data (id, category, severity, texts, SQL) plus a pure evaluation from rows to a verdict,
so each check is tested without a database and the engine (`probes.engine`) stays generic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True)
class Item:
    """One object a probe names: "public.orders", "index public.orders_x", "role app", "pid 42", "slot x"."""

    object: str
    status: Status  # WARN or FAIL
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    """What a probe's evaluation returns from the rows of its SQL."""

    status: Status
    summary: str
    items: tuple[Item, ...] = ()
    fix: str = ""  # for SKIPPED: what makes the probe runnable (e.g. a GRANT, a setting)


@dataclass(frozen=True)
class Result:
    """One probe's result in one run."""

    probe_id: str
    category: str  # catalogue category code, e.g. "security"
    severity: str  # "P0".."P3": the probe's default severity
    status: Status
    summary: str
    items: tuple[Item, ...] = ()
    rows: tuple[dict[str, Any], ...] = ()  # the raw rows, capped: they are the evidence
    duration_ms: float = 0.0
    fix: str = ""  # for SKIPPED: the exact statement that makes the probe runnable

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.probe_id,
            "category": self.category,
            "severity": self.severity,
            "status": self.status.value,
            "summary": self.summary,
            "details": [
                {"object": i.object, "status": i.status.value, "message": i.message, "data": i.data}
                for i in self.items
            ],
            "duration_ms": round(self.duration_ms, 1),
            "fix": self.fix,
        }


Evaluate = Callable[[list[dict[str, Any]], dict[str, Any]], Verdict]


@dataclass(frozen=True)
class Probe:
    id: str  # stable: "security.app-role-superuser"
    category: str
    severity: str
    title: str
    checks: str  # what it checks and why it matters
    fix: str  # how to fix what it finds
    sql: str
    evaluate: Evaluate  # pure: rows and params -> Verdict
    params: dict[str, Any] = field(default_factory=dict)  # default thresholds, overridable per target
    requires_extension: str = ""  # e.g. "pg_stat_statements": missing gives SKIPPED with the fix
    seed: str = ""  # for engineers: the specification section it implements, e.g. "19.1"; never shown
    # What the probe role needs beyond pg_monitor, with {role} for its name; empty means pg_monitor is enough.
    grant: str = ""
    # Columns holding statement text from pg_stat_activity: their literals (which may be personal data)
    # are replaced by ? before anything sees the rows (engine.mask_literals).
    masked: tuple[str, ...] = ()


REGISTRY: dict[str, Probe] = {}


def register(probe: Probe) -> Probe:
    if probe.id in REGISTRY:
        raise ValueError(f"probe {probe.id} is registered twice")
    REGISTRY[probe.id] = probe
    return probe


def all_probes() -> list[Probe]:
    from . import checks  # noqa: F401  (importing registers every probe)

    return sorted(REGISTRY.values(), key=lambda p: (p.category, p.id))
