"""Security headers and sign-in throttling that Django 5.2 does not provide itself."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse


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


def _client_ip(request: HttpRequest) -> str:
    # Behind a proxy, SECURE_PROXY_SSL_HEADER-style trust is configured there; REMOTE_ADDR is what we trust.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class ThrottledAuthenticationForm(AuthenticationForm):
    """Refuses sign-in after LOGIN_MAX_FAILURES failures for the same username or from the same address
    within LOGIN_FAILURE_WINDOW_S, before even checking the password."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": "Too many failed sign-ins. Wait %(minutes)d minutes and try again.",
    }

    def _keys(self) -> list[str]:
        username = (self.data.get("username") or "").strip().lower()[:150]
        keys = [f"login-fail:ip:{_client_ip(self.request)}"] if self.request is not None else []
        if username:
            keys.append(f"login-fail:user:{username}")
        return keys

    def clean(self):
        window = settings.LOGIN_FAILURE_WINDOW_S
        if any(cache.get(key, 0) >= settings.LOGIN_MAX_FAILURES for key in self._keys()):
            raise ValidationError(
                self.error_messages["throttled"], code="throttled", params={"minutes": max(1, window // 60)}
            )
        try:
            return super().clean()
        except ValidationError:
            for key in self._keys():
                cache.add(key, 0, timeout=window)
                try:
                    cache.incr(key)
                except ValueError:  # expired between add and incr
                    cache.set(key, 1, timeout=window)
            raise
