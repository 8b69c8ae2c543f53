"""Shared fixtures: the Alice/Bob/Charlie cast of every access test, a review to act on."""

import os

import pytest

from reviews.models import Role

from .factories import MembershipFactory, ReviewFactory, SystemFactory, TeamFactory, UserFactory

# pytest-django's live_server runs the app in a thread next to the sync test code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def team(db):
    return TeamFactory(name="Payments", slug="payments")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Identity", slug="identity")


def _member(team, username, role):
    user = UserFactory(username=username)
    MembershipFactory(user=user, team=team, role=role)
    return user


@pytest.fixture
def architect(team):
    return _member(team, "alice", Role.ARCHITECT)


@pytest.fixture
def lead(team):
    return _member(team, "linus", Role.LEAD)


@pytest.fixture
def member(team):
    return _member(team, "mia", Role.MEMBER)


@pytest.fixture
def auditor(team):
    return _member(team, "charlie", Role.AUDITOR)


@pytest.fixture
def outsider(other_team):
    """Bob: an architect, but of another team."""
    return _member(other_team, "bob", Role.ARCHITECT)


@pytest.fixture
def system(team):
    return SystemFactory(team=team, name="Ledger", slug="ledger")


@pytest.fixture
def review(system, architect):
    return ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="Ledger 3.0")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium; Playwright's own browser download does not work on these machines."""
    return {
        **browser_type_launch_args,
        "executable_path": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(autouse=True)
def _catalogue_after_flush(request):
    """Transactional tests flush every table between tests, the catalogue the data migration loaded
    included: load it again for the ones that follow."""
    marker = request.node.get_closest_marker("django_db")
    if marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])):
        from .factories import catalogue

        request.getfixturevalue("transactional_db")
        catalogue()
