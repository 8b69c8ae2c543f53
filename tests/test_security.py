"""Headers and production settings (sign-in throttling: tests/test_sign_in_throttle.py)."""

import os
import subprocess
import sys

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_every_page_forbids_inline_scripts_and_framing(client, architect, review):
    client.force_login(architect)
    for url in (
        reverse("dashboard"),
        review.get_absolute_url(),
        reverse("meeting_step", args=[review.pk, 7]),
    ):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "<script>" not in response.content.decode()


def test_htmx_posts_carry_the_csrf_token_from_the_body(client, architect, review):
    client.force_login(architect)
    page = client.get(review.get_absolute_url()).content.decode()
    assert """<body hx-headers='{"X-CSRFToken": \"""" in page
    enforcing = type(client)(enforce_csrf_checks=True)
    enforcing.force_login(architect)
    url = reverse("meeting_here", args=[review.pk, 2])
    assert enforcing.post(url, HTTP_HX_REQUEST="true").status_code == 403  # no token
    enforcing.get(review.get_absolute_url())
    token = enforcing.cookies["csrftoken"].value
    assert enforcing.post(url, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token).status_code == 204


def _run(env_extra: dict, *args: str) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update({"DJANGO_SETTINGS_MODULE": "readiness.settings", **env_extra})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )


def test_check_deploy_is_clean_with_production_settings():
    result = _run(
        {
            "SECRET_KEY": "x" * 30 + "-production-secret-key-with-enough-entropy-1234567890",
            "ALLOWED_HOSTS": "readiness.example.com",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_secure_the_cookies_and_send_hsts():
    result = _run(
        {
            "SECRET_KEY": "x" * 30 + "-production-secret-key-with-enough-entropy-1234567890",
            "ALLOWED_HOSTS": "readiness.example.com",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
        },
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SESSION_COOKIE_HTTPONLY, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS >= 31536000, s.DEBUG)",
    )
    assert result.returncode == 0, result.stderr
    # The last line: Django's shell may first say what it imported.
    assert result.stdout.strip().splitlines()[-1].split() == ["True", "True", "True", "True", "True", "False"]
