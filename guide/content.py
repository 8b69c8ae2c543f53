"""The guide's text rendered: each section's template with the numbers the installation runs on (how
long an exception may last, when each kind of evidence goes stale) and what the declared kinds of record
ask for (their fields, the step that walks them, the finding a failing one opens), so the guide never
disagrees with the application."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from evidence import freshness, kinds
from evidence.kinds import declared
from evidence.kinds.runbooks import DIAGNOSTIC_PROBES, REQUIRED_RUNBOOKS
from evidence.models import EvidenceKind
from reviews import agenda, judgement

from .sections import SECTIONS, Section


def context() -> dict:
    table = freshness.max_age_table()
    return {
        "in_guide": True,  # links between sections say the section's name alone (templatetags.guide)
        "exception_max_days": settings.EXCEPTION_MAX_DAYS,
        "sso": {
            "on": settings.SSO_ENABLED,
            "provider": settings.SSO_PROVIDER_NAME,
            "local": settings.LOCAL_LOGIN,
        },
        "webhook_expiring_days": settings.WEBHOOK_EXPIRING_WITHIN_DAYS,
        "webhook_max_attempts": settings.WEBHOOK_MAX_ATTEMPTS,
        "max_ages": [(label, table.get(value)) for value, label in EvidenceKind.choices],
        "steps": agenda.STEPS,
        "final_sections": [
            (heading, [text for _code, text in questions]) for heading, questions in judgement.FINAL_SECTIONS
        ],
        "records": records(table),
        "rule_types": [
            (label, declared.PREFERRED_ENFORCEMENT[code], code in declared.DATABASE_RULES)
            for code, label in declared.RULE_TYPES
        ],
        "scenarios": [
            (label, declared.EXPECTED[code])
            for code, label in declared.SCENARIOS
            if code in declared.EXPECTED
        ],
        "forecasts": [(label, code in declared.REQUIRED_FORECASTS) for code, label in declared.FORECASTS],
        "signal_areas": [label for _code, label in declared.SIGNAL_AREAS],
        "dashboards": [label for code, label in declared.DASHBOARDS if code != "other"],
        "required_runbooks": required_runbooks(),
        "importable": [spec for spec in kinds.KINDS.values() if spec.importable],
    }


def _need(f: kinds.Field) -> str:
    if f.wanted:
        return "asked for"
    return "" if f.required else "optional"


def records(table: dict | None = None) -> dict[str, dict]:
    """What the guide says of each kind of record declared in evidence.kinds, read from its declaration:
    its fields, the step that walks it, how long it stays fresh here, the finding a failing one opens."""
    table = table if table is not None else freshness.max_age_table()
    out = {}
    for kind, spec in kinds.KINDS.items():
        out[kind] = {
            "spec": spec,
            "step": agenda.step(spec.step),
            "step_label": f"step {spec.step}, {agenda.step(spec.step).title.lower()}",
            "days": table.get(kind),
            "fields": [
                (
                    f.label,
                    _need(f),
                    ", ".join(label for _code, label in f.choices) if f.type in ("choice", "multi") else "",
                )
                for f in spec.fields
            ],
        }
    return out


def required_runbooks() -> list[tuple[str, list[str]]]:
    """(name, [the titles of the probes that run its first diagnostics]) for each required runbook."""
    from probes import registry

    titles = {probe.id: probe.title for probe in registry.all_probes()}
    return [
        (name, [titles[p] for p in DIAGNOSTIC_PROBES.get(code, ()) if p in titles])
        for code, name in REQUIRED_RUNBOOKS
    ]


def render(section: Section, ctx: dict | None = None, *, single: bool = False) -> str:
    """The section's HTML; `single`: for its own page, where links go to the other sections' pages."""
    ctx = ctx if ctx is not None else context()
    return render_to_string(section.template, {**ctx, "guide_single": single})


def render_all(*, for_print: bool = False) -> list[tuple[Section, str]]:
    """Every section in order; `for_print`: for the print view, where links stay on the page."""
    ctx = {**context(), "guide_print": for_print}
    return [(s, render(s, ctx)) for s in SECTIONS]
