"""The guide's text rendered: each section's template with the numbers the installation runs on (how
long an exception may last, when each kind of evidence goes stale), so the guide never disagrees with
the application."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from evidence import freshness
from evidence.models import EvidenceKind
from reviews import agenda, judgement

from .sections import SECTIONS, Section


def context() -> dict:
    table = freshness.max_age_table()
    return {
        "in_guide": True,  # links between sections say the section's name alone (templatetags.guide)
        "exception_max_days": settings.EXCEPTION_MAX_DAYS,
        "max_ages": [(label, table.get(value)) for value, label in EvidenceKind.choices],
        "steps": agenda.STEPS,
        "final_sections": [
            (heading, [text for _code, text in questions]) for heading, questions in judgement.FINAL_SECTIONS
        ],
    }


def render(section: Section, ctx: dict | None = None, *, single: bool = False) -> str:
    """The section's HTML; `single`: for its own page, where links go to the other sections' pages."""
    ctx = ctx if ctx is not None else context()
    return render_to_string(section.template, {**ctx, "guide_single": single})


def render_all(*, for_print: bool = False) -> list[tuple[Section, str]]:
    """Every section in order; `for_print`: for the print view, where links stay on the page."""
    ctx = {**context(), "guide_print": for_print}
    return [(s, render(s, ctx)) for s in SECTIONS]
