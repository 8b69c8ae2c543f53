"""Template filters for pages and the PDF that show a frozen decision record (plain JSON data)."""

from datetime import UTC, datetime

from django import template

register = template.Library()


@register.filter
def get(mapping, key):
    """mapping[key], or None: records are dicts with keys a template cannot name (usernames, codes)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def isotime(value):
    """An ISO 8601 time of a record as "2026-11-25 14:03 UTC"; anything else unchanged."""
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@register.filter
def display(key, names):
    """names[key] if there is one, else the key itself, else an em dash: `{{ r.approver|display:people }}`
    (the key is the filtered value, so a record without it renders, where a missing argument would raise)."""
    if key in (None, ""):
        return "—"
    try:
        return names.get(key) or key
    except AttributeError:
        return key


@register.filter
def duration(seconds):
    """Seconds as "2 h 03 min", "43 min" or "45 s" (RPO and RTO achieved in a restore drill)."""
    if not isinstance(seconds, int):
        return seconds
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
