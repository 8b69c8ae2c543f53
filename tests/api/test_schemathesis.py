"""Schemathesis against /api/openapi.json, through the WSGI application: whatever it sends, valid or not,
the API answers without a server error, with JSON that matches the schema and a documented status.

Path parameters are pointed at real objects the token reaches (a review, a target, a run, a system), so
the generated bodies travel all the way through validation and the services, not just to a 404."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import services as api_services
from probes.models import ProbeRun, RunState
from reviews.models import Membership, Role
from tests.factories import ReviewFactory, SystemFactory, TeamFactory, UserFactory

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def world(db, monkeypatch, settings):
    from probes import services as probe_services
    from probes import tasks

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost"]  # schemathesis's WSGI client's host
    monkeypatch.setattr(tasks.run_probe_run, "delay", lambda run_id: None)
    team = TeamFactory(name="Payments", slug="payments")
    architect = UserFactory(username="alice")
    Membership.objects.create(user=architect, team=team, role=Role.ARCHITECT)
    system = SystemFactory(team=team, name="Ledger", slug="ledger")
    review = ReviewFactory(system=system, created_by=architect)
    target = probe_services.create_target(
        system=system, name="primary", dsn="postgresql://probe:pw@127.0.0.1:1/none", actor=architect
    )
    run = ProbeRun.objects.create(target=target, review=review, state=RunState.DONE)
    _token, secret = api_services.create_token(
        team=team, actor=architect, name="fuzz", scopes=["read", "write:evidence", "run:probes"]
    )
    # The WSGI handler closes "old" connections around each request; inside the test's transaction that
    # would be the test's own. Django's test client disconnects the same receivers.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {
        "secret": secret,
        "path": {"review_id": review.pk, "target_id": target.pk, "run_id": run.pk, "slug": system.slug},
    }
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


OPERATIONS = [
    ("GET", "/api/systems"),
    ("GET", "/api/systems/{slug}/reviews"),
    ("GET", "/api/systems/{slug}/gate"),
    ("GET", "/api/reviews/{review_id}"),
    ("GET", "/api/reviews/{review_id}/gate"),
    ("GET", "/api/reviews/{review_id}/evidence"),
    ("POST", "/api/reviews/{review_id}/evidence/links"),
    ("POST", "/api/reviews/{review_id}/evidence/restore-drills"),
    ("POST", "/api/reviews/{review_id}/evidence/migration-rehearsals"),
    ("POST", "/api/reviews/{review_id}/evidence/load-tests"),
    ("POST", "/api/reviews/{review_id}/evidence/runbook-tests"),
    ("POST", "/api/reviews/{review_id}/evidence/access-patterns"),
    ("POST", "/api/reviews/{review_id}/evidence/derived-stores"),
    ("POST", "/api/reviews/{review_id}/evidence/capacity-envelopes"),
    ("POST", "/api/reviews/{review_id}/evidence/runbooks"),
    ("POST", "/api/reviews/{review_id}/evidence/invariants"),
    ("POST", "/api/reviews/{review_id}/evidence/write-paths"),
    ("POST", "/api/reviews/{review_id}/evidence/concurrency-tests"),
    ("POST", "/api/reviews/{review_id}/evidence/forecasts"),
    ("POST", "/api/reviews/{review_id}/evidence/migration-plans"),
    ("POST", "/api/reviews/{review_id}/evidence/recovery-objectives"),
    ("POST", "/api/reviews/{review_id}/evidence/signals"),
    ("POST", "/api/reviews/{review_id}/evidence/dashboards"),
    ("POST", "/api/reviews/{review_id}/evidence/alert-rules"),
    ("POST", "/api/reviews/{review_id}/evidence/privacy-fields"),
    ("GET", "/api/probe-targets"),
    ("POST", "/api/probe-targets/{target_id}/runs"),
    ("GET", "/api/probe-runs/{run_id}"),
]


def load_schema(world):
    """The schema as a pipeline reads it: with its token."""
    headers = {"Authorization": f"Bearer {world['secret']}"}
    return schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application(), headers=headers)


def test_the_schema_lists_every_operation(world):
    schema = load_schema(world)
    found = sorted((op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations())
    assert found == sorted(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_never_answers_with_a_server_error(world, mode):
    schema = load_schema(world)
    headers = {"Authorization": f"Bearer {world['secret']}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        names = {p.name for p in operation.path_parameters}
        fixed = {name: value for name, value in world["path"].items() if name in names}
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)

        @given(case=strategy)
        @settings(
            max_examples=20,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def call(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        call()
