"""The records a review holds beyond checklists, through the API: one POST per kind declared in
evidence.kinds (its payload schema built from the declaration) and one for runbooks with their whole
template; what each stores, audits and answers, retries, bad payloads, other teams' and read-only
tokens, the evidence list's `kind` filter, and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api import records
from api.models import IdempotencyRecord
from evidence import kinds, typed
from evidence.kinds import spec as s
from evidence.kinds.runbooks import REQUIRED_RUNBOOKS, RUNBOOK_TEMPLATE_FIELDS
from evidence.models import Evidence, Record, Runbook
from reviews.models import AuditEvent, Finding
from tests.evidence.declared_samples import SAMPLES

from .conftest import Api

pytestmark = pytest.mark.django_db

KINDS = sorted(kinds.KINDS)
# The documented paths (README, the API's description): the kind, dashed, plural.
PATHS = {
    "invariant": "invariants",
    "write_path": "write-paths",
    "concurrency_test": "concurrency-tests",
    "forecast": "forecasts",
    "migration_plan": "migration-plans",
    "recovery_objectives": "recovery-objectives",
    "signal": "signals",
    "dashboard": "dashboards",
    "alert_rule": "alert-rules",
    "privacy_field": "privacy-fields",
}


def url(review, kind: str) -> str:
    return f"/api/reviews/{review.pk}/evidence/{PATHS[kind]}"


def hard_required(spec: kinds.Spec) -> set[str]:
    return {f.name for f in spec.fields if f.required and not f.wanted}


def wrong_value(f: kinds.Field):
    """A value of the wrong shape for each type of field."""
    return {
        s.LINE: 42,
        s.TEXT: ["not", "text"],
        s.URL: "ftp://files.example.com/x",
        s.CHOICE: "no-such-choice",
        s.MULTI: ["no-such-choice"],
        s.YESNO: "maybe",
        s.INT: -1,
        s.DATE: "the 3rd of May",
    }[f.type]


@pytest.fixture
def reader(client, make_token, team, architect):
    return Api(client, make_token(team, architect, scopes=["read"], name="reader")[1])


def test_every_declared_kind_has_its_documented_path():
    assert set(PATHS) == set(kinds.KINDS)
    assert {d.spec.kind: d.path for d in records.DECLARED} == PATHS


# --- Each kind: stored, audited, judged; retried; refused; other teams; read-only tokens


@pytest.mark.parametrize("kind", KINDS)
def test_a_complete_record_is_stored_audited_and_answered_with_its_verdict(api, review, kind):
    spec = kinds.KINDS[kind]
    body = {**SAMPLES[kind], "url": "https://wiki.example.com/ledger/inventory"}

    response = api.post(url(review, kind), body, key=f"deploy-7-{kind}")

    assert response.status_code == 201, response.json()
    out = response.json()
    item = Evidence.objects.get()
    stored = Record.objects.get(evidence=item).data
    assert stored == spec.clean(SAMPLES[kind])[0]
    assert (out["id"], out["kind"], out["category"]) == (item.pk, kind, spec.category)
    assert out["url"] == "https://wiki.example.com/ledger/inventory"
    assert out["title"] == spec.title(stored)
    assert out["record"] == {
        "kind": kind,
        "data": stored,
        "verdict": "complete",
        "why": "",
        "summary": spec.summary(stored),
    }
    via_api = AuditEvent.objects.get(action="api.evidence.add", object_id=str(item.pk))
    assert via_api.after["idempotency_key"] == f"deploy-7-{kind}"
    assert via_api.after["token"].startswith("rdy_")
    assert AuditEvent.objects.get(action="evidence.record", object_id=str(item.pk)).after["verdict"] == (
        "complete"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_with_the_same_key_gets_the_first_answer_and_stores_once(api, review, kind):
    first = api.post(url(review, kind), SAMPLES[kind], key=f"retry-{kind}")
    again = api.post(url(review, kind), SAMPLES[kind], key=f"retry-{kind}")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert (first["Idempotent-Replayed"], again["Idempotent-Replayed"]) == ("false", "true")
    assert Evidence.objects.count() == Record.objects.count() == 1
    assert AuditEvent.objects.filter(action="api.evidence.add").count() == 1
    assert AuditEvent.objects.filter(action="evidence.record").count() == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_payload_wrong_in_every_field_is_refused_with_every_error_and_stores_nothing(api, review, kind):
    spec = kinds.KINDS[kind]
    body = {f.name: wrong_value(f) for f in spec.fields} | {"url": 7, "colour": "blue"}

    response = api.post(url(review, kind), body, key=f"bad-{kind}")

    assert response.status_code == 422
    error = response.json()
    assert error["error"] == "invalid_request"
    # An item of a list is named by its place in it: restore_targets.0
    assert {name.split(".")[0] for name in error["fields"]} == {*spec.names, "url", "colour"}
    assert all(error["fields"][name] for name in error["fields"])
    assert not Evidence.objects.exists()
    assert not IdempotencyRecord.objects.exists()  # a refused request may be retried with its key


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_payload_names_every_required_field(api, review, kind):
    response = api.post(url(review, kind), {})

    assert response.status_code == 422
    assert set(response.json()["fields"]) == hard_required(kinds.KINDS[kind])
    assert not Evidence.objects.exists()


def required_texts(spec: kinds.Spec) -> set[str]:
    return {
        f.name for f in spec.fields if f.name in hard_required(spec) and f.type in (s.LINE, s.TEXT, s.URL)
    }


@pytest.mark.parametrize("kind", [kind for kind in KINDS if required_texts(kinds.KINDS[kind])])
def test_blank_required_values_are_refused_by_name(api, review, kind):
    texts = required_texts(kinds.KINDS[kind])
    body = {**SAMPLES[kind], **dict.fromkeys(texts, "  ")}

    response = api.post(url(review, kind), body)

    assert response.status_code == 422
    assert response.json()["fields"] == {name: ["Required."] for name in texts}
    assert not Evidence.objects.exists()


def test_a_link_that_is_not_http_is_refused_in_the_services_words(api, review):
    body = {**SAMPLES["dashboard"], "link": "grafana/d/locks", "url": "file:///etc/passwd"}

    response = api.post(url(review, "dashboard"), body)

    assert response.status_code == 422
    message = ["Give a full http:// or https:// address."]
    assert response.json()["fields"] == {"link": message, "url": ["Give a full http:// or https:// address."]}
    assert not Evidence.objects.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_another_teams_token_gets_a_404(other_api, review, kind):
    response = other_api.post(url(review, kind), SAMPLES[kind], key="k")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert not Evidence.objects.exists()


@pytest.mark.parametrize("kind", KINDS)
def test_a_read_only_token_gets_a_403(reader, review, kind):
    response = reader.post(url(review, kind), SAMPLES[kind], key="k")

    assert response.status_code == 403
    assert "write:evidence" in response.json()["message"]
    assert not Evidence.objects.exists()


# --- Verdicts and checks the service makes


def test_a_wanted_field_left_out_keeps_the_record_as_incomplete(api, review):
    body = {k: v for k, v in SAMPLES["invariant"].items() if k != "test"}

    response = api.post(url(review, "invariant"), body)

    assert response.status_code == 201
    record = response.json()["record"]
    assert (record["verdict"], record["why"]) == ("incomplete", "does not say test")
    assert record["data"]["test"] == ""


def test_a_failing_record_says_why_and_opens_its_finding(api, review):
    body = {**SAMPLES["concurrency_test"], "result": "failed"}

    response = api.post(url(review, "concurrency_test"), body)

    assert response.status_code == 201
    record = response.json()["record"]
    assert record["verdict"] == "failing" and "did not hold" in record["why"]
    finding = Finding.objects.get(evidence_id=response.json()["id"])
    assert finding.level == "P1"


def test_a_check_across_fields_is_refused_by_the_service_with_its_field(api, review):
    body = {"scenario": "other", "result": "passed"}

    response = api.post(url(review, "concurrency_test"), body)

    assert response.status_code == 422
    assert response.json()["error"] == "refused"
    assert set(response.json()["fields"]) == {"description"}
    assert not Evidence.objects.exists()


def test_a_record_from_the_future_is_refused_on_its_date_field(api, review):
    tomorrow = (timezone.localdate() + timedelta(days=2)).isoformat()

    response = api.post(url(review, "concurrency_test"), {**SAMPLES["concurrency_test"], "ran_on": tomorrow})

    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"ran_on"}


def test_lists_of_choices_are_checked_and_each_named_once(api, review):
    path = url(review, "recovery_objectives")
    body = SAMPLES["recovery_objectives"]

    twice = api.post(path, {**body, "restore_targets": ["table", "table"]})
    none = api.post(path, {**body, "restore_targets": []})

    assert twice.status_code == none.status_code == 422
    assert "at most once" in twice.json()["fields"]["restore_targets"][0]
    assert "restore_targets" in none.json()["fields"]
    assert not Evidence.objects.exists()


def test_optional_values_may_be_null_or_left_out(api, review):
    body = {**SAMPLES["privacy_field"], "legal_hold": None, "export_policy": None, "url": None}
    del body["downstream"]

    response = api.post(url(review, "privacy_field"), body)

    assert response.status_code == 201, response.json()
    data = response.json()["record"]["data"]
    assert (data["legal_hold"], data["export_policy"], data["downstream"]) == ("", "", "")


# --- Runbooks: the whole template


def runbook_body(**overrides) -> dict:
    return {
        "name": "Lock storm",
        "covers": "lock_storm",
        "severity": "SEV2",
        "symptoms": "Write latency up, blocked sessions climbing",
        "dashboards": "https://grafana.example.com/d/locks",
        "diagnostic_queries": "SELECT * FROM pg_stat_activity WHERE wait_event_type = 'Lock';",
        "immediate_safe_actions": "Pause the batch importer",
        "actions_requiring_approval": "Terminating a backend: the incident commander",
        "actions_forbidden": "Restarting the primary",
        "rollback_recovery": "Resume the importer once blocked sessions are under 5",
        "communication": "Status page within 15 minutes",
        "evidence_to_capture": "pg_locks snapshot, the blocking query",
        "postmortem_questions": "Why did the migration take an ACCESS EXCLUSIVE lock?",
        "owner": "dba-team",
        "last_tested": (timezone.localdate() - timedelta(days=10)).isoformat(),
        "url": "https://wiki.example.com/runbooks/lock-storm",
        **overrides,
    }


def test_the_runbook_schema_holds_the_whole_template():
    template = {"name", "severity", "symptoms", "immediate_safe_actions", "actions_forbidden", "owner"}
    template |= {"last_tested", *RUNBOOK_TEMPLATE_FIELDS}
    assert len(template) == 14
    assert set(records.RunbookIn.model_fields) == template | {"covers", "url"}


def test_a_runbook_is_stored_with_its_template_audited_and_read_back(api, review):
    body = runbook_body()

    response = api.post(f"/api/reviews/{review.pk}/evidence/runbooks", body, key="runbook-1")

    assert response.status_code == 201, response.json()
    out = response.json()
    book = Runbook.objects.get()
    assert out["kind"] == "runbook" and out["category"] == "runbooks" and out["record"] is None
    assert out["runbook"] == {
        **{k: v for k, v in body.items() if k != "url"},
        "covers_name": "Lock storm or deadlock spike",
    }
    assert out["url"] == body["url"]
    for name, value in body.items():
        if name not in ("url", "last_tested"):
            assert getattr(book, name) == value, name
    assert book.last_tested.isoformat() == body["last_tested"]
    assert AuditEvent.objects.filter(action="api.evidence.add", object_id=str(book.evidence_id)).exists()
    assert AuditEvent.objects.filter(action="evidence.add", object_id=str(book.evidence_id)).exists()


def test_a_runbook_needs_only_a_name_and_an_owner(api, review):
    response = api.post(f"/api/reviews/{review.pk}/evidence/runbooks", {"name": "Vacuum", "owner": "dba"})

    assert response.status_code == 201, response.json()
    assert response.json()["runbook"]["covers"] == "" and response.json()["runbook"]["last_tested"] is None


def test_a_runbook_retry_with_the_same_key_stores_once(api, review):
    path = f"/api/reviews/{review.pk}/evidence/runbooks"
    first = api.post(path, runbook_body(), key="rb")
    again = api.post(path, runbook_body(), key="rb")

    assert again.status_code == 201 and again.content == first.content
    assert Runbook.objects.count() == 1


def test_a_bad_runbook_is_refused_with_every_field_error(api, review):
    body = runbook_body(
        name=" ", owner="", covers="coffee_machine", severity="x" * 41, last_tested="soon", rollback="typo"
    )

    response = api.post(f"/api/reviews/{review.pk}/evidence/runbooks", body)

    assert response.status_code == 422
    assert set(response.json()["fields"]) == {
        "name",
        "owner",
        "covers",
        "severity",
        "last_tested",
        "rollback",
    }
    assert not Evidence.objects.exists()


def test_a_runbook_last_tested_in_the_future_is_refused_by_the_service(api, review):
    later = (timezone.localdate() + timedelta(days=3)).isoformat()

    response = api.post(f"/api/reviews/{review.pk}/evidence/runbooks", runbook_body(last_tested=later))

    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"last_tested"}


def test_runbooks_for_another_team_or_a_read_only_token_are_refused(other_api, reader, review):
    path = f"/api/reviews/{review.pk}/evidence/runbooks"

    assert other_api.post(path, runbook_body()).status_code == 404
    assert reader.post(path, runbook_body()).status_code == 403
    assert not Evidence.objects.exists()


# --- Reading: the record and the runbook in the list, filtered by kind


def test_the_evidence_list_shows_records_and_filters_by_kind(api, review, architect):
    for kind in KINDS:
        typed.add_record(review=review, actor=architect, kind=kind, **SAMPLES[kind])
    api.post(f"/api/reviews/{review.pk}/evidence/runbooks", runbook_body())

    everything = api.get(f"/api/reviews/{review.pk}/evidence")
    invariants = api.get(f"/api/reviews/{review.pk}/evidence", kind="invariant")
    runbooks = api.get(f"/api/reviews/{review.pk}/evidence", kind="runbook")

    assert everything.json()["count"] == len(KINDS) + 1
    by_kind = {e["kind"]: e for e in everything.json()["items"]}
    for kind in KINDS:
        assert by_kind[kind]["record"]["data"] == kinds.KINDS[kind].clean(SAMPLES[kind])[0]
    assert [e["kind"] for e in invariants.json()["items"]] == ["invariant"]
    assert invariants.json()["count"] == 1
    assert [e["runbook"]["covers"] for e in runbooks.json()["items"]] == ["lock_storm"]


def test_the_evidence_list_reads_records_in_a_fixed_number_of_queries(
    api, review, architect, django_assert_max_num_queries
):
    for kind in KINDS:
        typed.add_record(review=review, actor=architect, kind=kind, **SAMPLES[kind])
    for _ in range(3):
        api.post(f"/api/reviews/{review.pk}/evidence/runbooks", runbook_body())
        typed.add_record(review=review, actor=architect, kind="invariant", **SAMPLES["invariant"])

    with django_assert_max_num_queries(6):  # token, its creator, its last use, the review, count, page
        response = api.get(f"/api/reviews/{review.pk}/evidence", limit=100)

    assert response.json()["count"] == len(KINDS) + 6


def test_an_unknown_kind_in_the_filter_is_a_422(api, review):
    response = api.get(f"/api/reviews/{review.pk}/evidence", kind="horoscope")

    assert response.status_code == 422
    assert "kind" in response.json()["fields"]


# --- The OpenAPI document


@pytest.fixture
def openapi(api):
    return api.get("/api/openapi.json").json()


def test_the_openapi_document_lists_each_kind_with_its_schema_and_descriptions(openapi):
    components = openapi["components"]["schemas"]
    for kind in KINDS:
        spec = kinds.KINDS[kind]
        operation = openapi["paths"][f"/api/reviews/{{review_id}}/evidence/{PATHS[kind]}"]["post"]
        assert operation["summary"] == spec.add_title
        assert spec.description in operation["description"]
        assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
        assert {"201", "403", "404", "422"} <= set(operation["responses"])
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        name = records.schema_name(spec)
        assert body == {"$ref": f"#/components/schemas/{name}"}
        schema = components[name]
        assert schema["description"] == spec.description
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == {*spec.names, "url"}
        assert set(schema.get("required", [])) == hard_required(spec)
        for f in spec.fields:
            assert schema["properties"][f.name]["description"].startswith(f.label), (kind, f.name)
            assert schema["properties"][f.name]["title"] == f.label


def test_the_openapi_document_gives_choices_bounds_and_lengths(openapi):
    components = openapi["components"]["schemas"]
    invariant = components["InvariantIn"]["properties"]
    assert invariant["rule_type"]["enum"] == [
        code for code, _ in kinds.KINDS["invariant"].by_name["rule_type"].choices
    ]
    assert invariant["in_database"]["enum"] == ["yes", "no"]
    assert invariant["invariant"]["maxLength"] == 5000
    objectives = components["RecoveryObjectivesIn"]["properties"]
    assert objectives["rpo_minutes"]["minimum"] == 0 and objectives["rpo_minutes"]["maximum"] == 10_000_000
    assert objectives["restore_targets"]["items"]["enum"][0] == "cluster"
    ran_on = components["ConcurrencyTestIn"]["properties"]["ran_on"]["anyOf"][0]
    assert ran_on["format"] == "date"


def test_the_openapi_document_lists_runbooks_and_the_record_output(openapi):
    operation = openapi["paths"]["/api/reviews/{review_id}/evidence/runbooks"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RunbookIn")
    runbook = openapi["components"]["schemas"]["RunbookIn"]
    assert set(runbook["required"]) == {"name", "owner"}
    assert runbook["properties"]["covers"]["anyOf"][0]["enum"] == [code for code, _ in REQUIRED_RUNBOOKS]
    evidence = openapi["components"]["schemas"]["EvidenceOut"]["properties"]
    assert {"record", "runbook"} <= set(evidence)
    record = openapi["components"]["schemas"]["RecordOut"]["properties"]
    assert {"kind", "data", "verdict", "why"} <= set(record)
    listing = openapi["paths"]["/api/reviews/{review_id}/evidence"]["get"]
    assert "kind" in [p["name"] for p in listing["parameters"]]
    for path in PATHS.values():
        assert f"`{path}`" in openapi["info"]["description"]
