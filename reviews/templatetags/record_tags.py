"""Template filters for pages and the PDF that show a frozen decision record (plain JSON data)."""

from django import template

from reviews import labels

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
    return labels.isotime(value)


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
    return labels.duration(seconds)


@register.filter
def label(value, vocabulary: str):
    """The words for a code a record holds: `{{ e.kind|label:"evidence_kind" }}` (reviews.labels)."""
    return labels.label(vocabulary, value)
