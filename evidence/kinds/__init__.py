"""The kinds of typed record declared once (evidence.kinds.spec): KINDS by their EvidenceKind value."""

from .declared import DECLARED
from .spec import Field, Spec

KINDS: dict[str, Spec] = {spec.kind: spec for spec in DECLARED}


def get(kind: str) -> Spec | None:
    return KINDS.get(kind)


__all__ = ["KINDS", "Field", "Spec", "get"]
