"""Every open review counts: a newer review does not hide a blocked one on the dashboard, the portfolio or
the system gate of the API; the pipeline asks by release; two open reviews of one release are refused."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from reviews import services, standing
from reviews.gate import GateOutcome
from reviews.models import Finding, FindingStatus, Level, Review
from tests.api.conftest import Api

from ..factories import ReviewFactory, category, score_all

pytestmark = pytest.mark.django_db


def _p0(review, actor):
    return services.add_finding(
        review=review,
        category=category(review, "security"),
        title="Public bucket",
        level=Level.P0,
        actor=actor,
    )


def _decide(review, actor):
    return services.record_decision(
        review=review, actor=actor, next_review=timezone.localdate() + timedelta(days=90)
    )


@pytest.fixture
def ledger(review, system, architect):
    """The issue's reproduction: Ledger 3.0 BLOCKED by an open P0, then Ledger 3.1 started and approved."""
    score_all(review, architect)
    _p0(review, architect)
    newer = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=False,
        production_traffic=True,
    )
    score_all(newer, architect)
    assert _decide(newer, architect).outcome == "APPROVED"
    return review, newer


@pytest.fixture
def api(client, team, architect):
    from api import services as api_services

    _token, secret = api_services.create_token(team=team, actor=architect, name="deploy", scopes=["read"])
    return Api(client, secret)


def test_the_system_stands_blocked_while_an_older_open_review_is(ledger, system):
    blocked, approved = ledger
    state = standing.system_state(system)
    assert state.outcome == GateOutcome.BLOCKED
    assert state.worst.review == blocked
    assert [(c.review, c.decided) for c in state.reviews] == [(approved, True), (blocked, False)]
    assert [c.review for c in state.blocked] == [blocked]


def test_the_dashboard_shows_the_blocked_review_not_the_newest(ledger, client, architect, system):
    blocked, _approved = ledger
    client.force_login(architect)
    response = client.get(reverse("dashboard"))
    (row,) = [r for r in response.context["rows"] if r["system"] == system]
    assert row["worst"].outcome == GateOutcome.BLOCKED and row["worst"].review == blocked
    assert f'from <a href="{blocked.get_absolute_url()}">Ledger 3.0</a>' in response.content.decode()


def test_the_portfolio_row_is_blocked_and_counts_the_open_p0(ledger, client, architect, system):
    blocked, _approved = ledger
    client.force_login(architect)
    (row,) = [r for r in client.get(reverse("portfolio")).context["rows"] if r.system.pk == system.pk]
    assert row.outcome == "BLOCKED" and row.p0 == 1
    assert row.review_id == blocked.pk
    from reviews.selectors import review_gate

    assert row.gate == review_gate(blocked)  # the same gate as the review page of the review it names


def test_the_api_system_gate_is_blocked_and_lists_the_blocked_review(ledger, api):
    blocked, approved = ledger
    gate = api.get("/api/systems/ledger/gate").json()
    assert (gate["outcome"], gate["passed"], gate["exit_code"]) == ("BLOCKED", False, 1)
    assert gate["answers_for"] == "system" and gate["review_id"] == blocked.pk
    listed = {r["review_id"]: r for r in gate["reviews"]}
    assert listed[blocked.pk]["outcome"] == "BLOCKED" and listed[blocked.pk]["release_scope"] == "Ledger 3.0"
    assert any("Public bucket" in b for b in listed[blocked.pk]["blockers"])
    assert listed[approved.pk] | {"blockers": []} == {
        "review_id": approved.pk,
        "release_scope": "Ledger 3.1",
        "state": "decided",
        "outcome": "APPROVED",
        "passed": True,
        "last_decision": True,
        "blockers": [],
    }
    assert api.get("/api/systems/ledger/gate", enforce="true").status_code == 409


