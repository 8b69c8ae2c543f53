"""Template filters shared by the pages and the decision record."""

from django import template

register = template.Library()


@register.filter
def person(user) -> str:
    """A user's full name, else their username; an em dash for nobody."""
    if user is None or user == "":
        return "—"
    return user.get_full_name() or user.get_username()
