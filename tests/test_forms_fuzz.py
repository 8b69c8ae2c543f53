"""Hypothesis drives the forms tests/reviews/test_bad_input.py does not: the meeting's inline forms, the
exception edit, the decision forms, the probe target and invariant forms and the verify upload. Whatever
is posted: no server error, and either an audited change or no change at all (no write without its audit
event, no half-written change)."""

import json
import string
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from evidence.models import Evidence
from probes import services as probe_services
from probes.models import InvariantCheck, ProbeRun, ProbeTarget
from reviews import services
from reviews.models import (
    AuditEvent,
    CategoryScore,
    Claim,
    Decision,
    Finding,
    Level,
    Review,
    RiskException,
    System,
)

from .factories import category

pytestmark = pytest.mark.django_db

# An explicit alphabet keeps hypothesis from caching Unicode tables in the working tree.
PLAIN = string.ascii_letters + string.digits + string.punctuation + " éßø漢字😀"
ALPHABET = string.printable + "éßø漢字😀\u00a0\u2028\u202e\x00\x7f"
texts = st.text(alphabet=ALPHABET, max_size=300)
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20), st.floats(allow_nan=True, allow_infinity=True)
).map(str)
dates = st.one_of(
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["2026-02-30", "0000-00-00", "9999-12-31", "31/12/2026", "tomorrow"]),
)
anything = st.one_of(texts, numbers, dates, st.just(""))
titles = st.text(alphabet=PLAIN, min_size=1, max_size=120).filter(str.strip)
future_dates = st.integers(min_value=-5, max_value=400).map(
    lambda n: str(timezone.localdate() + timedelta(days=n))
)
future_datetimes = st.integers(min_value=-5, max_value=400).map(
    lambda n: (timezone.localtime() + timedelta(days=n)).strftime("%Y-%m-%dT%H:%M")
)
booleans = st.sampled_from(["", "on"])
versions = st.sampled_from(["", "0", "1", "2", "3"])


def mostly(valid, garbage=anything):
    """Valid three times in four, so that both the change and the refusal are exercised."""
    return st.integers(min_value=0, max_value=3).flatmap(lambda n: garbage if n == 0 else valid)


fuzz_settings = hypothesis_settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

WATCHED = (System, Review, Finding, RiskException, CategoryScore, Claim, Evidence, Decision)
WATCHED += (ProbeTarget, InvariantCheck, ProbeRun)


def snapshot() -> list:
    return [list(model.objects.order_by("pk").values()) for model in WATCHED]


@pytest.fixture
def w(team, system, review, architect, lead, member, outsider):
    finding = services.add_finding(
        review=review, category=category(review, "backup"), title="No drill", level=Level.P1, actor=architect
    )
    exception = services.request_exception(
        finding=finding,
        justification="Drill booked",
        compensating_control="Snapshots checked daily",
        expires_at=timezone.now() + timedelta(days=20),
        actor=architect,
    )
    target = probe_services.create_target(
        system=system, name="primary", dsn="postgresql://probe:pw@127.0.0.1:1/ledger", actor=architect
    )
    for cat in review.catalogue.categories.all():  # decidable: a decision may be recorded (blocked)
        services.set_score(review=review, category=cat, score=0, actor=architect)
    return SimpleNamespace(
        review=review,
        system=system,
        finding=finding,
        exception=exception,
        target=target,
        architect=architect,
        lead=lead,
        member=member,
        outsider=outsider,
    )


def post_and_check(client, url: str, payload: dict, *, htmx: bool = False) -> None:
    before, events = snapshot(), AuditEvent.objects.count()
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(url, payload, **headers)
    assert response.status_code < 500, (url, payload)
    assert response.status_code in (200, 204, 302, 400, 404, 422), (response.status_code, payload)
    if AuditEvent.objects.count() == events:
        assert snapshot() == before, f"a write without its audit event: {payload!r}"


def owners(w):
    return mostly(st.sampled_from(["", str(w.member.pk)]), st.one_of(anything, st.just(str(w.outsider.pk))))


@fuzz_settings
@given(data=st.data())
def test_meeting_scope_and_next_review(client, w, data):
    client.force_login(w.architect)
    scope = {
        "release_scope": data.draw(mostly(titles)),
        "schema_changing": data.draw(mostly(booleans)),
        "production_traffic": data.draw(mostly(booleans)),
        "version": data.draw(mostly(versions)),
    }
    post_and_check(client, reverse("meeting_scope", args=[w.review.pk]), scope, htmx=data.draw(st.booleans()))
    nxt = {"next_review_date": data.draw(mostly(future_dates)), "version": data.draw(mostly(versions))}
    post_and_check(
        client, reverse("meeting_next_review", args=[w.review.pk]), nxt, htmx=data.draw(st.booleans())
    )


@fuzz_settings
@given(data=st.data())
def test_meeting_score_and_quick_finding(client, w, data):
    client.force_login(w.member)
    code = data.draw(mostly(st.sampled_from(["backup", "security"]), st.just("nope")))
    score = {
        "score": data.draw(
            mostly(st.sampled_from(["0", "1"]), st.one_of(anything, st.sampled_from(["4", "-1"])))
        ),
        "owner": data.draw(owners(w)),
        "notes": data.draw(mostly(st.text(alphabet=PLAIN, max_size=200), texts)),
        "version": data.draw(mostly(versions)),
    }
    post_and_check(client, reverse("meeting_score", args=[w.review.pk, code]), score, htmx=True)
    finding = {
        "title": data.draw(mostly(titles)),
        "level": data.draw(mostly(st.sampled_from(Level.values))),
        "owner": data.draw(owners(w)),
        "due_date": data.draw(mostly(st.one_of(st.just(""), future_dates))),
    }
    post_and_check(client, reverse("meeting_add_finding", args=[w.review.pk, code]), finding, htmx=True)


