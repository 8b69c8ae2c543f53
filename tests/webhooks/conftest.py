"""Fixtures for the outgoing-notification tests: a real receiver on a local port (8820–8829)."""

import pytest

from webhooks import services
from webhooks.models import Event, Format, Subscription

from .receiver import Receiver

PORT = 8821
DOWN_PORT = 8822  # nothing listens here unless a test starts a receiver on it


@pytest.fixture
def receiver():
    r = Receiver(PORT).start()
    yield r
    r.stop()


@pytest.fixture
def webhook_settings(settings):
    settings.WEBHOOK_TIMEOUT_S = 0.5
    settings.WEBHOOK_RETRY_BASE_S = 0.2
    settings.WEBHOOK_RETRY_MAX_S = 1
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    settings.WEBHOOK_BASE_URL = "https://readiness.example"
    return settings


def subscribe(
    url: str, *, events=tuple(Event.values), teams=(), fmt=Format.GENERIC, name="Receiver"
) -> Subscription:
    sub = Subscription(name=name, url=url, format=fmt, events=list(events))
    services.set_new_secret(sub)
    sub.save()
    sub.teams.set(teams)
    return sub
