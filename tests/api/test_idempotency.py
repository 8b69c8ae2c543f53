"""Idempotency-Key (seed §9.2–9.3): the same command retried 10 times, one after another or all at once,
gives one effect and the same response; the same key with another request is refused."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test import Client

from api.models import IdempotencyRecord
from evidence.models import Evidence
from reviews.models import AuditEvent
from tests.factories import MembershipFactory, ReviewFactory, SystemFactory, TeamFactory, UserFactory

from .conftest import Api, drill_body


@pytest.mark.django_db
def test_the_same_key_ten_times_gives_one_effect_and_one_response(api, review):
    body = drill_body()
    path = f"/api/reviews/{review.pk}/evidence/restore-drills"

    responses = [api.post(path, body, key="deploy-481-drill") for _ in range(10)]

    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert [r["Idempotent-Replayed"] for r in responses] == ["false"] + ["true"] * 9
    assert Evidence.objects.count() == 1
    assert AuditEvent.objects.filter(action="evidence.restore_drill").count() == 1
    assert IdempotencyRecord.objects.get().response_status == 201


@pytest.mark.django_db
def test_the_body_is_compared_by_content_not_by_spacing_or_key_order(api, review):
    body = drill_body()
    path = f"/api/reviews/{review.pk}/evidence/restore-drills"
    first = api.post(path, body, key="k")
    reordered = dict(reversed(list(body.items())))
    import json

    again = api.post(path, None, key="k", raw=json.dumps(reordered, indent=4))
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert Evidence.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_refused_with_a_clear_error(api, review):
    path = f"/api/reviews/{review.pk}/evidence/restore-drills"
    assert api.post(path, drill_body(), key="k-1").status_code == 201

    other = api.post(path, drill_body(title="Another drill"), key="k-1")

    assert other.status_code == 422
    body = other.json()
    assert body["error"] == "idempotency_key_reused"
    assert "already used for a different request" in body["message"]
    assert f"POST {path}" in body["message"]
    assert Evidence.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_on_another_endpoint_is_refused(api, review):
    from .test_api import load_test_body

    assert (
        api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body(), key="k").status_code
        == 201
    )
    other = api.post(f"/api/reviews/{review.pk}/evidence/load-tests", load_test_body(), key="k")
    assert other.json()["error"] == "idempotency_key_reused"


@pytest.mark.django_db
def test_a_refused_request_stores_nothing_so_its_retry_runs_again(api, review):
    path = f"/api/reviews/{review.pk}/evidence/restore-drills"
    from reviews.models import ReviewState

    type(review).objects.filter(pk=review.pk).update(state=ReviewState.DECIDED)
    assert api.post(path, drill_body(), key="k-2").status_code == 422
    assert not IdempotencyRecord.objects.exists()
    type(review).objects.filter(pk=review.pk).update(state=ReviewState.DRAFT)
    assert api.post(path, drill_body(), key="k-2").status_code == 201
    assert Evidence.objects.count() == 1


@pytest.mark.django_db
def test_keys_belong_to_their_token(client, make_token, team, architect, review):
    path = f"/api/reviews/{review.pk}/evidence/restore-drills"
    first = Api(client, make_token(team, architect, name="one")[1])
    second = Api(client, make_token(team, architect, name="two")[1])
    assert first.post(path, drill_body(), key="shared").status_code == 201
    assert second.post(path, drill_body(), key="shared").status_code == 201
    assert Evidence.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", " leading-space", "x" * 256, "naïve"])
def test_a_malformed_key_is_refused(api, review, key):
    response = api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body(), key=key)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["fields"]
    assert not Evidence.objects.exists()


@pytest.mark.django_db
def test_without_a_key_every_post_is_a_new_command(api, review):
    path = f"/api/reviews/{review.pk}/evidence/restore-drills"
    assert api.post(path, drill_body()).status_code == 201
    assert api.post(path, drill_body()).status_code == 201
    assert Evidence.objects.count() == 2
    assert not IdempotencyRecord.objects.exists()


# serialized_rollback: like the worker tests, so the flush after it does not re-create content types that
# the next serialized test restores (a duplicate key otherwise).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_ten_concurrent_requests_with_one_key_give_one_effect_and_one_response():
    """Ten threads, each its own connection, post the same command at the same moment. The key row is
    inserted first in each transaction: one wins, nine wait on the unique index and replay its answer."""
    from api import services as api_services

    team = TeamFactory(name="Payments", slug="payments")
    architect = UserFactory(username="alice")
    MembershipFactory(user=architect, team=team, role="architect")
    review = ReviewFactory(system=SystemFactory(team=team, slug="ledger"), created_by=architect)
    _token, secret = api_services.create_token(
        team=team, actor=architect, name="ci", scopes=["read", "write:evidence"]
    )
    path = f"/api/reviews/{review.pk}/evidence/restore-drills"
    body = drill_body()
    start = threading.Barrier(10)
    responses: list = [None] * 10
    errors: list[BaseException] = []

    def post(i: int) -> None:
        try:
            start.wait(timeout=10)
            responses[i] = Api(Client(), secret).post(path, body, key="concurrent-1")
        except BaseException as exc:  # reported below, never as a thread warning
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert not errors, errors
    assert {r.status_code for r in responses} == {201}
    assert len({r.content for r in responses}) == 1
    assert sorted(r["Idempotent-Replayed"] for r in responses) == ["false"] + ["true"] * 9
    assert Evidence.objects.filter(review=review).count() == 1
    assert IdempotencyRecord.objects.count() == 1
