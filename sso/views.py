"""The sign-in page (password and/or single sign-on) and the single sign-on views, which answer 404 while
single sign-on is off and a clear page, never a 500, when a sign-on fails."""

from __future__ import annotations

import logging

import requests
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .backends import SignInRefused
from .forms import LoginForm

log = logging.getLogger(__name__)

GENERIC_FAILURE = "The provider did not sign you in."


class LoginView(auth_views.LoginView):
    """The password form shows when local sign-in is on, or at /login/?local=1 for break-glass users."""

    template_name = "registration/login.html"
    form_class = LoginForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        break_glass = self.request.GET.get("local") == "1"
        context.update(
            sso_enabled=settings.SSO_ENABLED,
            sso_provider_name=settings.SSO_PROVIDER_NAME,
            show_password_form=settings.LOCAL_LOGIN or not settings.SSO_ENABLED or break_glass,
            break_glass=break_glass and not settings.LOCAL_LOGIN,
        )
        return context


def _require_sso():
    if not settings.SSO_ENABLED:
        raise Http404("Single sign-on is not configured.")


class Authenticate(OIDCAuthenticationRequestView):
    def get(self, request):
        _require_sso()
        return super().get(request)


class Callback(OIDCAuthenticationCallbackView):
    def get(self, request):
        _require_sso()
        try:
            return super().get(request)
        except SignInRefused as refused:
            return self.failed(refused.reason)
        except SuspiciousOperation as exc:  # the library's: above all a `state` this browser never sent
            log.warning("single sign-on refused: %s", exc)
            return self.failed("This sign-in was not started here, or it was already used. Sign in again.")
        except requests.RequestException as exc:
            log.warning("single sign-on: the provider's answer was refused: %s", exc)
            return self.failed("The provider refused to complete the sign-in. Sign in again.")

    def login_failure(self):
        if self.request.GET.get("error"):
            said = self.request.GET.get("error_description") or self.request.GET["error"]
            return self.failed(f"The provider answered: {said[:200]}.")
        return self.failed(getattr(self.request, "sso_refused", None) or GENERIC_FAILURE)

    def failed(self, reason: str):
        context = {"reason": reason, "sso_provider_name": settings.SSO_PROVIDER_NAME}
        return render(self.request, "sso/failed.html", context, status=403)
