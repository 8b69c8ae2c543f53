"""{% system_history_chart system as chart %}: the scores-over-time SVG of a system (one query)."""

from django import template

from reviews.views.history import history_chart

register = template.Library()


@register.simple_tag
def system_history_chart(system):
    return history_chart(system)
