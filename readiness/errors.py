"""The error pages' views where Django's own would not do: a server error page that needs neither the
database nor a context processor, and the page for a form refused by the CSRF check."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

# What a server error says when even its template cannot be rendered: plain HTML, nothing to load.
BARE_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">'
    "<title>Server error · Readiness</title></head><body>"
    "<h1>Readiness: something went wrong on our side</h1>"
    "<p>The error was logged. Try again in a moment, or go back to "
    '<a href="/">the start page</a>.</p></body></html>'
)


def _safely(make, fallback: str) -> str:
    try:
        return make()
    except Exception:  # noqa: BLE001 (an error page must not fail: whatever broke may break this too)
        return fallback


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """The 500 page: rendered without the request, so no context processor runs (they read the session,
    the user and the database, which may be what is down); the stylesheet and the way home are looked up
    here, each with a fallback."""
    from django.templatetags.static import static
    from django.urls import reverse

    context = {
        "home": _safely(lambda: reverse("dashboard"), "/"),
        "stylesheet": _safely(lambda: static("css/app.css"), ""),
    }
    try:
        body = loader.get_template(template_name).render(context)
    except Exception:  # noqa: BLE001
        logger.exception("The server error page could not be rendered")
        body = BARE_500
    return HttpResponseServerError(body)


@requires_csrf_token
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form refused by the CSRF check (settings.CSRF_FAILURE_VIEW): usually a page left open across a
    sign-out or a restart. Says what to do, with the site's layout; the reason is logged, not shown."""
    logger.warning("CSRF check failed on %s: %s", request.path, reason)
    try:
        return render(request, "403_csrf.html", status=403)
    except Exception:  # noqa: BLE001 (the bare page below still answers)
        return HttpResponseForbidden(
            "<!doctype html><title>Form expired · Readiness</title><h1>This form has expired</h1>"
            '<p>Go back, reload the page and try again, or <a href="/">go to the start page</a>.</p>'
        )
