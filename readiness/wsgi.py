"""WSGI entry point for gunicorn."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readiness.settings")
application = get_wsgi_application()

# Import every view now, then leave the loaded heap out of the cyclic garbage collector: otherwise each
# full collection walks every module's objects, and one request in ~20 of the portfolio pays ~40 ms
# for it (bench/portfolio.py). What a request allocates is still collected as usual.
get_resolver().url_patterns  # noqa: B018 — the import is the point
gc.freeze()
