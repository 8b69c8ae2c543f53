"""Signing a webhook body, and the recipe a receiver follows to check it (README, the guide).

Each POST carries `Readiness-Signature: t=<unix seconds>,v1=<hex>`, where
hex = HMAC-SHA256(secret, f"{t}.{body}") over the raw body bytes. A receiver recomputes it with its copy of
the secret, compares in constant time, and refuses a timestamp more than a few minutes from its clock: a
captured request replayed later fails. `verify` below is that recipe, word for word as documented.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Readiness-Signature"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def header_value(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={signature(secret, t, body)}"


def verify(
    secret: str, body: bytes, header: str, *, tolerance_s: int = DEFAULT_TOLERANCE_S, now=None
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within tolerance_s of now."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))
