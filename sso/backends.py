"""The two ways to sign in: a password (off when LOCAL_LOGIN is, except for BREAK_GLASS_USERNAMES) and the
company's OpenID Connect provider (mozilla-django-oidc: code flow with PKCE, ID token RS256 by JWKS)."""

from __future__ import annotations

import logging
import unicodedata

import jwt
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from .services import groups_from_claim, sync_memberships

log = logging.getLogger(__name__)


def is_break_glass(username: str | None) -> bool:
    if not username:
        return False
    name = unicodedata.normalize("NFKC", str(username).strip()).lower()
    return name in {n.lower() for n in settings.BREAK_GLASS_USERNAMES}


def password_allowed(username: str | None) -> bool:
    """May this username sign in with a password?"""
    return settings.LOCAL_LOGIN or is_break_glass(username)


class PasswordBackend(ModelBackend):
    """Django's password check, refused outright while local sign-in is off (break-glass users excepted)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("username")
        if username is not None and not password_allowed(username):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class SignInRefused(SuspiciousOperation):
    """A single sign-on the app refuses; `reason` is shown to the person signing in."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class CompanyBackend(OIDCAuthenticationBackend):
    """Users by the username claim, created at their first sign-on; team roles from the groups claim at
    every sign-on (sso.services.sync_memberships)."""

    def authenticate(self, request, **kwargs):
        # Only the callback view (sso.views.Callback) signs on, with the nonce and PKCE verifier it kept
        # in the session; a `code` and `state` in the query of a password sign-in are ignored.
        if "nonce" not in kwargs or "code_verifier" not in kwargs or "password" in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def _verify_jws(self, payload, key):
        try:
            header = jwt.get_unverified_header(payload)
        except jwt.InvalidTokenError:
            raise SignInRefused("The provider's ID token could not be read.")
        if header.get("alg") != self.OIDC_RP_SIGN_ALGO:
            raise SignInRefused("The provider's ID token is not signed the way this installation expects.")
        options = {"require": ["exp", "iat", "aud"] + (["iss"] if settings.OIDC_OP_ISSUER else [])}
        try:
            return jwt.decode(
                payload,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.OIDC_OP_ISSUER or None,
                leeway=settings.OIDC_CLOCK_SKEW_S,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise SignInRefused("The provider's ID token has expired. Sign in again.")
        except jwt.InvalidTokenError as exc:
            log.warning("single sign-on: ID token refused: %s", exc)
            raise SignInRefused("The provider's ID token is not valid for this installation.")

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        self.id_token_claims = payload
        return payload

    def verify_claims(self, claims):
        try:
            return self._verify_claims(claims)
        except SignInRefused as refused:  # the library turns it into a plain failure: keep the reason
            self.request.sso_refused = refused.reason
            raise

    def _verify_claims(self, claims):
        if claims.get("sub") != getattr(self, "id_token_claims", {}).get("sub"):
            raise SignInRefused("The provider's answers name different people.")
        username = self.get_username(claims)
        if not username:
            raise SignInRefused(f"The provider did not send the {settings.OIDC_USERNAME_CLAIM} claim.")
        if is_break_glass(username):
            raise SignInRefused("This account signs in with its password only.")
        return True

    def get_username(self, claims):
        value = claims.get(settings.OIDC_USERNAME_CLAIM)
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > 150:
            return ""
        return value.strip()

    def filter_users_by_claims(self, claims):
        return self.UserModel.objects.filter(username__iexact=self.get_username(claims))

    def create_user(self, claims):
        user = self.UserModel.objects.create_user(
            self.get_username(claims), email=claims.get("email") or ""
        )  # no password: this user signs in only through the provider
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        changed = []
        for field, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
            value = claims.get(claim)
            if isinstance(value, str) and value and getattr(user, field) != value[:150]:
                setattr(user, field, value[:150])
                changed.append(field)
        if changed:
            user.save(update_fields=changed)
        if user.is_active:
            sync_memberships(user=user, groups=groups_from_claim(claims.get(settings.OIDC_GROUPS_CLAIM)))
        return user
