"""Settings for Readiness. Everything that differs between machines comes from the environment.

With nothing set, the embedded default runs: an SQLite file under var/ and Celery tasks in-process.
Set DATABASE_URL and CELERY_BROKER_URL for PostgreSQL and Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_days, env_int, env_list, env_str, parse_database_url

# libpq reads PG* variables (PGPASSWORD, PGOPTIONS, PGSERVICE, PGSSLCERT, ...) for every parameter a
# connection leaves unset: a probe connection must never pick up the worker's own credentials, so they are
# removed from this process at start. The app's own database is configured only by DATABASE_URL.
for _name in [n for n in os.environ if n.startswith("PG")]:
    del os.environ[_name]

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("READINESS_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (set DEBUG=1 for local work).")
    SECRET_KEY = "insecure-development-key-only-for-DEBUG"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
CSRF_FAILURE_VIEW = "readiness.errors.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "django_htmx",
    "template_partials",
    "reviews",
    "evidence",
    "probes",
    "api",
    "schedules",
    "reminders",
    "guide",
    "webhooks",
    "sso",
    "readiness.apps.ReadinessOpsConfig",  # health, metrics, the workers' heartbeat (readiness.tasks)
]

MIDDLEWARE = [
    # First: every later middleware, the view and their log lines see the request id and are timed.
    "readiness.requestid.RequestIdMiddleware",
    "readiness.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "readiness.security.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a sign-in refused for too many failures into the locked-out page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "readiness.urls"
WSGI_APPLICATION = "readiness.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "reviews.menu.menu",
            ],
        },
    },
]

if env_str("DATABASE_URL"):
    DATABASES = {"default": parse_database_url(env_str("DATABASE_URL"))}
else:  # the embedded default of the quick start
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "readiness.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
if DEBUG:  # WhiteNoise serves from the finders in DEBUG, but warns when STATIC_ROOT is missing
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Evidence files live outside static and are served only through a permission-checked view.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
EVIDENCE_MAX_UPLOAD_BYTES = env_int("EVIDENCE_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a TLS-terminating proxy: redirect plain HTTP and tell browsers to stay on HTTPS.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^health/$"]  # the load balancer's health check speaks plain HTTP
# No inline scripts and nothing from elsewhere; htmx runs without eval (see templates/base.html).
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}

# Sign-in throttling (django-axes, in the database, so every web process counts every failure): after
# LOGIN_MAX_FAILURES failed sign-ins for one username (from any address) or from one address (for any
# username), sign-in is refused for LOGIN_FAILURE_WINDOW_S without checking the password. The username is
# keyed as Django matches it (readiness.security.sign_in_username); the address is REMOTE_ADDR, or with
# TRUSTED_PROXY_COUNT proxies in front, the address the outermost trusted proxy saw (X-Forwarded-For).
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_FAILURE_WINDOW_S = env_int("LOGIN_FAILURE_WINDOW_S", 15 * 60)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: a locked-out sign-in never reaches the password check
    "sso.backends.PasswordBackend",  # Django's, refused while LOCAL_LOGIN is off (break-glass users excepted)
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = LOGIN_MAX_FAILURES
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_FAILURE_WINDOW_S)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_USERNAME_CALLABLE = "readiness.security.sign_in_username"
AXES_CLIENT_IP_CALLABLE = "readiness.security.client_ip"
AXES_LOCKOUT_CALLABLE = "readiness.security.locked_out"
# Tries during a lockout are refused but do not push its end further: the page can say when it ends.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
CACHES = (
    {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("CACHE_URL")}}
    if env_str("CACHE_URL")
    else {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
)

# Single sign-on with OpenID Connect (sso app, mozilla-django-oidc): off unless OIDC_RP_CLIENT_ID is set.
# Code flow with PKCE; the ID token is checked (RS256, by the provider's JWKS) for issuer, audience, expiry
# and nonce. Endpoints come from OIDC_OP_ISSUER's /.well-known/openid-configuration at start unless all
# four are set. Users are created at their first sign-on (username from OIDC_USERNAME_CLAIM); team roles
# follow the groups claim (OIDC_GROUPS_CLAIM) by the mappings edited in the admin (sso.GroupRoleMapping).
OIDC_RP_CLIENT_ID = env_str("OIDC_RP_CLIENT_ID")
SSO_ENABLED = bool(OIDC_RP_CLIENT_ID)
OIDC_RP_CLIENT_SECRET = env_str("OIDC_RP_CLIENT_SECRET")
OIDC_OP_ISSUER = env_str("OIDC_OP_ISSUER").rstrip("/")
SSO_PROVIDER_NAME = env_str("SSO_PROVIDER_NAME", "your company account")  # "Sign in with <name>"
OIDC_OP_AUTHORIZATION_ENDPOINT = env_str("OIDC_OP_AUTHORIZATION_ENDPOINT")
OIDC_OP_TOKEN_ENDPOINT = env_str("OIDC_OP_TOKEN_ENDPOINT")
OIDC_OP_USER_ENDPOINT = env_str("OIDC_OP_USER_ENDPOINT")
OIDC_OP_JWKS_ENDPOINT = env_str("OIDC_OP_JWKS_ENDPOINT")
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT_S", 10)
if SSO_ENABLED and not all(
    (OIDC_OP_AUTHORIZATION_ENDPOINT, OIDC_OP_TOKEN_ENDPOINT, OIDC_OP_USER_ENDPOINT, OIDC_OP_JWKS_ENDPOINT)
):
    from sso.discovery import discover

    _found = discover(OIDC_OP_ISSUER, timeout=OIDC_TIMEOUT)
    OIDC_OP_AUTHORIZATION_ENDPOINT = OIDC_OP_AUTHORIZATION_ENDPOINT or _found["authorization_endpoint"]
    OIDC_OP_TOKEN_ENDPOINT = OIDC_OP_TOKEN_ENDPOINT or _found["token_endpoint"]
    OIDC_OP_USER_ENDPOINT = OIDC_OP_USER_ENDPOINT or _found["userinfo_endpoint"]
    OIDC_OP_JWKS_ENDPOINT = OIDC_OP_JWKS_ENDPOINT or _found["jwks_uri"]
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_USE_PKCE = True
OIDC_RP_SCOPES = env_str("OIDC_RP_SCOPES", "openid email profile")
OIDC_USERNAME_CLAIM = env_str("OIDC_USERNAME_CLAIM", "preferred_username")
OIDC_GROUPS_CLAIM = env_str("OIDC_GROUPS_CLAIM", "groups")
OIDC_CLOCK_SKEW_S = env_int("OIDC_CLOCK_SKEW_S", 30)
OIDC_CALLBACK_CLASS = "sso.views.Callback"
OIDC_AUTHENTICATE_CLASS = "sso.views.Authenticate"
# Password sign-in: on by default without single sign-on, off with it. While off, only the users named in
# BREAK_GLASS_USERNAMES may sign in with a password, at /login/?local=1 (and the admin's sign-in).
LOCAL_LOGIN = env_bool("LOCAL_LOGIN", not SSO_ENABLED)
BREAK_GLASS_USERNAMES = env_list("BREAK_GLASS_USERNAMES", [])
if SSO_ENABLED:
    AUTHENTICATION_BACKENDS.append("sso.backends.CompanyBackend")

# Celery: without a broker, tasks run in-process (the quick start); with one, on real workers.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Two queues, each consumed by its own worker (docker-compose.yml), so a target that stops answering
# can hold up only the probe worker: runs (which connect to target databases) go to PROBE_QUEUE; every
# other job (the sweeper, expiry, scheduled starts, reminders, PDFs) to the default queue, which touches
# only the app's own database.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_DEFAULT_QUEUE", "celery")
PROBE_QUEUE = env_str("PROBE_QUEUE", "probes")
# Every task that connects to a target waits on the probe queue, so a target that stops answering
# never holds up the sweeper, expiry, PDFs or reminders.
CELERY_TASK_ROUTES = {
    "probes.tasks.run_probe_run": {"queue": PROBE_QUEUE},
    "probes.tasks.test_target_connection": {"queue": PROBE_QUEUE},
}
# A decision still without its PDF this long after it was recorded is enqueued again by beat.
DECISION_PDF_REQUEUE_AFTER_S = env_int("DECISION_PDF_REQUEUE_AFTER_S", 600)

CELERY_BEAT_SCHEDULE = {
    # Probe runs whose worker died or whose broker message was lost are retried or failed.
    "sweep-stale-probe-runs": {"task": "probes.tasks.sweep_stale_runs", "schedule": 60.0},
    # Exceptions stop counting on time, with nobody acting (the gate also checks expiry itself).
    "expire-exceptions": {"task": "reviews.tasks.expire_exceptions", "schedule": 60.0},
    # Targets with a schedule (ProbeTarget.schedule_hours) get a run when their interval has passed.
    "run-scheduled-probes": {
        "task": "probes.tasks.run_scheduled_probes",
        "schedule": float(env_int("PROBE_SCHEDULE_CHECK_S", 300)),
    },
    # Systems whose decision's next-review date has passed are marked overdue in their review's trail.
    "mark-overdue-reviews": {"task": "schedules.tasks.mark_overdue_reviews", "schedule": 3600.0},
    # Evidence that passed its maximum age since the last run is recorded (EVIDENCE_MAX_AGE_DAYS).
    "record-stale-evidence": {"task": "evidence.tasks.record_stale_evidence", "schedule": 3600.0},
    # Decision PDFs whose rendering message was lost (a broker down when the decision was recorded).
    "requeue-decision-pdfs": {"task": "reviews.tasks.requeue_decision_pdfs", "schedule": 300.0},
    # Idempotency keys and schedule runs older than they need to be kept.
    "prune-api-and-schedule-records": {"task": "schedules.tasks.prune_records", "schedule": 86400.0},
    # Reminder digests: at most one per person per day, each reminder once (reminders.services).
    "send-reminders": {
        "task": "reminders.tasks.send_reminders",
        "schedule": float(env_int("REMINDER_CHECK_S", 3600)),
    },
}

# Watching it run (readiness.health, readiness.metrics, readiness.requestid).
# /health/ reports a queue's workers unavailable when none of them ran the heartbeat task, which beat sends
# to each queue every HEALTH_HEARTBEAT_EVERY_S, for HEALTH_HEARTBEAT_STALE_S.
HEALTH_HEARTBEAT_EVERY_S = env_int("HEALTH_HEARTBEAT_EVERY_S", 30)
HEALTH_HEARTBEAT_STALE_S = env_int("HEALTH_HEARTBEAT_STALE_S", 120)
CELERY_BEAT_SCHEDULE.update(
    {
        f"heartbeat-{queue}": {
            "task": "readiness.tasks.record_heartbeat",
            "schedule": float(HEALTH_HEARTBEAT_EVERY_S),
            "args": (queue,),
            # A heartbeat nobody took within its interval is worthless: it expires instead of piling up.
            "options": {"queue": queue, "expires": float(HEALTH_HEARTBEAT_EVERY_S)},
        }
        for queue in (CELERY_TASK_DEFAULT_QUEUE, PROBE_QUEUE)
    }
)
# /metrics (Prometheus) answers only a scraper sending "Authorization: Bearer <METRICS_TOKEN>"; without a
# token set it does not exist (404). Several processes: set PROMETHEUS_MULTIPROC_DIR (readiness.metrics).
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Email (reminders). The console backend prints mail in the quick start; set EMAIL_BACKEND to
# django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST etc. for real delivery.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Readiness <readiness@localhost>")
# Days before an exception expires when its requester and signer are reminded (largest first).
REMINDER_EXCEPTION_DAYS = sorted(
    (int(d) for d in env_list("REMINDER_EXCEPTION_DAYS", ["14", "3"])), reverse=True
)
# Expired exceptions and passed dates older than this are not reminded of (a new installation
# does not mail a year of history).
REMINDER_LOOKBACK_DAYS = env_int("REMINDER_LOOKBACK_DAYS", 7)
# The address links in reminder mail start with.
REMINDER_BASE_URL = env_str("REMINDER_BASE_URL", "http://localhost:8000").rstrip("/")
# What each scheduled task did (schedules.ScheduleRun, in the admin) is kept this long.
SCHEDULE_RUN_KEEP_DAYS = env_int("SCHEDULE_RUN_KEEP_DAYS", 30)

# Outgoing notifications (webhooks app): signed POSTs to the receivers the admin subscribes, sent by the
# default queue's workers. An attempt waits WEBHOOK_TIMEOUT_S for an answer; a failed one is retried after
# WEBHOOK_RETRY_BASE_S, doubling up to WEBHOOK_RETRY_MAX_S, until WEBHOOK_MAX_ATTEMPTS, then it is failed
# (the admin may replay it). Links in messages start with WEBHOOK_BASE_URL.
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 10)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_RETRY_BASE_S = env_int("WEBHOOK_RETRY_BASE_S", 30)
WEBHOOK_RETRY_MAX_S = env_int("WEBHOOK_RETRY_MAX_S", 3600)
# A delivery still "sending" this long after its timeout lost its worker; one due this long ago lost its
# message (a broker down): the sweeper sends both again.
WEBHOOK_LEASE_GRACE_S = env_int("WEBHOOK_LEASE_GRACE_S", 60)
WEBHOOK_REQUEUE_AFTER_S = env_int("WEBHOOK_REQUEUE_AFTER_S", 120)
# "An exception expiring within N days" is sent once per exception and expiry date.
WEBHOOK_EXPIRING_WITHIN_DAYS = env_int("WEBHOOK_EXPIRING_WITHIN_DAYS", 7)
WEBHOOK_BASE_URL = env_str("WEBHOOK_BASE_URL", REMINDER_BASE_URL).rstrip("/")
# The delivery log keeps delivered and failed deliveries this long.
WEBHOOK_KEEP_DAYS = env_int("WEBHOOK_KEEP_DAYS", 90)
CELERY_BEAT_SCHEDULE.update(
    {
        "sweep-webhook-deliveries": {"task": "webhooks.tasks.sweep_deliveries", "schedule": 60.0},
        "prune-webhook-deliveries": {"task": "webhooks.tasks.prune_deliveries", "schedule": 86400.0},
        "notify-expiring-exceptions": {
            "task": "webhooks.tasks.notify_expiring_exceptions",
            "schedule": 3600.0,
        },
    }
)

# Probe target DSNs are encrypted at rest with Fernet. The first key encrypts; every key decrypts,
# so a new key is put first and `manage.py rotate_probe_secrets` re-encrypts (key rotation).
# Without keys set, one is derived from SECRET_KEY (fine for the quick start; set real keys in production).
PROBE_ENCRYPTION_KEYS = env_list("PROBE_ENCRYPTION_KEYS", [])
PROBE_STATEMENT_TIMEOUT_MS = env_int("PROBE_STATEMENT_TIMEOUT_MS", 5000)
PROBE_LOCK_TIMEOUT_MS = env_int("PROBE_LOCK_TIMEOUT_MS", 1000)
PROBE_CONNECT_TIMEOUT_S = env_int("PROBE_CONNECT_TIMEOUT_S", 5)
PROBE_RUN_DEADLINE_S = env_int("PROBE_RUN_DEADLINE_S", 600)
# A run stops itself at PROBE_RUN_DEADLINE_S between probes. A probe still waiting on its target a few
# seconds later is interrupted by the task's soft time limit (prefork pool only), and the worker child
# is killed at the hard limit if even that does not free it; the sweeper then takes the run over.
PROBE_RUN_SOFT_TIME_LIMIT_S = PROBE_RUN_DEADLINE_S + env_int("PROBE_RUN_INTERRUPT_GRACE_S", 5)
PROBE_RUN_TIME_LIMIT_S = PROBE_RUN_SOFT_TIME_LIMIT_S + env_int("PROBE_RUN_KILL_GRACE_S", 30)
PROBE_RUN_MAX_ATTEMPTS = env_int("PROBE_RUN_MAX_ATTEMPTS", 3)
# Where probe targets may connect (checked after DNS, at every connect): host names, IP addresses and
# CIDR ranges, each with an optional :port, e.g. "db1.internal:5432,10.20.0.0/16". Empty allows nothing.
# Loopback, link-local, unix sockets and the app's own database server need an explicit IP/CIDR entry.
PROBE_ALLOWED_HOSTS = env_list("PROBE_ALLOWED_HOSTS", [])
# libpq's require_auth for probe connections (libpq 16+): a server that lets the probe in without a
# password (trust) or as the worker's OS user (peer) is refused. Empty turns the check off.
PROBE_REQUIRE_AUTH = env_str("PROBE_REQUIRE_AUTH", "scram-sha-256,md5,password")
# The only directory probe targets may name client certificate, key, root certificate and CRL files in
# (sslcert, sslkey, sslrootcert, sslcrl); unset refuses every file parameter.
PROBE_SSL_DIR = env_str("PROBE_SSL_DIR", "")
# TCP keepalives and tcp_user_timeout: a probe notices a dead target within ~30 s, not hours.
PROBE_KEEPALIVES_IDLE_S = env_int("PROBE_KEEPALIVES_IDLE_S", 10)
PROBE_KEEPALIVES_INTERVAL_S = env_int("PROBE_KEEPALIVES_INTERVAL_S", 5)
PROBE_KEEPALIVES_COUNT = env_int("PROBE_KEEPALIVES_COUNT", 3)
PROBE_TCP_USER_TIMEOUT_MS = env_int("PROBE_TCP_USER_TIMEOUT_MS", 30000)

# A fleet of probe targets (probes.services.runs, probes.services.schedules).
# A worker reserves no message beyond the ones it runs (acks_late on probe runs, so the running one
# counts): a slow target holds one worker slot, never a queue of other targets' runs behind it.
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_WORKER_PREFETCH_MULTIPLIER", 1)
# A run writes its results in batches: at least every so many seconds (its heartbeat), before each
# invariant check and at the end.
PROBE_RESULT_FLUSH_S = float(env_int("PROBE_RESULT_FLUSH_S", 5))
# A scheduled run may wait this long in the queue behind the other targets' runs before the sweeper
# sends it again (a run someone starts waits PROBE_RUN_DEADLINE_S).
PROBE_SCHEDULED_QUEUE_WAIT_S = env_int("PROBE_SCHEDULED_QUEUE_WAIT_S", 3600)
# A run whose target another worker still probes (one it was taken from, which stops at its next write)
# comes back this many times, this many seconds apart; past that the sweeper sends it again.
PROBE_BUSY_RETRIES = env_int("PROBE_BUSY_RETRIES", 5)
PROBE_BUSY_RETRY_S = env_int("PROBE_BUSY_RETRY_S", 30)

# Evidence goes stale: the maximum age in days of each kind of evidence ("never": it does not expire).
# A score of 2 or 3 supported only by stale evidence counts as if it had no evidence (seed §4).
EVIDENCE_MAX_AGE_DAYS = {
    "probe_result": env_days("EVIDENCE_MAX_AGE_PROBE_RESULT_DAYS", 7),
    "link": env_days("EVIDENCE_MAX_AGE_LINK_DAYS", None),
    "file": env_days("EVIDENCE_MAX_AGE_FILE_DAYS", None),
}
# The typed records (restore_drill, runbook, invariant, privacy_field … as evidence.kinds declares them):
# EVIDENCE_MAX_AGE_<KIND>_DAYS, e.g. EVIDENCE_MAX_AGE_RESTORE_DRILL_DAYS, over the age each declares.
EVIDENCE_MAX_AGE_DAYS.update(
    {
        kind: env_days(f"EVIDENCE_MAX_AGE_{kind.upper()}_DAYS", spec.max_age_days)
        for kind, spec in __import__("evidence.kinds", fromlist=["ALL"]).ALL.items()
    }
)

# The API for pipelines (/api/): a retried POST with the same Idempotency-Key gets its first response
# for this long; the token's last use is written at most once per API_TOKEN_LAST_USED_EVERY_S.
API_IDEMPOTENCY_KEEP_DAYS = env_int("API_IDEMPOTENCY_KEEP_DAYS", 7)
API_TOKEN_LAST_USED_EVERY_S = env_int("API_TOKEN_LAST_USED_EVERY_S", 60)

# Review rules that an installation may tune.
EXCEPTION_MAX_DAYS = env_int("EXCEPTION_MAX_DAYS", 90)
PAGE_SIZE = env_int("PAGE_SIZE", 25)

# LOG_FORMAT=json: one JSON object a line (time, level, logger, message, request_id). Otherwise plain
# lines, which carry the request id too.
LOG_FORMAT = env_str("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'text' or 'json', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "readiness.requestid.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "readiness.requestid.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # WeasyPrint and fontTools narrate every rendering step at INFO.
    "loggers": {name: {"level": "WARNING"} for name in ("weasyprint", "fontTools")},
}
