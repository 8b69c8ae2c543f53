"""Bad input on every form: the page says what is wrong, never 500s, and changes nothing."""

import html
import string
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from evidence import services as evidence_services
from evidence.models import AccessPattern, CapacityEnvelope, DerivedStore, Evidence, RestoreDrill, Runbook
from reviews import services
from reviews.models import (
    AuditEvent,
    CatalogueVersion,
    Category,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Claim,
    Decision,
    Finding,
    Level,
    Review,
    RiskException,
    System,
)
from tests.factories import ReviewFactory, SystemFactory, answer_critical, category

from .test_judgement import all_yes_post

pytestmark = pytest.mark.django_db

REQUIRED = "This field is required."
CHOICE = "Select a valid choice."
DATE = "Enter a date as yyyy-mm-dd, for example 2027-03-31."
DATETIME = "Enter a date and time as yyyy-mm-dd hh:mm, for example 2027-03-31 14:30."
NUMBER = "Enter a whole number."
URL = "Enter a valid URL."


# --- helpers ---------------------------------------------------------------------------------------


def day(offset: int) -> str:
    return (timezone.localdate() + timedelta(days=offset)).isoformat()


def minute(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


def upload(name="restore.txt", content=b"restore ok\n"):
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def too_long(n: int) -> str:
    return "x" * (n + 1)


def database_state(media=None) -> dict:
    """Every row a form could write, and the files on disk."""
    models = (
        System,
        Review,
        CategoryScore,
        ChecklistAnswer,
        Finding,
        RiskException,
        Claim,
        Decision,
        Evidence,
        RestoreDrill,
        Runbook,
        AccessPattern,
        DerivedStore,
        CapacityEnvelope,
    )
    state = {m.__name__: list(m.objects.order_by("pk").values()) for m in models}
    state["AuditEvent"] = AuditEvent.objects.count()
    if media is not None:
        state["files"] = sorted(str(p) for p in media.rglob("*") if p.is_file()) if media.exists() else []
    return state


def assert_shows(response, message: str | None):
    """The error is on the page. None: a hidden field's error, which the form partial does not render
    (templates/partials/form.html skips hidden fields' errors), so only the unchanged form comes back."""
    body = response.content.decode()
    if message is not None:
        assert 'role="alert"' in body
        assert html.escape(message) in body, f"{message!r} not on the page"
    else:
        assert "<form" in body


# --- the world the forms act on --------------------------------------------------------------------


@pytest.fixture
def w(review, system, team, other_team, architect, lead, member, auditor, outsider, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    p1 = services.add_finding(
        review=review,
        category=category(review, "security"),
        title="Superuser role",
        level=Level.P1,
        actor=member,
    )
    p3 = services.add_finding(
        review=review, category=category(review, "schema"), title="Naming", level=Level.P3, actor=member
    )
    SystemFactory(team=team, name="Orders", slug="orders")
    elsewhere = ReviewFactory(
        system=SystemFactory(team=team, name="Search", slug="search"), created_by=architect
    )
    foreign_evidence = evidence_services.add_link(
        review=elsewhere,
        category=category(elsewhere, "backup"),
        title="Other review's proof",
        url="https://example.com/o",
        actor=architect,
    )
    draft = CatalogueVersion.objects.create(number=99, label="Draft", published=False)
    foreign = Category.objects.create(
        version=draft, code="foreign-only", number=1, name="Foreign", section="0"
    )
    foreign_item = ChecklistItem.objects.create(category=foreign, code="foreign.item", section="0", text="?")
    return SimpleNamespace(
        review=review,
        system=system,
        team=team,
        other_team=other_team,
        p1=p1,
        p3=p3,
        architect=architect,
        member=member,
        lead=lead,
        outsider=outsider,
        foreign=foreign,
        foreign_item=foreign_item,
        foreign_evidence=foreign_evidence,
        media=settings.MEDIA_ROOT,
        item=ChecklistItem.objects.filter(category=category(review, "backup")).order_by("position").first(),
    )


@pytest.fixture
def complete_review(system, architect):
    """A review whose every category is scored 2 with evidence: the gate can decide it."""
    review = ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="Ledger 3.2")
    for cat in review.catalogue.categories.all():
        evidence_services.add_link(
            review=review,
            category=cat,
            title=f"{cat.code} proof",
            url="https://ci.example.com/1",
            actor=architect,
        )
        services.set_score(review=review, category=cat, score=2, actor=architect)
    return review


@dataclass(frozen=True)
class Form:
    url: object  # w -> url
    data: object  # w -> the valid POST data
    actor: str  # who posts it


FORMS = {
    "system_create": Form(
        lambda w: reverse("system_create"),
        lambda w: {"team": w.team.pk, "name": "Billing", "description": "", "source_of_truth": ""},
        "architect",
    ),
    "system_edit": Form(
        lambda w: reverse("system_edit", args=[w.system.slug]),
        lambda w: {"name": "Ledger Core", "description": "", "source_of_truth": ""},
        "architect",
    ),
    "review_create": Form(
        lambda w: reverse("review_create", args=[w.system.slug]),
        lambda w: {
            "release_scope": "Ledger 3.1",
            "scope_notes": "",
            "production_traffic": "on",
            "next_review_date": "",
        },
        "architect",
    ),
    "review_edit": Form(
        lambda w: reverse("review_edit", args=[w.review.pk]),
        lambda w: {
            "release_scope": w.review.release_scope,  # a review with content keeps its name
            "scope_notes": "",
            "production_traffic": "on",
            "next_review_date": "",
            "version": w.review.version,
        },
        "architect",
    ),
    "score": Form(
        lambda w: reverse("score_edit", args=[w.review.pk, "security"]),
        lambda w: {"score": "1", "owner": "", "notes": "", "version": "0"},
        "member",
    ),
    "finding": Form(
        lambda w: reverse("finding_create", args=[w.review.pk]),
        lambda w: {
            "category": category(w.review, "security").pk,
            "title": "No RLS",
            "description": "",
            "level": "P3",
            "owner": "",
            "due_date": "",
        },
        "member",
    ),
    "finding_edit": Form(
        lambda w: reverse("finding_edit", args=[w.p1.pk]),
        lambda w: {
            "title": "Superuser role",
            "description": "",
            "level": "P1",
            "status": "open",
            "owner": "",
            "due_date": "",
            "version": w.p1.version,
        },
        "member",
    ),
    "claim": Form(
        lambda w: reverse("claim_create", args=[w.review.pk]),
        lambda w: {
            "claim": "Tenant data is isolated",
            "risk": "Leak",
            "control": "RLS",
            "category": "",
            "evidence": "",
            "evidence_note": "RLS test",
        },
        "member",
    ),
    "exception": Form(
        lambda w: reverse("exception_request", args=[w.p1.pk]),
        lambda w: {
            "justification": "Needs a restart window",
            "compensating_control": "Alert on DDL",
            "expires_at": minute(timedelta(days=30)),
        },
        "member",
    ),
    "decision": Form(
        lambda w: reverse("decision_create", args=[w.complete.pk]),
        lambda w: {"next_review": day(90), "notes": "", **all_yes_post()},
        "architect",
    ),
    "link": Form(
        lambda w: reverse("evidence_create", args=[w.review.pk, "link"]),
        lambda w: {
            "category": category(w.review, "backup").pk,
            "title": "Restore job",
            "url": "https://ci.example.com/restore/1",
            "observed_at": "",
            "notes": "",
        },
        "member",
    ),
    "file": Form(
        lambda w: reverse("evidence_create", args=[w.review.pk, "file"]),
        lambda w: {
            "category": category(w.review, "backup").pk,
            "title": "Restore log",
            "file": upload(),
            "observed_at": "",
            "notes": "",
        },
        "member",
    ),
    "restore_drill": Form(
        lambda w: reverse("evidence_create", args=[w.review.pk, "restore_drill"]),
        lambda w: {
            "title": "Restore drill",
            "database": "ledger",
            "backup_source": "pgBackRest",
            "target_environment": "staging",
            "requested_recovery_point": minute(-timedelta(hours=5)),
            "actual_recovery_point": minute(-timedelta(hours=5, minutes=2)),
            "started_at": minute(-timedelta(hours=4)),
            "ended_at": minute(-timedelta(hours=3)),
            "rpo_target_minutes": "15",
            "rto_target_minutes": "120",
            "validation_queries": "select count(*) from journal",
            "validation_passed": "on",
            "validation_result": "",
            "issues_found": "",
            "follow_up_owner": "",
            "next_drill_date": "",
        },
        "member",
    ),
    "runbook": Form(
        lambda w: reverse("evidence_create", args=[w.review.pk, "runbook"]),
        lambda w: {
            "name": "Failover",
            "url": "",
            "severity": "SEV1",
            "symptoms": "",
            "immediate_safe_actions": "",
            "actions_forbidden": "",
            "owner": "mia",
            "last_tested": day(-10),
        },
        "member",
    ),
    "access_pattern": Form(
        lambda w: reverse("evidence_create", args=[w.review.pk, "access_pattern"]),
        lambda w: {
            "query_name": "Case inbox",
            "actor_name": "investigator",
            "frequency": "500/min peak",
            "freshness": "primary after assignment update",
            "predicate": "tenant_id, assigned_user_id, status in active states",
            "sort": "due_at asc, priority desc",
            "pagination": "keyset",
            "expected_p95_ms": "100",
            "index": "(tenant_id, assigned_user_id, status, due_at, priority, id)",
            "plan_evidence": "Index Scan using case_inbox_idx … (actual time=0.04..1.9 rows=50)",
            "url": "",
        },
        "member",
    ),
    "derived_store": Form(
        lambda w: reverse("evidence_create", args=[w.review.pk, "derived_store"]),
        lambda w: {
            "store": "Search index",
            "source": "CDC/outbox",
            "freshness": "< 30 sec",
            "rebuild": "Full reindex",
            "owner": "Platform search",
            "failure_action": "Disable search, fall back to SQL",
            "url": "",
        },
        "member",
    ),
    "capacity_envelope": Form(
        lambda w: reverse("evidence_create", args=[w.review.pk, "capacity_envelope"]),
        lambda w: {
            "current_data_size": "420 GB",
            "projected_data_size": "1.1 TB",
            "current_peak_tps": "1800",
            "projected_peak_tps": "4500",
            "current_p95_ms": "38",
            "target_p95_ms": "100",
            "known_bottleneck": "posting table hot index",
            "saturation_trigger": "CPU above 70% at peak for a week",
            "planned_mitigation": "Partition postings by month",
            "owner": "mia",
            "review_date": day(-3),
            "url": "",
        },
        "member",
    ),
}

# (form, changes to the valid data — a dict, or w -> dict — and the message the page must show).
# A message of None: the error is on a hidden field, which templates/partials/form.html does not show.
CASES = [
    ("system_create", {"team": "", "name": ""}, REQUIRED),
    ("system_create", {"name": "   "}, REQUIRED),
    ("system_create", {"name": too_long(120)}, "Ensure this value has at most 120 characters"),
    ("system_create", {"description": too_long(5000)}, "Ensure this value has at most 5000 characters"),
    ("system_create", {"source_of_truth": too_long(5000)}, "Ensure this value has at most 5000 characters"),
    ("system_create", {"team": "abc"}, CHOICE),
    ("system_create", lambda w: {"team": w.other_team.pk}, CHOICE),
    ("system_create", {"name": "LEDGER"}, "Payments already has a system called 'LEDGER'."),
    ("system_create", {"name": "bad\x00name"}, "Null characters are not allowed."),
    ("system_edit", {"name": ""}, REQUIRED),
    ("system_edit", {"name": too_long(120)}, "Ensure this value has at most 120 characters"),
    ("system_edit", {"name": "orders"}, "Payments already has a system called 'orders'."),
    ("review_create", {"release_scope": ""}, REQUIRED),
    ("review_create", {"release_scope": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("review_create", {"scope_notes": too_long(5000)}, "Ensure this value has at most 5000 characters"),
    ("review_create", {"next_review_date": "abc"}, DATE),
    ("review_create", {"next_review_date": "2031-02-30"}, DATE),
    ("review_create", {"next_review_date": day(-1)}, "The next review date must be in the future."),
    ("review_create", {"next_review_date": day(0)}, "The next review date must be in the future."),
    ("review_edit", {"release_scope": "  "}, REQUIRED),
    ("review_edit", {"release_scope": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("review_edit", {"next_review_date": "abc"}, DATE),
    ("review_edit", {"next_review_date": day(-30)}, "The next review date must be in the future."),
    ("review_edit", {"version": "0"}, "Someone else changed this review since you loaded it."),
    ("review_edit", {"version": "abc"}, None),
    ("score", {"score": ""}, "Choose a score, 0 to 3"),
    ("score", {"score": "7"}, "Select a valid choice. 7 is not one of the available choices."),
    ("score", {"score": "-1"}, "Select a valid choice. -1 is not one of the available choices."),
    ("score", {"score": "abc"}, CHOICE),
    ("score", {"score": "2"}, "no evidence, no readiness"),
    ("score", {"score": "3"}, "no evidence, no readiness"),
    ("score", {"notes": too_long(5000)}, "Ensure this value has at most 5000 characters"),
    ("score", lambda w: {"owner": w.outsider.pk}, CHOICE),
    ("score", {"owner": "abc"}, CHOICE),
    ("score", {"version": "3"}, "Someone else removed this score since you loaded it."),
    ("score", {"version": "abc"}, None),
    ("score", {"version": "-1"}, None),
    ("finding", {"category": "", "title": "", "level": ""}, REQUIRED),
    ("finding", {"title": " \t "}, REQUIRED),
    ("finding", {"title": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("finding", {"description": too_long(10000)}, "Ensure this value has at most 10000 characters"),
    ("finding", {"level": "P5"}, CHOICE),
    ("finding", {"level": "p1"}, CHOICE),
    ("finding", {"level": "P2"}, "A P2 needs an owner"),
    ("finding", {"level": "P2"}, "A P2 needs a due date"),
    ("finding", lambda w: {"level": "P2", "owner": w.member.pk}, "A P2 needs a due date"),
    ("finding", {"level": "P2", "due_date": day(30)}, "A P2 needs an owner"),
    ("finding", {"due_date": "abc"}, DATE),
    ("finding", lambda w: {"owner": w.outsider.pk}, CHOICE),
    ("finding", {"owner": "abc"}, CHOICE),
    ("finding", lambda w: {"category": w.foreign.pk}, CHOICE),
    ("finding", {"category": "abc"}, CHOICE),
    ("finding", {"category": "99999999999999999999"}, CHOICE),
    ("finding_edit", {"title": ""}, REQUIRED),
    ("finding_edit", {"title": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("finding_edit", {"level": "P2"}, "needs a reason"),
    ("finding_edit", {"level": "P2", "note": "Minor after all"}, "A P2 needs an owner"),
    ("finding_edit", {"status": "bogus"}, CHOICE),
    ("finding_edit", {"level": "P0", "status": "accepted"}, "A P0 blocker cannot be accepted"),
    ("finding_edit", {"due_date": "abc"}, DATE),
    ("finding_edit", {"version": "7"}, "Someone else changed this finding since you loaded it."),
    ("claim", {"claim": "", "risk": "", "control": ""}, REQUIRED),
    ("claim", {"claim": "   "}, REQUIRED),
    ("claim", {"claim": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("claim", {"risk": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("claim", {"control": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("claim", {"evidence_note": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("claim", lambda w: {"category": w.foreign.pk}, CHOICE),
    ("claim", lambda w: {"evidence": w.foreign_evidence.pk}, CHOICE),
    ("claim", {"evidence": "abc"}, CHOICE),
    ("exception", {"justification": "", "compensating_control": "", "expires_at": ""}, REQUIRED),
    ("exception", {"justification": "   "}, REQUIRED),
    ("exception", {"justification": too_long(5000)}, "Ensure this value has at most 5000 characters"),
    ("exception", {"expires_at": "abc"}, DATETIME),
    ("exception", {"expires_at": minute(-timedelta(days=1))}, "The expiry must be in the future."),
    ("exception", {"expires_at": minute(timedelta(days=91))}, "An exception lasts at most 90 days."),
    ("exception", {"expires_at": minute(timedelta(days=3650))}, "An exception lasts at most 90 days."),
    ("decision", {"next_review": ""}, REQUIRED),
    ("decision", {"next_review": "abc"}, DATE),
    ("decision", {"next_review": day(-1)}, "The next review date must be in the future."),
    ("decision", {"next_review": day(0)}, "The next review date must be in the future."),
    ("decision", {"notes": too_long(5000)}, "Ensure this value has at most 5000 characters"),
    ("link", {"category": "", "title": "", "url": ""}, REQUIRED),
    ("link", {"title": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("link", {"url": "not a url"}, URL),
    ("link", {"url": "javascript:alert(1)"}, URL),
    ("link", {"url": "ftp://files.example.com/restore.log"}, "Give a full http:// or https:// address."),
    ("link", {"url": "https://example.com/" + "a" * 490}, "Ensure this value has at most 500 characters"),
    ("link", {"observed_at": "abc"}, DATETIME),
    ("link", {"observed_at": minute(timedelta(days=1))}, "Evidence cannot come from the future."),
    ("link", lambda w: {"category": w.foreign.pk}, CHOICE),
    ("link", {"notes": too_long(5000)}, "Ensure this value has at most 5000 characters"),
    ("file", {"file": None}, REQUIRED),
    ("file", {"title": ""}, REQUIRED),
    ("file", {"title": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("file", lambda w: {"file": upload("tool.exe", b"MZ")}, "Files of type .exe are not accepted"),
    ("file", lambda w: {"file": upload("restore.txt.exe", b"MZ")}, "Files of type .exe are not accepted"),
    ("file", lambda w: {"file": upload("README", b"x")}, "Files of type (none) are not accepted"),
    ("file", lambda w: {"file": upload("empty.txt", b"")}, "The submitted file is empty."),
    (
        "restore_drill",
        {
            "title": "",
            "database": "",
            "backup_source": "",
            "target_environment": "",
            "requested_recovery_point": "",
            "actual_recovery_point": "",
            "started_at": "",
            "ended_at": "",
            "rpo_target_minutes": "",
            "rto_target_minutes": "",
            "validation_queries": "",
        },
        REQUIRED,
    ),
    ("restore_drill", {"ended_at": minute(-timedelta(hours=6))}, "The drill cannot end before it started."),
    (
        "restore_drill",
        {"actual_recovery_point": minute(-timedelta(hours=1))},
        "The actual recovery point cannot be later than the one requested.",
    ),
    ("restore_drill", {"ended_at": minute(timedelta(days=1))}, "Evidence cannot come from the future."),
    ("restore_drill", {"rpo_target_minutes": "abc"}, NUMBER),
    ("restore_drill", {"rpo_target_minutes": "-1"}, "Ensure this value is greater than or equal to 0."),
    (
        "restore_drill",
        {"rto_target_minutes": "10000001"},
        "Ensure this value is less than or equal to 10000000.",
    ),
    ("restore_drill", {"rto_target_minutes": "1.5"}, NUMBER),
    ("restore_drill", {"started_at": "abc"}, DATETIME),
    ("restore_drill", {"next_drill_date": "abc"}, DATE),
    ("restore_drill", {"database": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("restore_drill", {"database": "   "}, REQUIRED),
    ("restore_drill", {"follow_up_owner": too_long(120)}, "Ensure this value has at most 120 characters"),
    ("runbook", {"name": "", "owner": ""}, REQUIRED),
    ("runbook", {"owner": "   "}, REQUIRED),
    ("runbook", {"name": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("runbook", {"severity": too_long(40)}, "Ensure this value has at most 40 characters"),
    ("runbook", {"owner": too_long(120)}, "Ensure this value has at most 120 characters"),
    ("runbook", {"last_tested": "abc"}, DATE),
    ("runbook", {"last_tested": day(1)}, "The last test cannot be in the future."),
    ("runbook", {"url": "nope"}, URL),
    ("access_pattern", {"query_name": "", "index": ""}, REQUIRED),
    ("access_pattern", {"actor_name": "   "}, REQUIRED),
    ("access_pattern", {"pagination": "cursorish"}, CHOICE),
    ("access_pattern", {"expected_p95_ms": "abc"}, "Enter a number."),
    ("access_pattern", {"expected_p95_ms": "-1"}, "Ensure this value is greater than or equal to 0."),
    ("access_pattern", {"expected_p95_ms": "0"}, "Give the p95 the query must keep, more than 0 ms."),
    ("access_pattern", {"expected_p95_ms": "nan"}, "Enter a number."),
    ("access_pattern", {"query_name": too_long(200)}, "Ensure this value has at most 200 characters"),
    ("derived_store", {"rebuild": "", "failure_action": ""}, REQUIRED),
    ("derived_store", {"owner": "  "}, REQUIRED),
    ("derived_store", {"url": "javascript:alert(1)"}, URL),
    ("capacity_envelope", {"planned_mitigation": ""}, REQUIRED),
    ("capacity_envelope", {"current_peak_tps": "lots"}, "Enter a number."),
    ("capacity_envelope", {"target_p95_ms": "0"}, "Give the target p95, more than 0 ms."),
    ("capacity_envelope", {"review_date": day(2)}, "The review date cannot be in the future."),
    ("capacity_envelope", {"review_date": "2026-02-30"}, DATE),
]


def case_id(case) -> str:
    form, change, message = case
    keys = "+".join(change) if isinstance(change, dict) else "computed"
    return f"{form}-{keys}-{(message or 'hidden')[:24]}"


def login_for(client, w, actor: str):
    client.force_login({"architect": w.architect, "member": w.member}[actor])


def prepare(w, request, form_name):
    """The form's spec; a decision needs a review the gate can decide, built only when asked for."""
    if form_name == "decision":
        w.complete = request.getfixturevalue("complete_review")
    return FORMS[form_name]


@pytest.mark.parametrize("form_name", FORMS)
def test_the_valid_data_of_each_form_is_accepted(client, w, request, form_name):
    """The baseline of the bad-input cases: each refusal below is caused by its one change."""
    form = prepare(w, request, form_name)
    login_for(client, w, form.actor)
    events = AuditEvent.objects.count()
    response = client.post(form.url(w), form.data(w))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert AuditEvent.objects.count() > events


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input_shows_the_error_and_changes_nothing(client, w, request, case):
    form_name, change, message = case
    form = prepare(w, request, form_name)
    login_for(client, w, form.actor)
    data = form.data(w)
    for key, value in (change(w) if callable(change) else change).items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    before = database_state(w.media)
    response = client.post(form.url(w), data)
    assert response.status_code == 200
    assert_shows(response, message)
    assert database_state(w.media) == before


def test_over_limit_file_is_refused(client, w, settings):
    settings.EVIDENCE_MAX_UPLOAD_BYTES = 16
    client.force_login(w.member)
    data = {**FORMS["file"].data(w), "file": upload("big.txt", b"x" * 17)}
    before = database_state(w.media)
    response = client.post(FORMS["file"].url(w), data)
    assert response.status_code == 200
    assert_shows(response, "The file is larger than")
    assert database_state(w.media) == before
    # At the limit it is accepted.
    data = {**FORMS["file"].data(w), "file": upload("ok.txt", b"x" * 16)}
    assert client.post(FORMS["file"].url(w), data).status_code == 302


def test_exception_on_a_p3_is_refused(client, w):
    client.force_login(w.member)
    before = database_state()
    response = client.post(reverse("exception_request", args=[w.p3.pk]), FORMS["exception"].data(w))
    assert response.status_code == 200
    assert_shows(response, "Exceptions are for P1 findings only")
    assert database_state() == before


def test_decision_on_an_incomplete_review_is_refused(client, w):
    # No findings, one category unscored: nothing blocks yet, so the gate cannot decide.
    review = ReviewFactory(system=w.system, created_by=w.architect, chair=w.architect)
    answer_critical(review, w.architect)
    for cat in review.catalogue.categories.exclude(code="capacity"):
        evidence_services.add_link(
            review=review, category=cat, title="proof", url="https://ci.example.com/1", actor=w.architect
        )
        services.set_score(review=review, category=cat, score=2, actor=w.architect)
    client.force_login(w.architect)
    before = database_state()
    response = client.post(
        reverse("decision_create", args=[review.pk]), {"next_review": day(90), **all_yes_post()}
    )
    assert response.status_code == 200
    assert_shows(response, "The gate cannot decide yet")
    assert database_state() == before


def test_duplicate_decision_from_a_stale_page_is_refused(client, w, complete_review):
    client.force_login(w.architect)
    url = reverse("decision_create", args=[complete_review.pk])
    assert client.post(url, {"next_review": day(90), **all_yes_post()}).status_code == 302
    before = database_state()
    response = client.post(url, {"next_review": day(90), **all_yes_post()}, follow=True)
    assert response.status_code == 200 and b"This review is already decided." in response.content
    assert database_state() == before


# --- checklist answers: a redirect with a message, or the row with 422 over htmx ------------------


ANSWER_CASES = [
    ({"answer": ""}, REQUIRED),
    ({"answer": "maybe"}, CHOICE),
    ({"answer": "YES"}, CHOICE),
    ({"note": too_long(2000)}, "Ensure this value has at most 2000 characters"),
    ({"note": "a\x00b"}, "Null characters are not allowed."),
    ({"version": "abc"}, NUMBER),
    ({"version": "-1"}, "Ensure this value is greater than or equal to 0."),
]


@pytest.mark.parametrize(("change", "message"), ANSWER_CASES)
def test_bad_checklist_answer_shows_the_error_and_changes_nothing(client, w, change, message):
    client.force_login(w.member)
    url = reverse("checklist_answer", args=[w.review.pk, w.item.pk])
    data = {"answer": "yes", "note": "", "version": "0", **change}
    before = database_state()
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain == [(reverse("review_checklist", args=[w.review.pk, "backup"]), 302)]
    assert html.escape(f"“{w.item.text}”: ") in response.content.decode()
    assert html.escape(message) in response.content.decode()  # in the page's messages
    response = client.post(url, data, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert f'<tr id="item-{w.item.pk}"' in response.content.decode()
    assert_shows(response, message)
    assert database_state() == before


def test_stale_checklist_answer_is_a_conflict(client, w):
    services.answer_item(review=w.review, item=w.item, answer="no", actor=w.lead)
    client.force_login(w.member)
    before = database_state()
    response = client.post(
        reverse("checklist_answer", args=[w.review.pk, w.item.pk]),
        {"answer": "yes", "version": "0"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert_shows(response, "Someone else changed this")
    assert 'value="no" checked' in response.content.decode()  # the row shows what the other person saved
    assert database_state() == before


# --- unknown or foreign categories and items are 404 ----------------------------------------------


def test_unknown_and_foreign_category_codes_are_404(client, w):
    client.force_login(w.member)
    before = database_state()
    for code in ("nope", "foreign-only"):
        assert client.get(reverse("score_edit", args=[w.review.pk, code])).status_code == 404
        assert client.post(reverse("score_edit", args=[w.review.pk, code]), {"score": "1"}).status_code == 404
        assert client.get(reverse("review_checklist", args=[w.review.pk, code])).status_code == 404
    assert database_state() == before


def test_foreign_or_unknown_checklist_item_is_404(client, w):
    client.force_login(w.member)
    before = database_state()
    for item_id in (w.foreign_item.pk, 999999):
        url = reverse("checklist_answer", args=[w.review.pk, item_id])
        assert client.post(url, {"answer": "yes"}).status_code == 404
    assert database_state() == before


def test_unknown_objects_are_404(client, w):
    client.force_login(w.architect)
    for url in (
        reverse("review_detail", args=[999999]),
        reverse("finding_edit", args=[999999]),
        reverse("exception_request", args=[999999]),
        reverse("decision_detail", args=[999999]),
        reverse("system_detail", args=["no-such-system"]),
        reverse("review_edit", args=[999999]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("exception_decide", args=[999999, "sign"])).status_code == 404


def test_a_page_number_that_is_not_a_number_shows_a_page(client, w):
    client.force_login(w.architect)
    for url in (
        reverse("dashboard"),
        w.system.get_absolute_url(),
        reverse("review_audit", args=[w.review.pk]),
        reverse("exception_queue"),
        w.review.get_absolute_url(),
    ):
        assert client.get(url, {"page": "abc"}).status_code == 200
        assert client.get(url, {"page": "99999999999999999999"}).status_code == 200


def test_unknown_category_in_the_query_string_is_ignored(client, w):
    client.force_login(w.member)
    for url in (
        reverse("finding_create", args=[w.review.pk]),
        reverse("evidence_create", args=[w.review.pk, "link"]),
    ):
        assert client.get(url, {"category": "nope"}).status_code == 200
        assert client.get(url, {"category": "foreign-only"}).status_code == 200


# --- escaping --------------------------------------------------------------------------------------

XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_script_in_a_system_name_and_a_finding_title_is_escaped(client, team, architect):
    client.force_login(architect)
    assert client.post(reverse("system_create"), {"team": team.pk, "name": XSS}).status_code == 302
    system = System.objects.get(name=XSS)
    assert (
        client.post(reverse("review_create", args=[system.slug]), {"release_scope": XSS}).status_code == 302
    )
    review = Review.objects.get(system=system)
    response = client.post(
        reverse("finding_create", args=[review.pk]),
        {"category": category(review, "security").pk, "title": XSS, "description": XSS, "level": "P0"},
    )
    assert response.status_code == 302
    services.add_claim(review=review, claim=XSS, risk=XSS, control=XSS, evidence_note=XSS, actor=architect)
    for url in (
        review.get_absolute_url(),
        reverse("dashboard"),
        system.get_absolute_url(),
        reverse("finding_edit", args=[Finding.objects.get().pk]),
        reverse("review_audit", args=[review.pk]),
    ):
        body = client.get(url).content.decode()
        assert XSS not in body, url
        assert ESCAPED in body, url


# --- properties: whatever is posted, a row and its audit event, or nothing ------------------------

# An explicit alphabet keeps hypothesis from caching Unicode tables in the working tree.
PLAIN = string.ascii_letters + string.digits + string.punctuation + " éßø漢字😀"
ALPHABET = string.printable + "éßø漢字😀\u00a0\u2028\u202e\x00\x7f"
texts = st.text(alphabet=ALPHABET, max_size=260)
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20), st.floats(allow_nan=True, allow_infinity=True)
).map(str)
anything = st.one_of(texts, numbers, st.just(""))
titles = st.text(alphabet=PLAIN, min_size=1, max_size=200).filter(str.strip)


def mostly(valid, garbage=anything):
    """Valid three times in four, so that both branches of each property are exercised."""
    return st.integers(min_value=0, max_value=3).flatmap(lambda n: garbage if n == 0 else valid)


property_settings = hypothesis_settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@property_settings
@given(data=st.data())
def test_any_finding_post_creates_one_audited_row_or_nothing(client, w, data):
    client.force_login(w.member)
    categories = [str(c.pk) for c in Category.objects.filter(version_id=w.review.catalogue_id)]
    payload = {
        "category": data.draw(
            mostly(st.sampled_from(categories), st.one_of(anything, st.just(str(w.foreign.pk))))
        ),
        "title": data.draw(mostly(titles)),
        "description": data.draw(mostly(st.text(alphabet=PLAIN, max_size=300), texts)),
        "level": data.draw(mostly(st.sampled_from(Level.values))),
        "owner": data.draw(
            mostly(st.sampled_from(["", str(w.member.pk)]), st.one_of(anything, st.just(str(w.outsider.pk))))
        ),
        "due_date": data.draw(mostly(st.one_of(st.just(""), st.dates().map(str)))),
    }
    findings, events = Finding.objects.count(), AuditEvent.objects.count()
    response = client.post(reverse("finding_create", args=[w.review.pk]), payload)
    assert response.status_code in (200, 302)
    if response.status_code == 302:
        assert Finding.objects.count() == findings + 1 and AuditEvent.objects.count() == events + 1
        created = Finding.objects.order_by("-pk").first()
        assert created.title == payload["title"].strip() and created.level == payload["level"]
    else:
        assert Finding.objects.count() == findings and AuditEvent.objects.count() == events
        assert 'role="alert"' in response.content.decode()


@property_settings
@given(data=st.data())
def test_any_score_post_writes_one_audited_change_or_nothing(client, w, data):
    client.force_login(w.member)
    if not Evidence.objects.filter(review=w.review, category__code="backup").exists():
        evidence_services.add_link(
            review=w.review,
            category=category(w.review, "backup"),
            title="proof",
            url="https://ci.example.com/1",
            actor=w.member,
        )
    code = data.draw(mostly(st.sampled_from(["backup", "security"]), st.just("nope")))
    current = CategoryScore.objects.filter(review=w.review, category__code=code).first()
    payload = {
        "score": data.draw(
            mostly(
                st.sampled_from(["0", "1", "2", "3"]), st.one_of(anything, st.sampled_from(["7", "-1", "4"]))
            )
        ),
        "owner": data.draw(
            mostly(st.sampled_from(["", str(w.member.pk)]), st.one_of(anything, st.just(str(w.outsider.pk))))
        ),
        "notes": data.draw(mostly(st.text(alphabet=PLAIN, max_size=300), texts)),
        "version": data.draw(
            mostly(
                st.sampled_from(["", str(current.version if current else 0)]),
                st.one_of(anything, st.sampled_from(["0", "1", "2"])),
            )
        ),
    }
    scores, events = list(CategoryScore.objects.order_by("pk").values()), AuditEvent.objects.count()
    response = client.post(reverse("score_edit", args=[w.review.pk, code]), payload)
    assert response.status_code in (200, 302, 404)
    if response.status_code == 302:
        assert AuditEvent.objects.count() == events + 1
        assert list(CategoryScore.objects.order_by("pk").values()) != scores
        assert CategoryScore.objects.get(review=w.review, category__code=code).score == int(payload["score"])
    else:
        assert AuditEvent.objects.count() == events
        assert list(CategoryScore.objects.order_by("pk").values()) == scores
