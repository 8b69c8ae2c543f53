"""The Celery application: configured from Django settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery
from celery.signals import setup_logging

from . import requestid  # noqa: F401  (connects the signals that carry the request id into tasks)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readiness.settings")

app = Celery("readiness")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect(weak=False)
def _django_logging(**kwargs) -> None:
    """Workers and beat log as the web does (settings.LOGGING: LOG_FORMAT, the request id), not with
    Celery's own handlers."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
