"""Single sign-on against a real OpenID Connect provider (django-oauth-toolkit in its own process, see
conftest.py): users created at first sign-on, team roles from the groups claim by the admin's mapping
(audited), a wrong state, a PKCE verifier that does not match and an expired ID token refused, password
sign-in off but for the break-glass admin."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.test import Client, RequestFactory

from reviews.audit_text import describe
from reviews.models import AuditEvent, Membership, Role
from sso.models import GroupRoleMapping
from sso.services import wanted_roles
from tests.factories import MembershipFactory, TeamFactory, UserFactory

from .conftest import point_at, sign_on_at_provider

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def payments(db):
    team = TeamFactory(name="Payments", slug="payments")
    GroupRoleMapping.objects.create(group="dba-leads", team=team, role=Role.LEAD)
    GroupRoleMapping.objects.create(group="dba", team=team, role=Role.MEMBER)
    return team


def signed_in_as(client) -> str | None:
    user = client.get("/").wsgi_request.user
    return user.username if user.is_authenticated else None


def test_first_sign_on_creates_the_user_with_the_role_the_groups_claim_maps_to(client, sso, payments):
    sso.user("nora", "dba", "dba-leads", "unmapped")
    response = sign_on_at_provider(client, sso, "nora")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "nora"
    nora = User.objects.get(username="nora")
    assert nora.email == "nora@acme.test" and not nora.has_usable_password()
    # Both mapped groups name Payments: the stronger role wins.
    assert Membership.objects.get(user=nora).role == Role.LEAD
    event = AuditEvent.objects.get(action="membership.create")
    assert event.actor is None and event.after["via"] == "groups claim"
    assert event.after["groups"] == ["dba", "dba-leads"]


def test_the_sign_on_request_carries_a_pkce_challenge_and_a_wrong_verifier_is_refused(client, sso, payments):
    sso.user("nora", "dba")
    start = client.get("/oidc/authenticate/")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43

    def wrong_verifier(callback_query):
        session = client.session
        states = session["oidc_states"]
        states[callback_query["state"][0]]["code_verifier"] = "x" * 64
        session["oidc_states"] = states
        session.save()
        return callback_query

    response = sign_on_at_provider(client, sso, "nora", tamper=wrong_verifier)
    assert response.status_code == 403
    assert "The provider refused to complete the sign-in" in response.content.decode()
    assert signed_in_as(client) is None and not User.objects.filter(username="nora").exists()


def test_a_wrong_state_is_refused_and_nobody_is_signed_in(client, sso, payments):
    sso.user("nora", "dba")

    def wrong_state(query):
        return {**query, "state": ["not-the-state-this-browser-was-given"]}

    response = sign_on_at_provider(client, sso, "nora", tamper=wrong_state)
    assert response.status_code == 403
    assert "This sign-in was not started here" in response.content.decode()
    assert signed_in_as(client) is None and not User.objects.filter(username="nora").exists()


def test_an_expired_id_token_is_refused(client, settings, expiring_provider, payments):
    point_at(settings, expiring_provider, ["http://testserver/oidc/callback/"])
    expiring_provider.user("nora", "dba")
    response = sign_on_at_provider(client, expiring_provider, "nora")
    assert response.status_code == 403
    assert "ID token has expired" in response.content.decode()
    assert signed_in_as(client) is None and not User.objects.filter(username="nora").exists()


def test_a_user_removed_from_a_group_loses_the_role_at_the_next_sign_on(client, sso, payments):
    identity = TeamFactory(name="Identity", slug="identity")  # no mapping names it: left alone
    sso.user("nora", "dba-leads")
    sign_on_at_provider(client, sso, "nora")
    nora = User.objects.get(username="nora")
    MembershipFactory(user=nora, team=identity, role=Role.ARCHITECT)
    assert Membership.objects.get(user=nora, team=payments).role == Role.LEAD

    sso.user("nora", "dba")  # moved from the leads to the plain DBAs
    client.logout()
    sign_on_at_provider(client, sso, "nora")
    assert Membership.objects.get(user=nora, team=payments).role == Role.MEMBER

    sso.user("nora")  # in no group any more
    client.logout()
    assert sign_on_at_provider(client, sso, "nora").status_code == 302
    assert not Membership.objects.filter(user=nora, team=payments).exists()
    assert Membership.objects.get(user=nora, team=identity).role == Role.ARCHITECT

    events = AuditEvent.objects.filter(object_type="reviews.membership").order_by("pk")
    assert [e.action for e in events] == ["membership.create", "membership.update", "membership.delete"]
    assert [entry.sentence for entry in describe(events)] == [
        "Readiness made nora Team lead of Payments, from the groups the single sign-on provider sent",
        "Readiness changed the role of nora in Payments: Team lead → Member, from the groups the single "
        "sign-on provider sent",
        "Readiness removed nora from Payments, from the groups the single sign-on provider sent",
    ]


def test_an_existing_user_is_found_by_username_and_keeps_the_same_account(client, sso, payments):
    mia = UserFactory(username="mia")
    sso.user("mia", "dba")
    assert sign_on_at_provider(client, sso, "mia").status_code == 302
    assert signed_in_as(client) == "mia" and User.objects.filter(username__iexact="mia").count() == 1
    assert Membership.objects.get(user=mia).role == Role.MEMBER


def test_a_break_glass_account_cannot_be_taken_over_by_single_sign_on(client, sso, payments):
    UserFactory(username="root", is_superuser=True, is_staff=True)
    sso.user("root", "dba-leads")
    response = sign_on_at_provider(client, sso, "root")
    assert response.status_code == 403 and "signs in with its password only" in response.content.decode()
    assert signed_in_as(client) is None


def test_a_provider_error_is_shown_not_a_server_error(client, sso):
    client.get("/oidc/authenticate/")
    response = client.get("/oidc/callback/", {"error": "access_denied", "error_description": "User said no"})
    assert response.status_code == 403 and "The provider answered: User said no." in response.content.decode()
    response = client.get("/oidc/callback/", {"code": "x", "state": "y"})  # no sign-on was started
    assert response.status_code == 403 and "Sign-in failed" in response.content.decode()


# Password sign-in while single sign-on is on.


def test_the_sign_in_page_offers_the_provider_and_no_password_form(client, sso):
    page = client.get("/login/").content.decode()
    assert "Sign in with Acme ID" in page and 'name="password"' not in page
    page = client.get("/login/?local=1").content.decode()  # the break-glass path
    assert 'name="password"' in page and "Sign in with Acme ID" not in page


def test_local_sign_in_off_refuses_a_password_but_the_break_glass_admin_signs_in(client, sso):
    UserFactory(username="mia")  # password "pw"
    UserFactory(username="root", is_superuser=True, is_staff=True)
    response = client.post("/login/?local=1", {"username": "mia", "password": "pw"})
    assert response.status_code == 200
    assert "Password sign-in is turned off here" in response.content.decode()
    assert signed_in_as(client) is None
    # Refused by the backend too, whatever page asks (the admin's sign-in, say).
    assert authenticate(RequestFactory().post("/"), username="mia", password="pw") is None
    assert Client().post("/admin/login/", {"username": "mia", "password": "pw"}).status_code == 200

    response = client.post("/login/?local=1", {"username": "root", "password": "pw"})
    assert response.status_code == 302 and signed_in_as(client) == "root"


def test_a_code_and_state_in_a_password_sign_in_are_not_taken_for_a_sign_on(client, sso, settings):
    settings.LOCAL_LOGIN = True
    UserFactory(username="mia")
    response = client.post("/login/?code=stolen&state=any", {"username": "mia", "password": "wrong"})
    assert response.status_code == 200 and "Please enter a correct username" in response.content.decode()
    assert signed_in_as(client) is None


def test_local_sign_in_can_stay_on_next_to_single_sign_on(client, sso, settings):
    settings.LOCAL_LOGIN = True
    UserFactory(username="mia")
    page = client.get("/login/").content.decode()
    assert "Sign in with Acme ID" in page and 'name="password"' in page
    assert client.post("/login/", {"username": "mia", "password": "pw"}).status_code == 302


# Without single sign-on (the default): as before.


def test_without_single_sign_on_the_provider_pages_do_not_exist_and_passwords_work(client):
    UserFactory(username="mia")
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/", {"code": "x", "state": "y"}).status_code == 404
    page = client.get("/login/").content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.post("/login/", {"username": "mia", "password": "pw"}).status_code == 302


def test_roles_from_groups_take_the_strongest_role_per_team_and_name_every_governed_team():
    mappings = [
        ("dba", 1, "member"),
        ("dba-leads", 1, "lead"),
        ("arch", 1, "architect"),
        ("ops", 2, "member"),
    ]
    assert wanted_roles({"dba", "dba-leads"}, mappings) == {1: "lead", 2: None}
    assert wanted_roles({"arch", "dba", "ops"}, mappings) == {1: "architect", 2: "member"}
    assert wanted_roles(set(), mappings) == {1: None, 2: None}


def test_the_guide_says_how_this_installation_signs_in(client, sso):
    client.force_login(UserFactory(username="mia"))
    page = client.get("/guide/signing-in/").content.decode()
    assert "you sign in with <strong>Acme ID</strong>" in page and "Passwords are turned off" in page
