"""Template tags of the probe pages, and the probes panel that the system and review pages include."""

from django import template

from ..selectors import panel_context

register = template.Library()

# The level and outcome colours of app.css, used the same way for probe statuses and run states.
STATUS_CLASSES = {
    "pass": "outcome outcome-approved",
    "warn": "outcome outcome-approved_with_exceptions",
    "fail": "outcome outcome-blocked",
    "error": "outcome outcome-blocked",
    "skipped": "outcome outcome-incomplete",
    "done": "outcome outcome-approved",
    "failed": "outcome outcome-blocked",
    "queued": "outcome outcome-incomplete",
    "running": "outcome outcome-incomplete",
}


@register.filter
def status_class(status: str) -> str:
    return STATUS_CLASSES.get(str(status), "outcome outcome-incomplete")


@register.filter
def yes_no(value) -> str:
    if value is None:
        return "unknown"
    return "yes" if value else "no"


@register.inclusion_tag("probes/_panel.html", takes_context=True)
def probes_panel(context) -> dict:
    """The system page's probes panel: the system's targets with their latest run, in one query."""
    return {
        **panel_context(context["request"].user, context["system"]),
        "csrf_token": context.get("csrf_token"),
    }
