"""Encryption at rest of probe target DSNs: Fernet tokens under the keys of PROBE_ENCRYPTION_KEYS.

The first key encrypts, every key decrypts (MultiFernet), so rotating is: put a new key first, keep the
old ones after it, run `manage.py rotate_probe_secrets`, then drop the old keys. Without keys set, a key
derived from SECRET_KEY with SHA-256 is used (enough for the quick start; set real keys in production).
That derived key is always the last decrypting key, so moving from the quick start to real keys and
rotating needs no manual step.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

__all__ = ["InvalidToken", "decrypt", "encrypt", "fernet", "rotate"]


def _derived_key() -> bytes:
    digest = hashlib.sha256(b"readiness.probes.dsn:" + settings.SECRET_KEY.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest)


def fernet() -> MultiFernet:
    """Built from the settings on every call: cheap, and a key change in the settings takes effect."""
    keys = []
    for position, key in enumerate(settings.PROBE_ENCRYPTION_KEYS, start=1):
        try:
            keys.append(Fernet(key.encode("ascii") if isinstance(key, str) else key))
        except (ValueError, UnicodeEncodeError):
            # Never echo the key itself.
            raise ImproperlyConfigured(
                f"PROBE_ENCRYPTION_KEYS entry {position} is not a Fernet key (32 url-safe base64-encoded "
                "bytes); make one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'"
            ) from None
    keys.append(Fernet(_derived_key()))
    return MultiFernet(keys)


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """Raises cryptography.fernet.InvalidToken when no configured key opens the token."""
    return fernet().decrypt(token.encode("ascii")).decode("utf-8")


def rotate(token: str) -> str:
    """The same secret, re-encrypted under the first key."""
    return fernet().rotate(token.encode("ascii")).decode("ascii")
