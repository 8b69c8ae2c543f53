"""{{ finding|said_once }}: a finding's description as its lead and the rest (reviews.finding_text)."""

from django import template

from reviews.finding_text import FindingText, finding_text
from reviews.models import FindingSource

register = template.Library()


@register.filter
def said_once(finding) -> FindingText:
    return finding_text(finding.description, from_probe=finding.source == FindingSource.PROBE)
