"""Search over the guide's text: plain functions over (section, plain text) pairs, no database.

Every word of the query must appear in a section (its title or text); sections are ranked by how often
the words appear, a word in the title counting most. A hit carries a snippet of the text around the
first match with the words marked.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.html import escape, strip_tags
from django.utils.safestring import SafeString, mark_safe

MAX_QUERY = 200
MAX_WORDS = 8
SNIPPET_BEFORE, SNIPPET_AFTER = 90, 210


@dataclass(frozen=True)
class Hit:
    section: object  # guide.sections.Section
    score: int
    snippet: SafeString


_BLOCK_TAG = re.compile(
    r"</?(?:p|li|ul|ol|dl|dt|dd|table|thead|tbody|tr|td|th|h[1-6]|div|section|br)\b[^>]*>"
)


def plain_text(markup: str) -> str:
    """The words of a rendered section, as a reader sees them: blocks apart, inline markup joined."""
    return re.sub(r"\s+", " ", html.unescape(strip_tags(_BLOCK_TAG.sub(" ", markup)))).strip()


def words(query: str) -> list[str]:
    """The distinct words of a query, lower case, at most MAX_WORDS."""
    seen: list[str] = []
    for word in query[:MAX_QUERY].lower().split():
        word = word.strip(".,;:!?\"'()")
        if word and word not in seen:
            seen.append(word)
    return seen[:MAX_WORDS]


def _pattern(terms: list[str]) -> re.Pattern:
    return re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)


def mark(text: str, terms: list[str]) -> SafeString:
    """`text` escaped, every occurrence of a term wrapped in <mark>."""
    if not terms:
        return escape(text)
    out, last = [], 0
    for m in _pattern(terms).finditer(text):
        out.append(escape(text[last : m.start()]))
        out.append(f"<mark>{escape(m.group(0))}</mark>")
        last = m.end()
    out.append(escape(text[last:]))
    return mark_safe("".join(out))  # noqa: S308  (every piece of text is escaped above)


def mark_html(markup: str, terms: list[str]) -> SafeString:
    """Rendered HTML with the terms marked in its text, never inside a tag."""
    if not terms:
        return mark_safe(markup)  # noqa: S308  (the guide's own rendered templates)
    pattern = _pattern([escape(t) for t in terms])
    pieces = re.split(r"(<[^>]*>)", markup)
    for i, piece in enumerate(pieces):
        if piece and not piece.startswith("<"):
            pieces[i] = pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", piece)
    return mark_safe("".join(pieces))  # noqa: S308


def snippet(text: str, terms: list[str]) -> SafeString:
    """The text around the first place all the words stand together, else around the first word."""
    lower = text.lower()
    phrase = lower.find(" ".join(terms)) if len(terms) > 1 else -1
    positions = [p for p in (lower.find(t) for t in terms) if p >= 0]
    at = phrase if phrase >= 0 else min(positions) if positions else 0
    start, end = max(0, at - SNIPPET_BEFORE), min(len(text), at + SNIPPET_AFTER)
    if start > 0:  # start and end on a word boundary
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < at else start
    if end < len(text):
        space = text.rfind(" ", at, end)
        end = space if space > at else end
    body = mark(text[start:end], terms)
    return mark_safe(("… " if start > 0 else "") + body + (" …" if end < len(text) else ""))  # noqa: S308


def search(query: str, documents: Iterable[tuple[object, str, str]]) -> list[Hit]:
    """`documents`: (section, title, plain text). The sections holding every word of the query, best
    first: the words together as a phrase count most, then words in the title (ties keep the guide's
    order)."""
    terms = words(query)
    if not terms:
        return []
    hits = []
    for section, title, text in documents:
        title_l, text_l = title.lower(), text.lower()
        if not all(t in title_l or t in text_l for t in terms):
            continue
        score = sum(10 * title_l.count(t) + text_l.count(t) for t in terms)
        if len(terms) > 1:
            phrase = " ".join(terms)
            score += 20 * title_l.count(phrase) + 5 * text_l.count(phrase)
        hits.append(Hit(section, score, snippet(text, terms)))
    return sorted(hits, key=lambda h: -h.score)
