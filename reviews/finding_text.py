"""What a finding says, said once: the lead sentence that lists show, and the rest on demand.

A probe wrote its findings as the object's message, the result's summary, what the probe checks, the fix
and where it was found. The summary restates the title and the check restates the message, so a page
showed the same sentence three times; they are left out (probes no longer write them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

PROBE_SOURCE = ("Found by the probe ", "Found by probe ")  # today's words, and older rows'
FIX = "Fix: "


@dataclass(frozen=True)
class FindingText:
    lead: str  # the first paragraph: what is wrong (and, from a probe, why it matters)
    more: tuple[str, ...]  # the other paragraphs a person wrote, or a probe's fix
    source: str = ""  # a probe's "Found by the probe “…” on …, probe run #n."


def finding_text(description: str, *, from_probe: bool) -> FindingText:
    """Split a finding's description into its lead and the rest. A probe's description, recognised by its
    closing "Found by probe" line, keeps only its message, its fix and that line; a description a person
    wrote or edited is kept whole."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", description or "") if p.strip()]
    if not paragraphs:
        return FindingText("", ())
    if from_probe and len(paragraphs) > 1 and paragraphs[-1].startswith(PROBE_SOURCE):
        fixes = tuple(p for p in paragraphs[1:-1] if p.startswith(FIX))
        return FindingText(paragraphs[0], fixes, paragraphs[-1])
    return FindingText(paragraphs[0], tuple(paragraphs[1:]))
