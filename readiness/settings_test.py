"""Settings for the test suite: PostgreSQL on 127.0.0.1 unless DATABASE_URL says otherwise."""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/readiness")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("READINESS_VAR_DIR", os.path.join(tempfile.gettempdir(), "readiness-test-var"))

from .settings import *  # noqa: E402,F403

# The manifest storage gives 404 for static files under live_server; the plain one does not.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False  # the test client and live_server speak plain HTTP
# WhiteNoise warns (an error under the suite's filterwarnings) when STATIC_ROOT does not exist.
STATIC_ROOT = VAR_DIR / "static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
WHITENOISE_USE_FINDERS = True
# The probe tests connect to planted databases on the local server (trust auth): allow it (and port 1,
# where nothing listens), and turn off
# require_auth (tests/probes/test_attacks_connection.py turns both back to show the refusals).
# The local server, and port 1: a host that refuses connections. From the environment when it is set (a
# test's worker process may be allowed a proxy's port).
PROBE_ALLOWED_HOSTS = env_list("PROBE_ALLOWED_HOSTS", ["127.0.0.1:5432", "127.0.0.1:1"])  # noqa: F405
PROBE_REQUIRE_AUTH = ""