@fuzz_settings
@given(data=st.data())
def test_meeting_triage_and_exception(client, w, data):
    client.force_login(w.member)
    triage = {
        "level": data.draw(mostly(st.sampled_from(Level.values))),
        "status": data.draw(mostly(st.sampled_from(["open", "resolved", "accepted"]))),
        "owner": data.draw(owners(w)),
        "due_date": data.draw(mostly(st.one_of(st.just(""), future_dates))),
        "version": data.draw(mostly(versions)),
    }
    post_and_check(
        client, reverse("meeting_triage", args=[w.finding.pk]), triage, htmx=data.draw(st.booleans())
    )
    ask = {
        "justification": data.draw(mostly(titles, texts)),
        "compensating_control": data.draw(mostly(titles, texts)),
        "expires_at": data.draw(mostly(future_datetimes)),
    }
    post_and_check(
        client, reverse("meeting_exception", args=[w.finding.pk]), ask, htmx=data.draw(st.booleans())
    )


@fuzz_settings
@given(data=st.data())
def test_exception_edit(client, w, data):
    client.force_login(w.member)
    edit = {
        "justification": data.draw(mostly(titles, texts)),
        "compensating_control": data.draw(mostly(titles, texts)),
        "expires_at": data.draw(mostly(future_datetimes)),
        "version": data.draw(mostly(versions)),
    }
    post_and_check(client, reverse("exception_edit", args=[w.exception.pk]), edit)


@fuzz_settings
@given(data=st.data())
def test_decision_forms(client, w, data):
    client.force_login(w.architect)
    decision = {
        "next_review": data.draw(mostly(future_dates)),
        "notes": data.draw(mostly(st.text(alphabet=PLAIN, max_size=200), texts)),
    }
    name = data.draw(st.sampled_from(["decision_create", "meeting_decide"]))
    post_and_check(client, reverse(name, args=[w.review.pk]), decision, htmx=data.draw(st.booleans()))
    assert Decision.objects.filter(review=w.review).count() <= 1


DSNS = st.sampled_from(
    [
        "postgresql://probe:pw@127.0.0.1:1/ledger",
        "host=127.0.0.1 port=1 dbname=ledger user=probe",
        "postgresql://probe@host:port/db",
        "",
    ]
)


@fuzz_settings
@given(data=st.data())
def test_probe_target_forms(client, w, data):
    client.force_login(w.architect)  # targets are registered by architects and leads
    target = {
        "name": data.draw(mostly(titles)),
        "environment": data.draw(mostly(st.sampled_from(["production", "staging"]))),
        "dsn": data.draw(mostly(DSNS, texts)),
        "params": data.draw(
            mostly(st.sampled_from(["", "{}", json.dumps({"app_roles": ["app"]})]), st.one_of(texts, numbers))
        ),
        "schedule_hours": data.draw(mostly(st.sampled_from(["", "6", "24"]))),
    }
    name, args = data.draw(
        st.sampled_from([("probe_target_create", [w.system.slug]), ("probe_target_edit", [w.target.pk])])
    )
    post_and_check(client, reverse(name, args=args), target)


@fuzz_settings
@given(data=st.data())
def test_invariant_form(client, w, data):
    client.force_login(w.architect)
    check = {
        "name": data.draw(mostly(titles)),
        "sql": data.draw(
            mostly(
                st.sampled_from(["SELECT id FROM ledger_entry WHERE false", "SELECT 1 WHERE false"]),
                st.one_of(texts, st.sampled_from(["DELETE FROM ledger_entry", "SELECT 1; DROP TABLE x"])),
            )
        ),
        "category": data.draw(mostly(st.sampled_from(["data-model", "security"]))),
        "severity": data.draw(mostly(st.sampled_from(Level.values))),
        "row_cap": data.draw(mostly(st.sampled_from(["1", "100", "1000"]), st.one_of(numbers, texts))),
    }
    post_and_check(client, reverse("invariant_create", args=[w.target.pk]), check)


@fuzz_settings
@given(data=st.data())
def test_verify_upload(client, w, data):
    client.force_login(w.architect)
    payload = {"decision": data.draw(mostly(st.sampled_from(["", "1", "999999"]), anything))}
    if data.draw(st.booleans()):
        content = data.draw(
            st.one_of(
                st.binary(max_size=400),
                texts.map(str.encode),
                st.just(b'{"digest": "00", "record": {}}'),
                st.just(b"[1, 2, 3]"),
                st.just(b'{"record": {"decision_id": "x"}}'),
            )
        )
        payload["file"] = SimpleUploadedFile("record.json", content, content_type="application/json")
    before, events = snapshot(), AuditEvent.objects.count()
    response = client.post(reverse("verify_decision"), payload)
    assert response.status_code in (200, 404), (response.status_code, payload)
    assert snapshot() == before and AuditEvent.objects.count() == events
