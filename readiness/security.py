"""Security headers that Django 5.2 does not send itself, and what django-axes asks of the app to
throttle sign-in: the username as Django matches it, the client's address, the locked-out page."""

from __future__ import annotations

import ipaddress
import math
import unicodedata

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class ContentSecurityPolicyMiddleware:
    """Sends settings.CONTENT_SECURITY_POLICY on every response: no inline scripts, nothing from elsewhere.

    A view may set its own header (the API docs page does); this middleware leaves it alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = "; ".join(f"{k} {v}" for k, v in settings.CONTENT_SECURITY_POLICY.items())

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        response.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        return response


# --- Sign-in throttling: django-axes (settings AXES_*) calls these.


def sign_in_username(request: HttpRequest | None, credentials: dict | None = None) -> str | None:
    """The username a sign-in is counted against, as Django's sign-in form reads it: stripped, then
    NFKC-normalised (so `ｉnes` is `ines`); also lower-cased, so that names that differ only in case share
    one count (more sharing only locks sooner)."""
    raw = (credentials or {}).get("username")
    if raw is None and request is not None:
        raw = getattr(request, "POST", {}).get("username")
    if raw is None:
        return None
    return unicodedata.normalize("NFKC", str(raw).strip()).lower()[:255]


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR; behind TRUSTED_PROXY_COUNT proxies, the address the outermost of them saw: the
    entry that many places from the right of X-Forwarded-For (entries further left are the client's word)."""
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
        if len(hops) >= count:
            candidate = hops[-count]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR") or None


def locked_out(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """The page for a sign-in refused after too many failures (429), saying for how long."""
    from axes.helpers import get_cool_off, get_failure_limit

    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else None
    context = {"minutes": minutes, "failure_limit": get_failure_limit(request, credentials)}
    return render(request, "registration/locked_out.html", context, status=429)
