"""The measured kinds (restore drills, runbooks, runbook tests, migration rehearsals, load tests, access
patterns, derived stores, capacity envelopes) through the API: their payload schemas are built from the
same descriptions as the ten inventories' (evidence.kinds.MEASURED), under the paths and operation names
pipelines already call; what each accepts, refuses and stores."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from api import records
from evidence import kinds
from evidence.kinds import spec as s
from evidence.models import Evidence
from tests.evidence.test_measured_kinds import SAMPLES

pytestmark = pytest.mark.django_db

KINDS = sorted(kinds.MEASURED)
# The paths pipelines call (unchanged since the schemas were written by hand).
PATHS = {
    "restore_drill": "restore-drills",
    "runbook": "runbooks",
    "runbook_test": "runbook-tests",
    "migration_rehearsal": "migration-rehearsals",
    "load_test": "load-tests",
    "access_pattern": "access-patterns",
    "derived_store": "derived-stores",
    "capacity_envelope": "capacity-envelopes",
}
SCHEMA_NAMES = {
    "restore_drill": "RestoreDrillIn",
    "runbook": "RunbookIn",
    "runbook_test": "RunbookTestIn",
    "migration_rehearsal": "MigrationRehearsalIn",
    "load_test": "LoadTestIn",
    "access_pattern": "AccessPatternIn",
    "derived_store": "DerivedStoreIn",
    "capacity_envelope": "CapacityEnvelopeIn",
}


def url(review, kind: str) -> str:
    return f"/api/reviews/{review.pk}/evidence/{PATHS[kind]}"


def as_json(values: dict) -> dict:
    """A sample as a pipeline sends it: dates and times as ISO text."""
    return {k: v.isoformat() if isinstance(v, date | datetime) else v for k, v in values.items()}


def hard_required(spec: kinds.Spec) -> set[str]:
    return {f.name for f in spec.fields if f.required and not f.wanted}


def test_every_measured_kind_keeps_its_path_operation_and_schema_name():
    assert set(PATHS) == set(kinds.MEASURED)
    assert {d.spec.kind: d.path for d in records.MEASURED} == PATHS
    assert {d.spec.kind: d.name for d in records.MEASURED} == {k: f"post_{k}" for k in PATHS}
    assert {d.spec.kind: d.schema.__name__ for d in records.MEASURED} == SCHEMA_NAMES
    assert records.RunbookIn is records.SCHEMAS["runbook"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_complete_sample_is_stored_as_its_description_reads_it(api, review, architect, kind):
    spec = kinds.MEASURED[kind]
    if kind == "runbook_test":
        api.post(url(review, "runbook"), as_json(SAMPLES["runbook"]))
    body = {**as_json(SAMPLES[kind]), "url": "https://reports.example.com/1"}

    response = api.post(url(review, kind), body, key=f"measured-{kind}")

    assert response.status_code == 201, response.json()
    out = response.json()
    item = Evidence.objects.filter(kind=kind).get()
    assert (out["id"], out["kind"], out["category"], out["url"]) == (
        item.pk,
        kind,
        spec.category,
        "https://reports.example.com/1",
    )
    assert spec.read(getattr(item, spec.model)) == spec.clean(SAMPLES[kind])[0]
    assert out["title"] == spec.title(spec.clean(SAMPLES[kind])[0])
    assert out["record"] is None
    stored = spec.clean(SAMPLES[kind])[0]
    said = {name: value for name, value in out[kind].items() if name in spec.by_name}
    assert said, "the answer says the record's values"
    for name, value in said.items():
        if spec.by_name[name].type == s.DATETIME:
            assert datetime.fromisoformat(value) == datetime.fromisoformat(stored[name]), name
        else:
            assert value == stored[name], name
    listed = api.get(f"/api/reviews/{review.pk}/evidence", kind=kind).json()["items"][0][kind]
    assert set(listed) == set(out[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_field_is_refused_not_dropped(api, review, kind):
    response = api.post(url(review, kind), {**as_json(SAMPLES[kind]), "notes_typo": "x"})

    assert response.status_code == 422
    assert "notes_typo" in response.json()["fields"]
    assert not Evidence.objects.exists()


def test_a_title_is_taken_where_the_kind_takes_one_and_refused_elsewhere(api, review):
    titled = api.post(url(review, "load_test"), {**as_json(SAMPLES["load_test"]), "title": "Black Friday"})
    untitled = api.post(url(review, "restore_drill"), {**as_json(SAMPLES["restore_drill"]), "title": ""})
    refused = api.post(url(review, "derived_store"), {**as_json(SAMPLES["derived_store"]), "title": "x"})

    assert titled.status_code == 201 and titled.json()["title"] == "Black Friday"
    assert untitled.status_code == 201 and untitled.json()["title"] == "Restore drill"
    assert refused.status_code == 422 and "title" in refused.json()["fields"]
    assert Evidence.objects.count() == 2


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [
        ("load_test", "p95_ms", -1),
        ("load_test", "p99_ms", 1e13),
        ("load_test", "error_rate_percent", 100.5),
        ("load_test", "throughput_per_s", "fast"),
        ("capacity_envelope", "current_peak_tps", True),
        ("restore_drill", "rpo_target_minutes", False),
        ("restore_drill", "started_at", "2026-01-01T10:00:00"),  # no offset
        ("restore_drill", "ended_at", "2101-01-01T10:00:00+00:00"),
        ("migration_rehearsal", "validation_passed", "perhaps"),
        ("migration_rehearsal", "validation_passed", None),
        ("runbook_test", "passed", None),
        ("runbook", "covers", "coffee_machine"),
        ("access_pattern", "pagination", "cursor"),
        ("derived_store", "owner", " "),
        ("capacity_envelope", "url", "ftp://files.example.com/envelope"),
    ],
)
def test_a_wrong_value_is_a_422_naming_its_field(api, review, kind, field, value):
    response = api.post(url(review, kind), {**as_json(SAMPLES[kind]), field: value})

    assert response.status_code == 422, response.json()
    assert field in response.json()["fields"]
    assert not Evidence.objects.exists()


def test_a_box_that_may_be_left_out_is_false(api, review):
    body = {k: v for k, v in as_json(SAMPLES["migration_rehearsal"]).items() if k != "rollback_rehearsed"}

    response = api.post(url(review, "migration_rehearsal"), body)

    assert response.status_code == 201, response.json()
    assert Evidence.objects.get().migration_rehearsal.rollback_rehearsed is False


@pytest.fixture
def openapi(api):
    return api.get("/api/openapi.json").json()


def test_the_openapi_document_describes_each_measured_kind_from_its_description(openapi):
    components = openapi["components"]["schemas"]
    for kind in KINDS:
        spec = kinds.MEASURED[kind]
        operation = openapi["paths"][f"/api/reviews/{{review_id}}/evidence/{PATHS[kind]}"]["post"]
        assert operation["summary"] == spec.add_title
        assert spec.description in operation["description"]
        assert f"`{kind}`" in operation["description"]
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{SCHEMA_NAMES[kind]}"}
        schema = components[SCHEMA_NAMES[kind]]
        assert schema["description"] == spec.description
        assert schema["additionalProperties"] is False
        assert set(schema["properties"]) == {*spec.names, "url", *(["title"] if spec.titled else [])}
        assert set(schema.get("required", [])) == hard_required(spec)
        for f in spec.fields:
            assert schema["properties"][f.name]["title"] == f.label, (kind, f.name)
            assert schema["properties"][f.name]["description"].startswith(f.label), (kind, f.name)


def _type(prop: dict) -> dict:
    """The non-null branch of an optional property."""
    return next((p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"), prop)


def test_the_openapi_document_gives_numbers_times_and_boxes_their_types(openapi):
    components = openapi["components"]["schemas"]
    load = components["LoadTestIn"]["properties"]
    assert (load["p95_ms"]["type"], load["p95_ms"]["minimum"]) == ("number", 0)
    assert load["p95_ms"]["maximum"] == s.MAX_MEASUREMENT
    assert _type(load["error_rate_percent"])["maximum"] == 100
    assert _type(load["started_at"])["format"] == "date-time"
    drill = components["RestoreDrillIn"]["properties"]
    assert drill["validation_passed"]["type"] == "boolean"
    assert drill["rpo_target_minutes"]["maximum"] == 10_000_000
    assert _type(drill["next_drill_date"])["format"] == "date"
    assert _type(components["MigrationRehearsalIn"]["properties"]["rollback_rehearsed"])["type"] == "boolean"
