"""{% guide_link "backup" %}: a link to the guide's section by name ("Guide: Backup and restore")."""

from django import template
from django.utils.safestring import SafeString

from guide import links

register = template.Library()


@register.simple_tag
def guide_link(key, label: str | None = None) -> SafeString:
    """<a class="guide-link" href="/guide/#backup-and-restore">Guide: Backup and restore</a>; `label`
    replaces the text. An unknown key (a category added to the catalogue later) links the guide itself."""
    return links.link_html(str(key), label)


@register.simple_tag
def guide_url(key) -> str:
    return links.resolve(str(key)).url


@register.simple_tag
def guide_text(key) -> str:
    """The reference as text, for where there is no link (the decision PDF's small print)."""
    return links.resolve(str(key)).text


@register.filter
def guide_links(text) -> SafeString:
    """{{ error|guide_links }}: the text escaped, each "Guide: Backup and restore" in it a link."""
    return links.linkify(text)
