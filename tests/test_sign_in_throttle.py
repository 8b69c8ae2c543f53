"""Sign-in throttling with django-axes: counted in the database (every process sees every failure), per
username as Django matches it (NFKC) and per address, refused without a password check while locked."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from readiness.security import client_ip, sign_in_username

from .factories import UserFactory

pytestmark = pytest.mark.django_db
URL = reverse("login")
WRONG = "Please enter a correct username"


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


@pytest.fixture
def ines(db):
    return UserFactory(username="ines")


def age(minutes: int) -> None:
    """Let time pass for the recorded failures."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=minutes)
        attempt.save(update_fields=["attempt_time"])


def fail(client, username="ines", n=3, ip="10.0.0.1"):
    for _ in range(n):
        response = client.post(URL, {"username": username, "password": "wrong"}, REMOTE_ADDR=ip)
        assert response.status_code in (200, 429)
    return response


def sign_in(client, username="ines", password="pw", ip="10.0.0.1"):
    return client.post(URL, {"username": username, "password": password}, REMOTE_ADDR=ip)


def locked(response) -> bool:
    return response.status_code == 429 and "Sign-in paused" in response.content.decode()


def test_wrong_passwords_below_the_limit_only_say_the_password_is_wrong(client, ines):
    response = fail(client, n=2)
    assert response.status_code == 200 and WRONG in response.content.decode()
    assert sign_in(client).status_code == 302


def test_the_limit_locks_the_username_and_the_right_password_is_refused(client, ines):
    response = fail(client)
    assert locked(response)
    response = sign_in(client)
    assert locked(response) and "_auth_user_id" not in client.session
    assert "15 minutes" in response.content.decode()


def test_a_fullwidth_spelling_of_a_locked_name_is_refused_too(client, ines):
    fail(client, username="ines")
    assert sign_in_username(None, {"username": "ｉnes"}) == "ines"
    # From another address, so only the username's count can refuse it.
    assert locked(sign_in(client, username="ｉnes", ip="10.0.0.99"))
    assert locked(sign_in(client, username=" ＩＮＥＳ ", ip="10.0.0.98"))


def test_failures_under_spellings_of_one_name_add_up(client, ines):
    for i, spelling in enumerate(["ines", "ｉnes", "ｉｎｅｓ"]):
        fail(client, username=spelling, n=1, ip=f"10.0.1.{i}")
    assert locked(sign_in(client, ip="10.0.2.1"))


def test_the_lock_is_in_the_database_and_holds_for_every_process(ines):
    fail(Client(), n=3, ip="10.0.0.1")
    assert AccessAttempt.objects.filter(username="ines").exists()
    cache.clear()  # nothing of it lives in a per-process cache
    other = Client()  # another web process: a fresh client from another address
    assert locked(sign_in(other, ip="192.0.2.7"))


def test_failures_spread_over_processes_add_up(ines):
    for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        fail(Client(), n=1, ip=ip)
    assert locked(sign_in(Client(), ip="10.0.0.4"))


def test_failures_from_one_address_lock_that_address_for_other_usernames(client, ines):
    for name in ("x1", "x2", "x3"):
        fail(client, username=name, n=1, ip="10.9.9.9")
    assert locked(sign_in(client, ip="10.9.9.9"))
    assert sign_in(Client(), ip="10.9.9.10").status_code == 302


def test_the_lock_ends_after_the_cool_off(client, ines):
    fail(client)
    assert locked(sign_in(client))
    age(16)
    assert sign_in(client).status_code == 302


def test_tries_during_the_lock_do_not_extend_it(client, ines):
    fail(client)
    age(14)
    assert locked(sign_in(client, password="wrong-again"))
    age(2)
    assert sign_in(client).status_code == 302


def test_the_admin_sign_in_is_throttled_the_same_way(client, ines):
    fail(client)
    credentials = {"username": "ines", "password": "pw"}
    response = client.post(reverse("admin:login"), credentials, REMOTE_ADDR="10.7.7.7")
    assert locked(response)


def test_passwords_are_not_stored_with_the_failures(client, ines):
    client.post(URL, {"username": "ines", "password": "hunter2-secret"}, REMOTE_ADDR="10.0.0.1")
    attempt = AccessAttempt.objects.get()
    assert "hunter2-secret" not in attempt.post_data


def test_the_client_address_is_remote_addr_unless_proxies_are_trusted(rf, settings):
    request = rf.post(URL, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(request) == "10.0.0.5"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.9"
    settings.TRUSTED_PROXY_COUNT = 3  # fewer hops than proxies: the header is not to be believed
    assert client_ip(request) == "10.0.0.5"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(rf.post(URL, REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="not-an-ip")) == "10.0.0.5"


def test_a_forged_forwarded_for_does_not_escape_the_lock(client, ines):
    fail(client, ip="10.0.0.1")
    forged = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}
    assert locked(client.post(URL, {"username": "ines", "password": "pw"}, **forged))
