"""Single sign-on settings from the environment: off by default; on with a client id, endpoints found at
the issuer's discovery document (the test provider's), password sign-in off unless asked for; the admin's
edits of the group mapping are audited."""

import json
import os
import subprocess
import sys

import pytest

from reviews.models import AuditEvent, Role
from sso.models import GroupRoleMapping
from tests.factories import TeamFactory, UserFactory

SHOW = (
    "import json, django; from django.conf import settings as s; print(json.dumps({k: getattr(s, k) for k in "
    "('SSO_ENABLED', 'LOCAL_LOGIN', 'BREAK_GLASS_USERNAMES', 'AUTHENTICATION_BACKENDS', "
    "'OIDC_OP_TOKEN_ENDPOINT', 'OIDC_OP_JWKS_ENDPOINT', 'OIDC_USE_PKCE', 'OIDC_RP_SIGN_ALGO')}))"
)


def settings_with(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "LOCAL_LOGIN", "BREAK_GLASS"))}
    base["DJANGO_SETTINGS_MODULE"] = "readiness.settings_test"
    done = subprocess.run(
        [sys.executable, "-c", SHOW], env={**base, **env}, capture_output=True, text=True, timeout=60
    )
    return done, (json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None)


def test_without_a_client_id_single_sign_on_is_off_and_passwords_are_on():
    done, found = settings_with()
    assert done.returncode == 0, done.stderr[-2000:]
    assert found["SSO_ENABLED"] is False and found["LOCAL_LOGIN"] is True
    assert "sso.backends.CompanyBackend" not in found["AUTHENTICATION_BACKENDS"]


def test_with_a_client_id_the_endpoints_come_from_the_issuers_discovery_document(provider):
    done, found = settings_with(
        OIDC_RP_CLIENT_ID="readiness", OIDC_OP_ISSUER=provider.issuer, BREAK_GLASS_USERNAMES="root, ops"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert found["SSO_ENABLED"] is True and found["LOCAL_LOGIN"] is False
    assert found["BREAK_GLASS_USERNAMES"] == ["root", "ops"]
    assert found["AUTHENTICATION_BACKENDS"][-1] == "sso.backends.CompanyBackend"
    assert found["OIDC_OP_TOKEN_ENDPOINT"] == f"{provider.issuer}/token/"
    assert found["OIDC_OP_JWKS_ENDPOINT"] == f"{provider.issuer}/.well-known/jwks.json"
    assert found["OIDC_USE_PKCE"] is True and found["OIDC_RP_SIGN_ALGO"] == "RS256"
    done, found = settings_with(
        OIDC_RP_CLIENT_ID="readiness", OIDC_OP_ISSUER=provider.issuer, LOCAL_LOGIN="1"
    )
    assert found["LOCAL_LOGIN"] is True


def test_an_issuer_that_does_not_answer_stops_the_start_with_a_clear_message():
    done, _ = settings_with(
        OIDC_RP_CLIENT_ID="readiness", OIDC_OP_ISSUER="http://127.0.0.1:1/o", OIDC_TIMEOUT_S="2"
    )
    assert done.returncode != 0
    assert (
        "Could not read the provider's discovery document at http://127.0.0.1:1/o/.well-known" in done.stderr
    )
    done, _ = settings_with(OIDC_RP_CLIENT_ID="readiness")
    assert done.returncode != 0 and "Single sign-on needs OIDC_OP_ISSUER" in done.stderr


@pytest.mark.django_db
def test_the_admin_edits_the_group_mapping_and_each_edit_is_audited(client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    team = TeamFactory(name="Payments", slug="payments")
    client.force_login(admin)
    url = "/admin/sso/grouprolemapping/"
    response = client.post(f"{url}add/", {"group": "dba-leads", "team": team.pk, "role": Role.LEAD})
    assert response.status_code == 302
    mapping = GroupRoleMapping.objects.get()
    client.post(f"{url}{mapping.pk}/change/", {"group": "dba-leads", "team": team.pk, "role": Role.MEMBER})
    client.post(f"{url}{mapping.pk}/delete/", {"post": "yes"})
    assert not GroupRoleMapping.objects.exists()
    events = AuditEvent.objects.filter(object_type="sso.grouprolemapping").order_by("pk")
    assert [(e.action, e.actor_id) for e in events] == [
        ("grouprolemapping.create", admin.pk),
        ("grouprolemapping.update", admin.pk),
        ("grouprolemapping.delete", admin.pk),
    ]
    assert events[1].before["role"] == Role.LEAD and events[1].after["role"] == Role.MEMBER
