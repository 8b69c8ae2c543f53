"""{% guide_link "backup" %}: a link to the guide's section by name ("Guide: Backup and restore")."""

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from guide import links

register = template.Library()


@register.simple_tag(takes_context=True)
def guide_link(context, key, label: str | None = None) -> SafeString:
    """<a class="guide-link" href="/guide/#backup-and-restore">Guide: Backup and restore</a>; `label`
    replaces the text. An unknown key (a category added to the catalogue later) links the guide itself.

    Inside the guide (`in_guide` in the context) a link is the section's title alone, to the section's
    own page when the guide shows one section (`guide_single`), else to its anchor on the same page
    (`guide_print`: the print view, which is the whole guide at another address)."""
    if context.get("in_guide"):
        ref = links.resolve(str(key))
        if context.get("guide_print"):
            url = f"#{ref.anchor}" if ref.anchor else "#main"
        else:
            url = ref.section_url if context.get("guide_single") else ref.url
        return format_html('<a href="{}">{}</a>', url, label or ref.title or "the guide")
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
