"""Links into the review guide by name: `ref("backup")` is "Guide: Backup and restore" and its URL.

A key is a section's slug, an anchor inside a section, a catalogue category code, an evidence kind, or
one of a few aliases. Messages, errors and the decision PDF print `ref(key).text`; pages link it with
`{% guide_link key %}` (guide.templatetags.guide).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.safestring import SafeString

from . import sections

# Names pages and code use for a place in the guide that is not its slug or anchor id.
ALIASES = {
    "guide": "",
    "severity": "severity-levels",
    "levels": "severity-levels",
    "minimums": "category-minimums",
    "critical": "critical-items",
    "decision": "decision-record",
    "verify": "verifying-a-record",
    "probe_result": "probe-results",
    # The kinds of record whose place is not their name with dashes (evidence.kinds: spec.guide).
    "invariant": "invariant-inventory",
    "forecast": "forecasts",
    "signal": "signals",
    "dashboard": "dashboards",
    "alert-rule": "alert-rules",
    "privacy-field": "privacy-inventory",
    "link": "links-and-files",
    "file": "links-and-files",
    "scope": "step-1",
}


@dataclass(frozen=True)
class Ref:
    """A place in the guide: a section (anchor == section) or a place inside one."""

    title: str  # "" for the guide itself
    section: str = ""  # the section's slug
    anchor: str = ""  # the id on the guide's page: the section's slug or an anchor inside it

    @property
    def text(self) -> str:
        return f"Guide: {self.title}" if self.title else "Guide"

    @property
    def url(self) -> str:
        """On the guide's index, which shows every section: /guide/#backup-and-restore."""
        base = reverse("guide")
        return f"{base}#{self.anchor}" if self.anchor else base

    @property
    def section_url(self) -> str:
        """On the section's own page: /guide/backup-and-restore/ (with the anchor for a place inside)."""
        if not self.section:
            return reverse("guide")
        url = reverse("guide_section", args=[self.section])
        return url if self.anchor == self.section else f"{url}#{self.anchor}"

    def __str__(self) -> str:
        return self.text


GUIDE = Ref("")


def _table() -> dict[str, Ref]:
    table: dict[str, Ref] = {}
    for s in sections.SECTIONS:
        table[s.slug] = Ref(s.title, s.slug, s.slug)
        for anchor, title in s.anchors:
            table[anchor] = Ref(title, s.slug, anchor)
        if s.category:
            table[s.category] = table[s.slug]
    for alias, target in ALIASES.items():
        table[alias] = table[target] if target else GUIDE
    return table


REFS = _table()


def ref(key: str) -> Ref:
    """The place in the guide named `key`. An evidence kind may use underscores (restore_drill).
    Raises KeyError for a name the guide does not know, so a typo fails in tests, not on a page."""
    found = REFS.get(key) or REFS.get(key.replace("_", "-"))
    if found is None:
        raise KeyError(f"the guide has no section or anchor named {key!r}")
    return found


def resolve(key: str) -> Ref:
    """Like `ref`, but the guide itself for a name it does not know (a category of a catalogue edited
    after this guide was written)."""
    try:
        return ref(str(key))
    except KeyError:
        return GUIDE


def text(key: str) -> str:
    """ "Guide: Backup and restore": for messages, errors and PDFs, where there is no link."""
    return ref(key).text


def link_html(key: str, label: str | None = None) -> SafeString:
    r = resolve(key)
    return format_html('<a class="guide-link" href="{}">{}</a>', r.url, label or r.text)


def _help_html(text: str, key: str) -> SafeString:
    return format_html("{} {}", text, link_html(key))


# A form's help text that ends in a link to the guide. Lazy: URLs are not ready when forms are imported.
help_text = lazy(_help_html, SafeString)


def _titles_pattern():
    import re

    titles = sorted({r.title for r in REFS.values() if r.title}, key=len, reverse=True)
    return re.compile(r"Guide: (" + "|".join(re.escape(t) for t in titles) + r")")


TITLES = {r.title: r for r in REFS.values() if r.title and r.anchor}
_TITLES_RE = _titles_pattern()


def linkify(text: str) -> SafeString:
    """`text` escaped, each "Guide: <a section's title>" in it turned into a link to that section: for
    messages and errors written as text (services speak text; pages speak HTML)."""
    from django.utils.html import conditional_escape
    from django.utils.safestring import mark_safe

    escaped = str(conditional_escape(text))
    return mark_safe(  # noqa: S308  (the text is escaped; the links are built by format_html)
        _TITLES_RE.sub(lambda m: str(link_html(TITLES[m.group(1)].anchor)), escaped)
    )
