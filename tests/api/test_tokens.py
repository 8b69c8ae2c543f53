"""API tokens: shown once, stored as a SHA-256, scoped, revocable, last use recorded, audited; the tokens
page as the owner team's architect and lead, a member, an auditor, another team's architect and nobody."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from api import services
from api.models import ApiToken
from reviews.models import AuditEvent
from reviews.services import ServiceError
from tests.factories import SystemFactory

from .conftest import Api

pytestmark = pytest.mark.django_db


# --- The service


def test_a_token_is_random_recognisable_and_stored_only_as_its_sha256(team, architect):
    token, secret = services.create_token(team=team, actor=architect, name="deploy", scopes=["read"])

    assert secret.startswith("rdy_") and len(secret) >= 40
    assert token.prefix == secret[:12]
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    stored = ApiToken.objects.filter(pk=token.pk).values()[0]
    assert secret not in str(stored)
    assert services.create_token(team=team, actor=architect, name="other", scopes=["read"])[1] != secret


def test_creation_and_revocation_are_audited_without_the_secret(team, architect, lead):
    token, secret = services.create_token(
        team=team, actor=architect, name="deploy", scopes=["read", "write:evidence"]
    )
    services.revoke_token(token=token, actor=lead)
    services.revoke_token(token=token, actor=lead)  # a second revoke changes nothing

    events = list(AuditEvent.objects.filter(object_type="api.apitoken").order_by("at", "id"))
    assert [(e.action, e.actor) for e in events] == [
        ("api_token.create", architect),
        ("api_token.revoke", lead),
    ]
    assert events[0].after["scope_write_evidence"] is True
    for event in events:
        assert secret not in str(event.before) + str(event.after)
        assert token.token_hash not in str(event.before) + str(event.after)


@pytest.mark.parametrize("who", ["member", "auditor", "outsider"])
def test_only_architects_and_leads_of_the_team_manage_its_tokens(request, team, architect, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        services.create_token(team=team, actor=user, name="x", scopes=["read"])
    token, _ = services.create_token(team=team, actor=architect, name="x", scopes=["read"])
    with pytest.raises(PermissionDenied):
        services.revoke_token(token=token, actor=user)


def test_bad_token_requests_are_refused_field_by_field(team, other_team, architect):
    foreign = SystemFactory(team=other_team)
    with pytest.raises(ServiceError) as err:
        services.create_token(
            team=team, actor=architect, name=" ", scopes=["admin"], system=foreign, expires_in_days=0
        )
    assert set(err.value.message_dict) == {"name", "scopes", "system", "expires_in_days"}
    services.create_token(team=team, actor=architect, name="deploy", scopes=["read"])
    with pytest.raises(ServiceError, match="already has an active token"):
        services.create_token(team=team, actor=architect, name="Deploy", scopes=["read"])


def test_revoked_and_expired_tokens_stop_working_at_once(client, make_token, team, architect, lead):
    token, secret = make_token(team, architect)
    api = Api(client, secret)
    assert api.get("/api/systems").status_code == 200
    services.revoke_token(token=token, actor=lead)
    refused = api.get("/api/systems")
    assert refused.status_code == 401
    assert "was revoked" in refused.json()["message"]

    expiring, secret = make_token(team, architect, name="short", expires_in_days=1)
    ApiToken.objects.filter(pk=expiring.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "expired" in Api(client, secret).get("/api/systems").json()["message"]


def test_last_use_is_recorded_at_most_once_a_minute(
    client, make_token, team, architect, django_assert_num_queries
):
    token, secret = make_token(team, architect)
    assert token.last_used_at is None
    api = Api(client, secret)
    api.get("/api/systems")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get("/api/systems")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    api.get("/api/systems")
    token.refresh_from_db()
    assert token.last_used_at > first


# --- The page


def test_the_owner_creates_a_token_and_sees_it_once(client, architect, team, system):
    client.force_login(architect)
    page = client.get(reverse("api_tokens"))
    assert page.status_code == 200
    assert b"Create the token" in page.content

    created = client.post(
        reverse("api_token_create"),
        {"team": team.pk, "system": system.pk, "name": "deploy ledger", "scopes": ["read", "write:evidence"]},
    )

    assert created.status_code == 200
    assert "no-store" in created["Cache-Control"]
    token = ApiToken.objects.get()
    secret = created.context["secret"]
    assert secret.encode() in created.content
    assert (token.system, token.scopes) == (system, ["read", "write:evidence"])
    listing = client.get(reverse("api_tokens"))
    assert token.prefix.encode() in listing.content
    assert secret.encode() not in listing.content
    assert token.token_hash.encode() not in listing.content


def test_a_bad_form_is_shown_again_with_its_errors(client, architect, team):
    client.force_login(architect)
    response = client.post(reverse("api_token_create"), {"team": team.pk, "name": "", "scopes": []})
    assert response.status_code == 422
    assert not ApiToken.objects.exists()


def test_the_lead_revokes_and_the_page_says_so(client, lead, architect, team):
    token, _ = services.create_token(team=team, actor=architect, name="deploy", scopes=["read"])
    client.force_login(lead)
    response = client.post(reverse("api_token_revoke", args=[token.pk]), follow=True)
    assert response.status_code == 200
    token.refresh_from_db()
    assert token.revoked_by == lead
    assert b"revoked" in response.content


@pytest.mark.parametrize("who", ["member", "auditor"])
def test_members_and_auditors_see_the_list_but_not_the_form_nor_any_secret(
    client, request, team, architect, who
):
    token, secret = services.create_token(team=team, actor=architect, name="deploy", scopes=["read"])
    client.force_login(request.getfixturevalue(who))
    page = client.get(reverse("api_tokens"))
    assert page.status_code == 200
    assert b"deploy" in page.content and token.prefix.encode() in page.content
    assert b"Create the token" not in page.content and b"Revoke" not in page.content
    assert secret.encode() not in page.content and token.token_hash.encode() not in page.content
    assert (
        client.post(
            reverse("api_token_create"), {"team": team.pk, "name": "x", "scopes": ["read"]}
        ).status_code
        == 403
    )
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_another_teams_architect_sees_none_of_it(client, outsider, team, architect):
    token, _ = services.create_token(team=team, actor=architect, name="zebra-release", scopes=["read"])
    client.force_login(outsider)
    page = client.get(reverse("api_tokens"))
    assert b"zebra-release" not in page.content and token.prefix.encode() not in page.content
    assert client.post(reverse("api_token_revoke", args=[token.pk])).status_code == 404
    created = client.post(reverse("api_token_create"), {"team": team.pk, "name": "mine", "scopes": ["read"]})
    assert created.status_code == 422  # not a team they may choose
    assert ApiToken.objects.count() == 1


def test_anonymous_visitors_are_sent_to_sign_in(client, team, architect):
    token, _ = services.create_token(team=team, actor=architect, name="deploy", scopes=["read"])
    for response in (
        client.get(reverse("api_tokens")),
        client.post(reverse("api_token_create"), {}),
        client.post(reverse("api_token_revoke", args=[token.pk])),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_tokens_page_takes_a_fixed_number_of_queries(
    client, architect, team, django_assert_max_num_queries
):
    for n in range(6):
        services.create_token(team=team, actor=architect, name=f"t{n}", scopes=["read"])
    client.force_login(architect)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("api_tokens")).status_code == 200
