"""The review guide's pages: the whole guide with its contents and search, one section, a print view."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from . import content, search, sections


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The whole guide on one page, each section under its anchor; `?q=` lists the sections that match
    instead; `?print=1` is the same guide without the app's menu, for paper."""
    query = request.GET.get("q", "").strip()[: search.MAX_QUERY]
    if request.GET.get("print") == "1":
        rendered = content.render_all(for_print=True)
        return render(request, "guide/print.html", {"rendered": rendered, "parts": sections.parts()})
    rendered = content.render_all()
    hits = (
        search.search(query, ((s, s.title, search.plain_text(html)) for s, html in rendered)) if query else []
    )
    return render(
        request,
        "guide/index.html",
        {
            "parts": sections.parts(),
            "query": query,
            "hits": hits,
            "terms": search.words(query),
            "rendered": [] if query else rendered,
        },
    )


@login_required
@require_GET
def section_page(request: HttpRequest, section: str) -> HttpResponse:
    """One section on its own page; `?q=` marks the words searched for."""
    found = sections.get(section)
    if found is None:
        raise Http404("The guide has no such section.")
    query = request.GET.get("q", "").strip()[: search.MAX_QUERY]
    previous, following = sections.neighbours(found)
    return render(
        request,
        "guide/section.html",
        {
            "section": found,
            "body": search.mark_html(content.render(found, single=True), search.words(query)),
            "query": query,
            "parts": sections.parts(),
            "previous": previous,
            "next": following,
        },
    )
