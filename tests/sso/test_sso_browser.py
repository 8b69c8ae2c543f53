"""Single sign-on in a real headless Chromium through the test provider's own sign-in form: the code
flow with PKCE lands signed in with the mapped role; another browser's callback (login CSRF) is refused."""

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from reviews.models import Membership, Role
from sso.models import GroupRoleMapping
from tests.factories import TeamFactory

from .conftest import PASSWORD, point_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


@pytest.fixture
def sso_live(settings, provider, live_server):
    point_at(settings, provider, [f"{live_server.url}/oidc/callback/"])
    team = TeamFactory(name="Payments", slug="payments")
    GroupRoleMapping.objects.create(group="dba-leads", team=team, role=Role.LEAD)
    provider.user("nora", "dba-leads")
    return team


def sign_on(page, live_server, username="nora"):
    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Sign in with Acme ID").click()
    page.wait_for_url("http://127.0.0.1:*/accounts/login/**")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()


def test_sign_on_through_the_provider_lands_signed_in_with_the_mapped_role(page, live_server, sso_live):
    page.goto(f"{live_server.url}/login/")
    assert page.get_by_label("Password").count() == 0  # password sign-in is off
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "login-sso.png"), full_page=True)
    page.goto(f"{live_server.url}/login/?local=1")  # the break-glass path
    assert page.get_by_label("Password").is_visible()
    page.screenshot(path=str(ARTIFACTS / "login-break-glass.png"), full_page=True)

    sign_on(page, live_server)
    page.wait_for_url(f"{live_server.url}/")
    assert "nora" in page.content()
    nora = get_user_model().objects.get(username="nora")
    assert Membership.objects.get(user=nora, team=sso_live).role == Role.LEAD


def test_a_callback_with_another_browsers_state_is_refused(page, browser, live_server, provider, sso_live):
    """Login CSRF: Mallory's callback address (her code, her state) opened in Nora's browser, which started
    a sign-on of its own, is refused: the state is not one Nora's browser was given."""
    provider.user("mallory", "dba-leads")
    mallory = browser.new_context().new_page()
    callbacks = []
    mallory.on("request", lambda r: callbacks.append(r.url) if "/oidc/callback/" in r.url else None)
    sign_on(mallory, live_server, "mallory")
    mallory.wait_for_url(f"{live_server.url}/")
    mallory.context.close()
    assert len(callbacks) == 1 and "state=" in callbacks[0]

    page.goto(f"{live_server.url}/login/")
    page.get_by_role("link", name="Sign in with Acme ID").click()
    page.wait_for_url("http://127.0.0.1:*/accounts/login/**")
    page.goto(callbacks[0])
    assert page.get_by_role("heading", name="Sign-in failed").is_visible()
    assert "This sign-in was not started here" in page.content()
    page.screenshot(path=str(ARTIFACTS / "sso-failed.png"), full_page=True)
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/")  # not signed in
