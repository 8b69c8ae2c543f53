"""The provider's endpoints from its discovery document (OpenID Connect Discovery 1.0), read at start."""

import requests
from django.core.exceptions import ImproperlyConfigured

KEYS = ("issuer", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


def discover(issuer: str, *, timeout: int = 10) -> dict:
    if not issuer:
        raise ImproperlyConfigured(
            "Single sign-on needs OIDC_OP_ISSUER, or all of OIDC_OP_AUTHORIZATION_ENDPOINT, "
            "OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT and OIDC_OP_JWKS_ENDPOINT."
        )
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise ImproperlyConfigured(f"Could not read the provider's discovery document at {url}: {exc}")
    missing = [k for k in KEYS if not document.get(k)]
    if missing:
        raise ImproperlyConfigured(f"The discovery document at {url} lacks {', '.join(missing)}.")
    if document["issuer"].rstrip("/") != issuer.rstrip("/"):
        raise ImproperlyConfigured(
            f"The discovery document at {url} names another issuer: {document['issuer']}"
        )
    return document