def test_the_api_answers_for_the_release_the_pipeline_names(ledger, api):
    blocked, approved = ledger
    ships = api.get("/api/systems/ledger/gate", release="Ledger 3.1", enforce="true")
    assert ships.status_code == 200
    body = ships.json()
    assert (body["review_id"], body["passed"], body["exit_code"], body["answers_for"]) == (
        approved.pk,
        True,
        0,
        "release",
    )
    held = api.get("/api/systems/ledger/gate", release="  ledger 3.0 ")
    assert (held.json()["review_id"], held.json()["outcome"]) == (blocked.pk, "BLOCKED")
    assert api.get("/api/systems/ledger/gate", review=str(approved.pk)).json()["passed"] is True
    unknown = api.get("/api/systems/ledger/gate", release="Ledger 9")
    assert unknown.status_code == 404 and "Ledger 3.1" in unknown.json()["message"]
    assert api.get("/api/systems/ledger/gate", release="x", review=str(blocked.pk)).status_code == 422


def test_a_review_id_of_another_system_is_a_404(ledger, api, team, architect):
    other = ReviewFactory(system__team=team, created_by=architect)
    assert api.get("/api/systems/ledger/gate", review=str(other.pk)).status_code == 404


def test_an_unfinished_open_review_makes_the_system_not_yet_decidable(review, system, architect, api):
    score_all(review, architect)
    _decide(review, architect)
    services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=False,
        production_traffic=True,
    )
    gate = api.get("/api/systems/ledger/gate").json()
    assert (gate["outcome"], gate["exit_code"]) == ("INCOMPLETE", 2)
    assert api.get("/api/systems/ledger/gate", release="Ledger 3.0").json()["exit_code"] == 0


def test_a_blocked_last_decision_counts_until_a_later_one_supersedes_it(ledger, system, architect):
    blocked, _approved = ledger
    assert _decide(blocked, architect).outcome == "BLOCKED"
    assert standing.system_state(system).outcome == GateOutcome.BLOCKED  # no open review, still blocked
    fix = services.start_review(
        system=system,
        release_scope="Ledger 3.2",
        actor=architect,
        schema_changing=False,
        production_traffic=True,
    )
    p0 = Finding.objects.get(review=fix, title="Public bucket")  # carried from the blocked decision
    score_all(fix, architect)
    evidence_services.add_link(
        review=fix,
        category=p0.category,
        title="Bucket policy: private",
        url="https://git.example.com/infra/-/merge_requests/7",
        actor=architect,
    )
    services.update_finding(
        finding=p0,
        actor=architect,
        version=p0.version,
        title=p0.title,
        description="",
        level=p0.level,
        status=FindingStatus.RESOLVED,
        note="The bucket is private now",
    )
    assert standing.system_state(system).outcome == GateOutcome.BLOCKED  # the decision still stands
    assert _decide(fix, architect).outcome == "APPROVED"
    assert standing.system_state(system).outcome == GateOutcome.APPROVED


def test_a_second_open_review_of_the_same_release_is_refused(review, system, architect):
    with pytest.raises(services.ServiceError) as refused:
        services.start_review(
            system=system,
            release_scope="  ledger 3.0 ",
            actor=architect,
            schema_changing=False,
            production_traffic=True,
        )
    assert "still open" in str(refused.value)
    assert Review.objects.filter(system=system).count() == 1
    other = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=False,
        production_traffic=True,
    )
    with pytest.raises(services.ServiceError):
        services.update_review(
            review=other,
            actor=architect,
            version=other.version,
            release_scope="LEDGER 3.0",
            scope_notes="",
            schema_changing=False,
            production_traffic=True,
            next_review_date=None,
        )


def test_the_database_refuses_two_open_reviews_of_one_release(review, system, architect):
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewFactory(system=system, created_by=architect, release_scope="LEDGER 3.0 ")
    score_all(review, architect)
    _decide(review, architect)
    again = services.start_review(
        system=system,
        release_scope="Ledger 3.0",
        actor=architect,
        schema_changing=False,
        production_traffic=True,
    )
    assert again.pk != review.pk  # a decided review of the release does not stop a new one


def test_the_start_form_says_why_it_refuses(review, system, architect, client):
    client.force_login(architect)
    response = client.post(
        reverse("review_create", args=[system.slug]),
        {"release_scope": "Ledger 3.0", "production_traffic": "on"},
    )
    assert response.status_code == 200
    assert "still open for this system" in response.content.decode()
    assert Review.objects.filter(system=system).count() == 1
