"""Template helpers for four eyes: the digest of the exception terms a page shows."""

from django import template

from ..services import exception_digest

register = template.Library()


@register.filter
def terms_digest(exc) -> str:
    """What a Sign or Reject form posts, so that the signature covers exactly the terms on screen."""
    return exception_digest(exc)
