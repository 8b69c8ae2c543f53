"""The JSON API through the client: what each token reaches (owner, another team, a system token,
no token), every kind of evidence a pipeline posts, the gate a deploy pipeline stops on, probe runs,
and errors that are JSON and say what to fix."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from evidence.models import Evidence, EvidenceKind, LoadTest, MigrationRehearsal, RestoreDrill, RunbookTest
from probes.models import ProbeResult, ProbeRun, ProbeTarget, RunState
from reviews.models import AuditEvent, ReviewState
from tests.factories import ReviewFactory, SystemFactory

from .conftest import Api, attach_and_score, drill_body, score_everything

pytestmark = pytest.mark.django_db


def rehearsal_body(**overrides) -> dict:
    now = timezone.now()
    return {
        "migration": "0042_orders_status",
        "phase": "expand",
        "environment": "staging",
        "dataset": "snapshot of 1 Nov, 1.2 TB",
        "started_at": (now - timedelta(hours=2)).isoformat(),
        "ended_at": (now - timedelta(hours=1, minutes=20)).isoformat(),
        "lock_behaviour": "ACCESS EXCLUSIVE on orders for 120 ms (add column with default)",
        "longest_lock_ms": 120,
        "validation_query": "select count(*) from orders where status is null",
        "validation_passed": True,
        **overrides,
    }


def load_test_body(**overrides) -> dict:
    now = timezone.now()
    return {
        "scenario": "checkout peak x2",
        "environment": "perf",
        "tool": "k6",
        "started_at": (now - timedelta(hours=3)).isoformat(),
        "ended_at": (now - timedelta(hours=2)).isoformat(),
        "throughput_per_s": 4200.5,
        "p50_ms": 3.2,
        "p95_ms": 18.0,
        "p99_ms": 45.5,
        "target_p95_ms": 25,
        "saturation_point": "CPU-bound at about 6,000 TPS on the primary",
        **overrides,
    }


def runbook_test_body(**overrides) -> dict:
    now = timezone.now()
    return {
        "runbook_name": "Lock storm",
        "scenario": "Blocked sessions behind a long migration",
        "environment": "staging",
        "started_at": (now - timedelta(hours=5)).isoformat(),
        "ended_at": (now - timedelta(hours=4)).isoformat(),
        "passed": True,
        **overrides,
    }


# --- Reaching things: the owner's token, another team's, a system token, none


def test_systems_are_those_of_the_tokens_team(api, other_api, system):
    mine = api.get("/api/systems")
    assert mine.status_code == 200
    assert [s["slug"] for s in mine.json()] == ["ledger"]
    assert [s["slug"] for s in other_api.get("/api/systems").json()] == ["directory"]


def test_another_teams_review_is_a_404_not_a_403(other_api, review):
    for path in (
        f"/api/reviews/{review.pk}",
        f"/api/reviews/{review.pk}/gate",
        f"/api/reviews/{review.pk}/evidence",
        "/api/systems/ledger/reviews",
        "/api/systems/ledger/gate",
    ):
        response = other_api.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
    posted = other_api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body(), key="k-1")
    assert posted.status_code == 404
    assert not Evidence.objects.exists()


def test_a_system_token_reaches_only_its_system(client, make_token, team, architect, review):
    SystemFactory(team=team, name="Billing", slug="billing")
    other = ReviewFactory(system__team=team, system__slug="payouts", created_by=architect)
    token, secret = make_token(team, architect, system=review.system)
    api = Api(client, secret)
    assert [s["slug"] for s in api.get("/api/systems").json()] == ["ledger"]
    assert api.get(f"/api/reviews/{review.pk}").status_code == 200
    assert api.get(f"/api/reviews/{other.pk}").status_code == 404
    assert api.get("/api/systems/billing/gate").status_code == 404


def test_without_a_token_every_endpoint_is_a_401_that_says_what_to_send(client, review):
    anonymous = Api(client, None)
    for path in ("/api/systems", f"/api/reviews/{review.pk}/gate", "/api/probe-targets"):
        response = anonymous.get(path)
        assert response.status_code == 401
        assert "Authorization: Bearer rdy_" in response.json()["message"]
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert (
        anonymous.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body()).status_code == 401
    )
    wrong = Api(client, "rdy_not-a-real-token")
    assert wrong.get("/api/systems").json()["message"].startswith("This API token is not known")
    session = client.get("/api/systems", headers={"Authorization": "Basic YWxpY2U6cHc="})
    assert session.status_code == 401


def test_a_signed_in_session_is_not_an_api_credential(client, architect, review):
    client.force_login(architect)
    assert client.get("/api/systems").status_code == 401


def test_scopes_are_enforced_per_endpoint(client, make_token, team, architect, review):
    reader = Api(client, make_token(team, architect, scopes=["read"])[1])
    writer = Api(client, make_token(team, architect, scopes=["write:evidence"])[1])
    prober = Api(client, make_token(team, architect, scopes=["run:probes"])[1])

    refused = reader.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body())
    assert refused.status_code == 403
    assert "write:evidence" in refused.json()["message"]
    assert writer.get("/api/systems").status_code == 403
    assert writer.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body()).status_code == 201
    assert prober.get(f"/api/reviews/{review.pk}/gate").status_code == 403
    assert reader.get(f"/api/reviews/{review.pk}/gate").status_code == 200


def test_unknown_api_paths_are_json_404s(api):
    response = api.get("/api/nothing/here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_found"


# --- Evidence, kind by kind


def test_a_posted_restore_drill_moves_the_backup_category_and_the_gate(api, review, architect, lead):
    """The gate blocks on backup until the drill is posted and backup is raised to 2 (a raise above a
    minimum: proposed by one, confirmed by another)."""
    score_everything(review, architect, score=2)
    review.evidence.filter(category__code="backup").delete()
    review.scores.filter(category__code="backup").update(score=1)
    before = api.get(f"/api/reviews/{review.pk}/gate").json()
    assert before["outcome"] == "BLOCKED"
    assert before["exit_code"] == 1 and before["passed"] is False
    assert any("Backup" in b and "scores 1" in b for b in before["blockers"])

    response = api.post(
        f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body(), key="drill-2026-q4"
    )

    assert response.status_code == 201
    item = response.json()
    assert item["category"] == "backup" and item["kind"] == "restore_drill"
    assert item["stale"] is False and item["max_age_days"] == 90
    assert item["restore_drill"]["rpo_achieved_seconds"] == 180
    assert item["restore_drill"]["passed"] is True
    detail = api.get(f"/api/reviews/{review.pk}").json()
    backup = next(row for row in detail["scorecard"] if row["category"] == "backup")
    assert (backup["evidence_count"], backup["fresh_evidence_count"]) == (1, 1)

    from reviews import score_raise
    from tests.factories import category

    proposal = score_raise.propose(
        review=review, category=category(review, "backup"), actor=architect, score=2, reason="Drill passed"
    )
    assert api.get(f"/api/reviews/{review.pk}/gate").json()["outcome"] == "BLOCKED"
    score_raise.confirm(raise_=proposal, actor=lead)
    after = api.get(f"/api/reviews/{review.pk}/gate").json()
    assert after["outcome"] == "APPROVED"
    assert (after["passed"], after["exit_code"], after["blockers"]) == (True, 0, [])
    drill = RestoreDrill.objects.get()
    assert drill.evidence.added_by == architect
    assert AuditEvent.objects.filter(action="evidence.restore_drill").count() == 1
    api_event = AuditEvent.objects.get(action="api.evidence.add")
    assert api_event.after["idempotency_key"] == "drill-2026-q4"
    assert api_event.after["token"].startswith("rdy_")


def test_a_migration_rehearsal_is_evidence_of_migration_safety(api, review):
    response = api.post(f"/api/reviews/{review.pk}/evidence/migration-rehearsals", rehearsal_body())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["category"], body["kind"]) == ("migration", "migration_rehearsal")
    assert body["migration_rehearsal"]["runtime_seconds"] == 40 * 60
    assert body["migration_rehearsal"]["longest_lock_ms"] == 120
    assert body["max_age_days"] == 30
    assert MigrationRehearsal.objects.get().validation_query.startswith("select count(*)")


def test_a_load_test_is_evidence_of_capacity_with_its_percentiles(api, review):
    response = api.post(f"/api/reviews/{review.pk}/evidence/load-tests", load_test_body())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["category"], body["kind"]) == ("capacity", "load_test")
    assert body["load_test"]["p99_ms"] == 45.5
    assert body["load_test"]["passed"] is True
    assert LoadTest.objects.get().saturation_point.startswith("CPU-bound")


def test_the_inventories_and_the_envelope_are_posted_and_listed_with_what_they_say(api, review):
    pattern = api.post(
        f"/api/reviews/{review.pk}/evidence/access-patterns",
        {
            "query_name": "Case inbox",
            "actor_name": "investigator",
            "frequency": "500/min peak",
            "predicate": "tenant_id, assigned_user_id, status in active states",
            "pagination": "keyset",
            "expected_p95_ms": 100,
            "index": "(tenant_id, assigned_user_id, status, due_at, priority, id)",
        },
    )
    assert pattern.status_code == 201, pattern.json()
    assert (pattern.json()["category"], pattern.json()["access_pattern"]["pagination"]) == (
        "query-index",
        "keyset",
    )
    store = api.post(
        f"/api/reviews/{review.pk}/evidence/derived-stores",
        {
            "store": "Search index",
            "source": "CDC/outbox",
            "freshness": "< 30 sec",
            "rebuild": "Full reindex",
            "owner": "Platform search",
            "failure_action": "Disable search fallback",
        },
    )
    assert store.status_code == 201 and store.json()["category"] == "integration"
    envelope_body = {
        "current_data_size": "420 GB",
        "projected_data_size": "1.1 TB",
        "current_peak_tps": 1800,
        "projected_peak_tps": 4500,
        "current_p95_ms": 38,
        "target_p95_ms": 100,
        "saturation_trigger": "CPU above 70% at peak",
        "planned_mitigation": "Partition postings by month",
        "owner": "mia",
        "review_date": (timezone.localdate() - timedelta(days=200)).isoformat(),
    }
    envelope = api.post(f"/api/reviews/{review.pk}/evidence/capacity-envelopes", envelope_body)
    assert envelope.status_code == 201, envelope.json()
    body = envelope.json()
    assert body["capacity_envelope"]["within_target"] is True
    assert body["stale"] is True and body["max_age_days"] == 180  # reviewed 200 days ago
    listed = {e["kind"]: e for e in api.get(f"/api/reviews/{review.pk}/evidence").json()["items"]}
    assert listed["derived_store"]["derived_store"]["rebuild"] == "Full reindex"
    assert listed["access_pattern"]["access_pattern"]["expected_p95_ms"] == 100
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    refused = api.post(
        f"/api/reviews/{review.pk}/evidence/capacity-envelopes", {**envelope_body, "review_date": tomorrow}
    )
    assert refused.status_code == 422
    assert refused.json()["fields"]["review_date"] == ["The review date cannot be in the future."]
    assert Evidence.objects.count() == 3


def test_a_runbook_test_links_to_the_runbook_it_tested(api, review, architect):
    from evidence import services as evidence_services

    runbook = evidence_services.add_runbook(
        review=review, actor=architect, name="Lock storm", owner="mia", last_tested=None
    )
    response = api.post(f"/api/reviews/{review.pk}/evidence/runbook-tests", runbook_test_body())
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["category"], body["kind"], body["runbook_test"]["runbook_linked"]) == (
        "runbooks",
        "runbook_test",
        True,
    )
    assert RunbookTest.objects.get().runbook == runbook.runbook


def test_a_link_goes_to_the_category_named_by_its_code(api, review):
    response = api.post(
        f"/api/reviews/{review.pk}/evidence/links",
        {"category": "observability", "title": "Alert rules", "url": "https://grafana.example.com/d/db"},
    )
    assert response.status_code == 201
    assert response.json()["category"] == "observability"
    unknown = api.post(
        f"/api/reviews/{review.pk}/evidence/links",
        {"category": "nope", "title": "x", "url": "https://example.com"},
    )
    assert unknown.status_code == 422
    assert "backup" in unknown.json()["fields"]["category"][0]


def test_the_services_refusals_come_back_as_field_errors(api, review):
    late = drill_body(ended_at=(timezone.now() - timedelta(hours=4)).isoformat())
    response = api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", late)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "refused"
    assert body["fields"]["ended_at"] == ["The drill cannot end before it started."]
    falling = api.post(
        f"/api/reviews/{review.pk}/evidence/load-tests", load_test_body(p95_ms=50.0, p99_ms=40.0)
    )
    assert falling.status_code == 422
    assert "p50 ≤ p95 ≤ p99" in falling.json()["fields"]["p99_ms"][0]
    assert not Evidence.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (drill_body(database="led\x00ger"), "database"),
        (drill_body(started_at="2026-01-01T10:00:00"), "started_at"),  # no time zone
        (drill_body(started_at="0001-01-01T00:00:00+05:00"), "started_at"),
        (drill_body(rpo_target_minutes=-1), "rpo_target_minutes"),
        (drill_body(rto_target_minutes=10**20), "rto_target_minutes"),
        (drill_body(database=""), "database"),
        (drill_body(database="x" * 201), "database"),
        ({k: v for k, v in drill_body().items() if k != "validation_queries"}, "validation_queries"),
        (drill_body(validation_passed="perhaps"), "validation_passed"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_never_a_500(api, review, body, field):
    response = api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", body)
    assert response.status_code == 422, response.content
    payload = response.json()
    assert payload["error"] == "invalid_request"
    assert field in payload["fields"], payload


def test_not_a_number_is_refused(api, review):
    raw = '{"scenario": "s", "environment": "e", "started_at": "2026-01-01T00:00:00Z", "ended_at": '
    raw += '"2026-01-01T01:00:00Z", "throughput_per_s": NaN, "p50_ms": 1, "p95_ms": 2, "p99_ms": 3, '
    raw += '"saturation_point": "x"}'
    response = api.post(f"/api/reviews/{review.pk}/evidence/load-tests", None, raw=raw)
    assert response.status_code == 422
    assert "throughput_per_s" in response.json()["fields"]


def test_a_body_that_is_not_json_is_a_400(api, review):
    response = api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", None, raw="{not json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "bad_request",
        "message": "The request body is not valid JSON.",
        "fields": {},
    }


def test_out_of_range_ids_are_404s_or_422s(api):
    assert api.get(f"/api/reviews/{2**63 - 1}").status_code == 404
    assert api.get(f"/api/reviews/{2**64}").status_code == 422
    assert api.get("/api/reviews/0/gate").status_code == 422
    assert api.get("/api/systems/bad%00slug/reviews").status_code == 422


def test_a_decided_review_refuses_evidence(api, review):
    type(review).objects.filter(pk=review.pk).update(state=ReviewState.DECIDED)
    response = api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body())
    assert response.status_code == 422
    assert "frozen" in response.json()["message"]


def test_the_token_acts_for_its_creator_while_they_may(client, make_token, team, lead, review):
    from reviews.models import Membership, Role

    token, secret = make_token(team, lead)
    api = Api(client, secret)
    assert api.get("/api/systems").status_code == 200
    Membership.objects.filter(user=lead, team=team).update(role=Role.MEMBER)
    refused = api.get("/api/systems")
    assert refused.status_code == 401
    assert "no longer an architect or lead" in refused.json()["message"]


# --- Listing evidence with its freshness


def test_evidence_lists_say_which_items_are_stale(api, review, architect):
    attach_and_score(review, "observability", architect, 2)
    from evidence import services as evidence_services
    from tests.factories import category

    evidence_services.add_link(
        review=review,
        category=category(review, "backup"),
        title="old drill log",
        url="https://ci.example.com/drill",
        actor=architect,
    )
    old = api.post(
        f"/api/reviews/{review.pk}/evidence/restore-drills",
        drill_body(
            requested_recovery_point=(timezone.now() - timedelta(days=120)).isoformat(),
            actual_recovery_point=(timezone.now() - timedelta(days=120, minutes=1)).isoformat(),
            started_at=(timezone.now() - timedelta(days=100, hours=2)).isoformat(),
            ended_at=(timezone.now() - timedelta(days=100)).isoformat(),
        ),
    ).json()
    assert old["stale"] is True and old["age_days"] == 100

    stale = api.get(f"/api/reviews/{review.pk}/evidence", stale="true").json()
    assert [e["id"] for e in stale["items"]] == [old["id"]]
    fresh = api.get(f"/api/reviews/{review.pk}/evidence", stale="false").json()
    assert old["id"] not in [e["id"] for e in fresh["items"]] and fresh["count"] == 2
    backup = api.get(f"/api/reviews/{review.pk}/evidence", category="backup").json()
    assert backup["count"] == 2


def test_listing_evidence_takes_a_fixed_number_of_queries(
    api, review, architect, django_assert_max_num_queries
):
    for n in range(3):
        api.post(f"/api/reviews/{review.pk}/evidence/restore-drills", drill_body(title=f"drill {n}"))
        api.post(f"/api/reviews/{review.pk}/evidence/load-tests", load_test_body(title=f"load {n}"))
    with django_assert_max_num_queries(8):
        response = api.get(f"/api/reviews/{review.pk}/evidence")
    assert response.json()["count"] == 6


# --- The gate a deploy pipeline stops on


def test_enforce_answers_409_when_the_gate_did_not_pass(api, review):
    blocked = api.get("/api/systems/ledger/gate", enforce="true")
    assert blocked.status_code == 409
    assert blocked.json()["outcome"] in {"BLOCKED", "INCOMPLETE"}
    assert api.get("/api/systems/ledger/gate").status_code == 200


def test_the_system_gate_answers_for_every_open_review(api, review, architect, system):
    newer = ReviewFactory(system=system, created_by=architect, release_scope="Ledger 3.1")
    gate = api.get("/api/systems/ledger/gate").json()
    assert gate["review_id"] == newer.pk  # both not yet decidable: the newest is the one shown
    assert gate["answers_for"] == "system"
    assert {r["review_id"] for r in gate["reviews"]} == {review.pk, newer.pk}
    empty = SystemFactory(team=system.team, slug="empty")
    response = api.get(f"/api/systems/{empty.slug}/gate")
    assert response.status_code == 404
    assert "has no review yet" in response.json()["message"]


def test_stale_evidence_is_a_reason_in_the_api_gate(api, review, architect):
    score_everything(review, architect, score=2)
    Evidence.objects.filter(review=review, category__code="backup").update(
        kind=EvidenceKind.RESTORE_DRILL, observed_at=timezone.now() - timedelta(days=91)
    )
    gate = api.get(f"/api/reviews/{review.pk}/gate").json()
    assert gate["outcome"] == "BLOCKED"
    assert any("only evidence is stale" in b for b in gate["blockers"])
    Evidence.objects.filter(review=review, category__code="capacity").update(
        kind=EvidenceKind.LOAD_TEST, observed_at=timezone.now() - timedelta(days=181)
    )
    notes = api.get(f"/api/reviews/{review.pk}/gate").json()["notes"]
    assert [n["rule"] for n in notes] == ["stale:capacity"]


# --- Probe runs


@pytest.fixture
def target(system, architect):
    from probes import services as probe_services

    return probe_services.create_target(
        system=system, name="primary", dsn="postgresql://probe:pw@127.0.0.1:1/none", actor=architect
    )


def test_a_probe_run_is_queued_for_the_review_and_read_back(api, review, target, monkeypatch):
    from probes import tasks

    monkeypatch.setattr(tasks.run_probe_run, "delay", lambda run_id: None)
    listed = api.get("/api/probe-targets").json()
    assert [(t["id"], t["name"]) for t in listed] == [(target.pk, "primary")]
    assert "dsn" not in str(listed)

    response = api.post(f"/api/probe-targets/{target.pk}/runs", {"review_id": review.pk}, key="probe-1")
    assert response.status_code == 202, response.json()
    run = ProbeRun.objects.get()
    assert (response.json()["id"], response.json()["state"], run.review) == (run.pk, "queued", review)

    ProbeResult.objects.create(
        run=run, probe_id="security.superuser-roles", title="Superuser roles", category="security",
        severity="P0", status="fail", summary="1 application role is a superuser",
    )  # fmt: skip
    ProbeRun.objects.filter(pk=run.pk).update(state=RunState.DONE, finished_at=timezone.now())
    read = api.get(f"/api/probe-runs/{run.pk}").json()
    assert read["finished"] is True
    assert read["counts"] == {"fail": 1}
    assert read["results"][0]["probe_id"] == "security.superuser-roles"


def test_a_second_run_while_one_is_queued_is_refused(api, target, monkeypatch):
    from probes import tasks

    monkeypatch.setattr(tasks.run_probe_run, "delay", lambda run_id: None)
    assert api.post(f"/api/probe-targets/{target.pk}/runs", None, raw="").status_code == 202  # no body needed
    again = api.post(f"/api/probe-targets/{target.pk}/runs", {})
    assert again.status_code == 422
    assert "already queued" in again.json()["message"]


def test_another_teams_target_and_run_are_404s(other_api, target, architect):
    assert other_api.post(f"/api/probe-targets/{target.pk}/runs", {}).status_code == 404
    run = ProbeRun.objects.create(target=target, state=RunState.DONE)
    assert other_api.get(f"/api/probe-runs/{run.pk}").status_code == 404
    assert other_api.get("/api/probe-targets").json() == []
    assert ProbeTarget.objects.count() == 1


def test_the_gate_takes_a_fixed_number_of_queries(api, review, architect, django_assert_max_num_queries):
    score_everything(review, architect, score=2)
    api.get(f"/api/reviews/{review.pk}/gate")  # the token's last use is written once a minute at most
    with django_assert_max_num_queries(13):  # + critical items, their answers, judged evidence
        assert api.get(f"/api/reviews/{review.pk}/gate").json()["outcome"] == "APPROVED"


def test_a_method_an_endpoint_lacks_is_a_json_405(api, review):
    response = api.client.delete("/api/systems", headers=api.headers())
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"
    assert response["Allow"] == "GET"
    assert api.get("/api/").json()["error"] == "not_found"
