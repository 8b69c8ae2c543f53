"""URLs of the API app: the JSON API under /api/ and the API tokens page."""

import functools
import json

from django.http import HttpResponse
from django.urls import URLPattern, path, re_path

from . import views
from .api import api, not_found


def _json_not_allowed(view):
    """Ninja answers a method an endpoint lacks with a plain-text 405; the API's errors are JSON."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allowed = response.get("Allow", "")
            body = {
                "error": "method_not_allowed",
                "message": f"{request.method} is not allowed here; use {allowed}.",
                "fields": {},
            }
            replaced = HttpResponse(json.dumps(body), status=405, content_type="application/json")
            replaced["Allow"] = allowed
            return replaced
        return response

    return wrapped


def _api_patterns():
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _json_not_allowed(pattern.callback)
    return patterns, app_name, namespace


urlpatterns = [
    path("api/", not_found),  # Ninja's own root answers an HTML 404
    path("api/", _api_patterns()),
    re_path(r"^api/.+$", not_found),
    path("api-tokens/", views.token_list, name="api_tokens"),
    path("api-tokens/new/", views.token_create, name="api_token_create"),
    path("api-tokens/<int:token_id>/revoke/", views.token_revoke, name="api_token_revoke"),
]
