"""The kinds of typed record, each declared once (evidence.kinds.spec).

- KINDS: the kinds kept as a Record's JSON (evidence.kinds.declared): invariants, write paths …
- MEASURED: the kinds kept in models of their own (evidence.kinds.measured): restore drills, runbooks,
  runbook tests, migration rehearsals, load tests, access patterns, derived stores, capacity envelopes.
- ALL: both, by their EvidenceKind value.
"""

from .declared import DECLARED
from .measured import MEASURED as _MEASURED
from .spec import Field, Spec

KINDS: dict[str, Spec] = {spec.kind: spec for spec in DECLARED}
MEASURED: dict[str, Spec] = {spec.kind: spec for spec in _MEASURED}
ALL: dict[str, Spec] = {**MEASURED, **KINDS}


def get(kind: str) -> Spec | None:
    """The description of a kind kept as a Record; None for any other kind."""
    return KINDS.get(kind)


def lookup(kind: str) -> Spec | None:
    """The description of any typed record's kind; None for links, files and probe results."""
    return ALL.get(kind)


__all__ = ["ALL", "KINDS", "MEASURED", "Field", "Spec", "get", "lookup"]
