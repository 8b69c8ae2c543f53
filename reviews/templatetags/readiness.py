"""Template filters shared by the pages and the decision record."""

from django import template

from reviews import audit_text, labels

register = template.Library()


@register.filter
def person(user) -> str:
    """A user's full name, else their username; an em dash for nobody."""
    return labels.person_name(user) or "—"


@register.filter
def label(value, vocabulary: str) -> str:
    """The words for a stored code: `{{ e.kind|label:"evidence_kind" }}` → "Restore drill"."""
    return labels.label(vocabulary, value)


@register.filter
def age(moment) -> str:
    """How old: "just now", "3 days old", "4 months old"."""
    return labels.age(moment)


@register.filter
def ago(moment) -> str:
    """How long ago: "just now", "5 minutes ago", "2 weeks ago"."""
    return labels.age(moment, suffix="ago")


@register.filter
def origin(finding) -> str:
    """Where a finding came from: "Raised by a person", "From probe “SSL for client connections”"."""
    return labels.finding_origin(finding)


@register.filter
def duration(value) -> str:
    """A duration (a timedelta, or seconds) as "45 s", "43 min" or "2 h 03 min"."""
    return labels.duration(value)


@register.simple_tag
def audit_entries(events) -> list[audit_text.Entry]:
    """`{% audit_entries page as entries %}`: the events as sentences with their changes, the names they
    point at read in a constant number of queries (reviews.audit_text)."""
    return audit_text.describe(events)


@register.simple_tag
def date_attrs(with_time: bool = False) -> str:
    """The attributes of a typed yyyy-mm-dd (or yyyy-mm-dd hh:mm) input, as the forms' DateInput and
    DateTimeInput give them, for the inputs a template writes itself."""
    from django.forms.utils import flatatt
    from django.utils.safestring import mark_safe

    from reviews.forms import DATE_ATTRS, DATETIME_ATTRS

    return mark_safe(' type="text"' + flatatt(DATETIME_ATTRS if with_time else DATE_ATTRS))  # noqa: S308 (flatatt escapes)


@register.simple_tag
def typed_evidence_kinds(category_code: str) -> list[tuple[str, str]]:
    """The typed records that are evidence of a category: [(kind, label)], e.g. restore drills for
    backup (evidence.models.KIND_CATEGORY)."""
    from evidence.models import KIND_CATEGORY, EvidenceKind

    return [(kind, EvidenceKind(kind).label) for kind, code in KIND_CATEGORY.items() if code == category_code]


@register.simple_tag
def typed_evidence_menu(categories) -> list[tuple[str, str, str]]:
    """Every typed record with the category it is evidence of: [(kind, label, category name)], in the
    order of `categories` (a review's catalogue: Category objects, or scorecard rows with .category)."""
    from evidence.models import KIND_CATEGORY, EvidenceKind

    order = [getattr(c, "category", c) for c in categories]
    position = {c.code: (i, c.name) for i, c in enumerate(order)}
    kinds = sorted(
        KIND_CATEGORY.items(), key=lambda kv: (position.get(kv[1], (99, ""))[0], EvidenceKind(kv[0]).label)
    )
    return [(kind, EvidenceKind(kind).label, position.get(code, (0, code))[1]) for kind, code in kinds]


@register.filter
def is_declared_kind(kind: str) -> bool:
    """A kind declared in evidence.kinds: its evidence carries a Record (select_related("record"))."""
    from evidence import kinds

    return kind in kinds.KINDS


@register.filter
def may_request_exception(finding) -> bool:
    """Whether "Request an exception" belongs on this finding: a P1 not resolved, with no request awaiting
    a signature and no signed exception far from its expiry (the rule the service refuses by). Reads the
    finding's prefetched exceptions."""
    from django.utils import timezone

    from reviews.services import exception_request_refusal

    refusal = exception_request_refusal(
        level=finding.level, status=finding.status, exceptions=finding.exceptions.all(), now=timezone.now()
    )
    return refusal is None
