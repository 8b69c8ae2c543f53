"""Auditor pages: decisions across systems with filters, PDF and JSON downloads (audited), the audit
trail per review and across the installation with a streamed CSV, the verify page, and the dashboard's
overdue next reviews and soon-expiring exceptions. Every endpoint as owner, another team, auditor and
anonymous."""

import csv
import io
import json
import re
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from reviews import records, services
from reviews.models import AuditEvent, Decision, Level, Role
from tests.factories import MembershipFactory, ReviewFactory, SystemFactory, UserFactory, category, score_all

pytestmark = pytest.mark.django_db


@contextmanager
def clock(monkeypatch, moment):
    """Services read the time from django.utils.timezone.now: record something as of `moment`."""
    with monkeypatch.context() as patch:
        patch.setattr(timezone, "now", lambda: moment)
        yield


def decide(review, actor, *, next_review_in=90):
    today = timezone.localtime(timezone.now()).date()
    return services.record_decision(
        review=review, actor=actor, next_review=today + timedelta(days=next_review_in)
    )


@pytest.fixture
def world(monkeypatch, team, other_team, system, review, architect, member, lead, auditor, outsider):
    """Ledger (Payments): a decision 100 days ago, now 10 days past its next review, and an open review
    with a P1 on a signed exception that lapses in 5 days. Search (Payments): blocked, decided 3 days ago.
    Accounts (Identity, another team): approved."""
    old = ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="Ledger 2.9")
    score_all(old, member)
    with clock(monkeypatch, timezone.now() - timedelta(days=100)):
        ledger_old = decide(old, architect)
    score_all(review, member)
    p1 = services.add_finding(
        review=review,
        category=category(review, "migration"),
        title="Backfill without batches",
        level="P1",
        actor=member,
    )
    exc = services.request_exception(
        finding=p1,
        justification="Small table",
        compensating_control="Watch it",
        expires_at=timezone.now() + timedelta(days=5),
        actor=member,
    )
    exc = services.sign_exception(exception=exc, actor=lead)

    search = SystemFactory(team=team, name="Search", slug="search")
    search_review = ReviewFactory(
        system=search, created_by=architect, chair=architect, release_scope="Search 1.0"
    )
    score_all(search_review, member)
    services.add_finding(
        review=search_review,
        category=category(search_review, "security"),
        title="Superuser",
        level=Level.P0,
        actor=member,
    )
    with clock(monkeypatch, timezone.now() - timedelta(days=3)):
        search_decision = decide(search_review, architect, next_review_in=60)

    accounts = SystemFactory(team=other_team, name="Accounts", slug="accounts")
    accounts_review = ReviewFactory(
        system=accounts, created_by=outsider, chair=outsider, release_scope="Accounts 7"
    )
    score_all(accounts_review, outsider)
    accounts_decision = decide(accounts_review, outsider)
    return SimpleNamespace(
        ledger=system,
        review=review,
        ledger_old=ledger_old,
        exception=exc,
        search=search,
        search_decision=search_decision,
        accounts=accounts,
        accounts_decision=accounts_decision,
    )


def rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


# --- access: every new endpoint ---------------------------------------------------------------------

# Object endpoints: (url name, args). Another team's user gets 404 without a leak.
OBJECT_READS = {
    "decision_pdf": lambda w: [w.ledger_old.pk],
    "decision_json": lambda w: [w.ledger_old.pk],
    "decision_detail": lambda w: [w.ledger_old.pk],
    "review_audit": lambda w: [w.review.pk],
    "review_audit_csv": lambda w: [w.review.pk],
    "exception_detail": lambda w: [w.exception.pk],
}
# Pages across systems: everyone signed in gets 200, showing only what they may see.
LIST_READS = ["auditor_decisions", "audit_trail", "audit_trail_csv", "verify_decision", "dashboard"]


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("name", OBJECT_READS)
def test_object_reads_owner_and_auditor_200_other_team_404_anonymous_302(
    client, world, member, auditor, outsider, name
):
    records.store_decision_pdf(world.ledger_old.pk)
    url = reverse(name, args=OBJECT_READS[name](world))
    for person in (member, auditor):
        client.force_login(person)
        assert client.get(url).status_code == 200, person
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 404 and b"Ledger" not in body_of(response)
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", LIST_READS)
def test_pages_across_systems_show_only_what_each_person_may_see(
    client, world, member, auditor, outsider, name
):
    url = reverse(name)
    for person in (member, auditor):
        client.force_login(person)
        response = client.get(url)
        assert response.status_code == 200
        if name != "verify_decision":
            assert b"Ledger" in body_of(response) or b"ledger" in body_of(response)
            assert b"Accounts" not in body_of(response)
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 200 and b"Ledger" not in body_of(response)
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response.url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize("name", [*OBJECT_READS, *LIST_READS])
def test_auditor_pages_are_read_only(client, world, auditor, name):
    """Everything here answers GET; a POST is refused (405), except verify, which changes nothing."""
    args = OBJECT_READS[name](world) if name in OBJECT_READS else []
    client.force_login(auditor)
    before = Decision.objects.count(), AuditEvent.objects.count()
    status = client.post(reverse(name, args=args)).status_code
    assert status == (200 if name == "verify_decision" else 405)
    assert (Decision.objects.count(), AuditEvent.objects.count()) == before


def test_an_installation_auditor_sees_every_team_and_a_bare_superuser_none(client, world):
    from reviews.models import InstallationAuditor

    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin)
    body = client.get(reverse("auditor_decisions")).content
    assert b"Ledger" not in body and b"Accounts" not in body  # the superuser is for the admin
    assert client.get(reverse("decision_json", args=[world.accounts_decision.pk])).status_code == 404
    InstallationAuditor.objects.create(user=admin)
    body = client.get(reverse("auditor_decisions")).content
    assert b"Ledger" in body and b"Accounts" in body
    response = client.get(reverse("decision_json", args=[world.accounts_decision.pk]))
    assert response.status_code == 200


# --- decisions, filtered ----------------------------------------------------------------------------


def listed(client, **params) -> set[str]:
    body = client.get(reverse("auditor_decisions"), params).content.decode()
    return {d for d in ("Ledger 2.9", "Search 1.0", "Accounts 7") if d in body}


def test_decisions_filter_by_system_team_outcome_and_date(client, world, auditor, other_team):
    MembershipFactory(user=auditor, team=other_team, role=Role.AUDITOR)  # auditor of both teams
    client.force_login(auditor)
    assert listed(client) == {"Ledger 2.9", "Search 1.0", "Accounts 7"}
    assert listed(client, system="search") == {"Search 1.0"}
    assert listed(client, team="identity") == {"Accounts 7"}
    assert listed(client, team="payments") == {"Ledger 2.9", "Search 1.0"}
    assert listed(client, outcome="BLOCKED") == {"Search 1.0"}
    assert listed(client, outcome="APPROVED", team="payments") == {"Ledger 2.9"}
    today = timezone.localdate()
    assert listed(client, since=(today - timedelta(days=5)).isoformat()) == {"Search 1.0", "Accounts 7"}
    assert listed(client, until=(today - timedelta(days=50)).isoformat()) == {"Ledger 2.9"}
    four_days_ago = (today - timedelta(days=4)).isoformat()
    two_days_ago = (today - timedelta(days=2)).isoformat()
    assert listed(client, since=four_days_ago, until=two_days_ago) == {"Search 1.0"}


def test_a_backwards_date_range_says_so(client, world, auditor):
    client.force_login(auditor)
    body = client.get(reverse("auditor_decisions"), {"since": "2026-05-02", "until": "2026-05-01"}).content
    assert b"The end of the range is before its start." in body


def test_another_teams_system_is_not_a_choice(client, world, member):
    client.force_login(member)
    body = client.get(reverse("auditor_decisions"), {"system": "accounts"}).content.decode()
    assert "Select a valid choice" in body and "Accounts 7" not in body


def test_decisions_are_paginated_and_pages_keep_the_filters(client, world, auditor, settings):
    settings.PAGE_SIZE = 1
    client.force_login(auditor)
    body = client.get(reverse("auditor_decisions"), {"team": "payments"}).content.decode()
    assert "Page 1 of 2" in body and "?page=2&amp;team=payments" in body
    assert (
        "Search 1.0"
        in client.get(reverse("auditor_decisions"), {"team": "payments", "page": 1}).content.decode()
    )
    assert (
        "Ledger 2.9"
        in client.get(reverse("auditor_decisions"), {"team": "payments", "page": 2}).content.decode()
    )


def test_the_decisions_page_queries_do_not_grow(
    client, world, auditor, architect, member, django_assert_max_num_queries
):
    client.force_login(auditor)
    with django_assert_max_num_queries(10):
        client.get(reverse("auditor_decisions"))
    for i in range(5):
        system = SystemFactory(team=world.ledger.team, name=f"Store {i}", slug=f"store-{i}")
        r = ReviewFactory(system=system, created_by=architect, chair=architect)
        score_all(r, member)
        decide(r, architect)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("auditor_decisions"))
    assert response.content.count(b'href="/systems/store-') == 5


# --- downloads are audited --------------------------------------------------------------------------


def test_json_and_pdf_downloads_are_audit_events(client, world, auditor):
    decision = world.ledger_old
    records.store_decision_pdf(decision.pk)
    client.force_login(auditor)
    client.get(reverse("decision_json", args=[decision.pk]))
    client.get(reverse("decision_pdf", args=[decision.pk]))
    events = AuditEvent.objects.filter(action="decision.download", actor=auditor).order_by("id")
    assert [e.after["format"] for e in events] == ["json", "pdf"]
    assert all(e.object_id == str(decision.pk) and e.review_id == decision.review_id for e in events)
    client.force_login(UserFactory(username="eve"))  # nobody's member: 404, and nothing recorded
    client.get(reverse("decision_json", args=[decision.pk]))
    assert AuditEvent.objects.filter(action="decision.download").count() == 2


# --- the audit trail --------------------------------------------------------------------------------


def trail(client, **params) -> str:
    return client.get(reverse("audit_trail"), params).content.decode()


def shown(body: str) -> list[str]:
    """The actions of the events a trail page lists (each row names its action for machines)."""
    return re.findall(r'<tr data-action="([^"]+)"', body)


def test_the_trail_is_filterable_by_actor_action_system_and_date(client, world, auditor, lead):
    client.force_login(auditor)
    assert "exception.sign" in shown(trail(client, actor="linus"))
    assert "score.set" not in shown(trail(client, actor="linus"))
    signs = shown(trail(client, action="exception.sign"))
    assert "exception.sign" in signs and "exception.request" not in signs
    prefix = shown(trail(client, action="exception."))
    assert "exception.sign" in prefix and "exception.request" in prefix and "score.set" not in prefix
    search = trail(client, system="search")
    assert "Search 1.0" in search and "Ledger 2.9" not in search
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert "that matches these filters" in trail(client, since=tomorrow)


def test_the_trail_finds_what_nobody_did_by_hand(client, world, auditor):
    services.expire_exceptions(now=timezone.now() + timedelta(days=6))
    client.force_login(auditor)
    body = shown(trail(client, actor="system"))
    assert "exception.expire" in body and "exception.sign" not in body


def test_the_trail_hides_other_teams_and_admin_changes_except_from_installation_auditors(
    client, world, auditor, outsider
):
    AuditEvent.objects.create(
        actor=None, action="team.update", object_type="reviews.team", object_id="1", object_repr="Payments"
    )
    client.force_login(auditor)
    body = trail(client)
    assert "Accounts 7" not in body and "team.update" not in shown(body)
    client.force_login(outsider)
    assert "Ledger" not in trail(client)
    from reviews.models import InstallationAuditor

    everyone = UserFactory(username="root")
    InstallationAuditor.objects.create(user=everyone)
    client.force_login(everyone)
    body = trail(client)
    assert "Accounts 7" in body and "team.update" in shown(body)


def test_system_events_without_a_review_are_in_their_teams_trail(client, world, architect, auditor, outsider):
    services.update_system(
        system=world.ledger,
        name="Ledger",
        description="Double-entry",
        source_of_truth="Postings",
        actor=architect,
    )
    client.force_login(auditor)
    assert "system.update" in shown(trail(client, system="ledger"))
    client.force_login(outsider)
    assert "system.update" not in shown(trail(client))


def test_the_trail_exports_as_a_streamed_csv_with_the_filters(client, world, auditor, lead):
    client.force_login(auditor)
    response = client.get(reverse("audit_trail_csv"), {"action": "exception."})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    table = rows(response)
    assert table[0] == [
        "at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "object",
        "review",
        "system",
        "before",
        "after",
        "actor_name",
        "summary",
    ]
    actions = [row[2] for row in table[1:]]
    assert actions == ["exception.request", "exception.sign"]
    sign = table[2]
    assert sign[1] == "linus" and sign[7] == "ledger" and json.loads(sign[9])["state"] == "signed"
    assert sign[10] == lead.get_full_name()
    assert sign[11].startswith(f"{sign[10]} signed the exception for the P1 “Backfill without batches”")
    export = AuditEvent.objects.get(action="audit.export")
    assert export.actor == auditor and export.after["filters"] == {"action": "exception."}


def test_the_csv_keeps_spreadsheet_formulas_inert(client, world, architect, auditor):
    services.create_system(team=world.ledger.team, name='=HYPERLINK("http://x")', actor=architect)
    client.force_login(auditor)
    table = rows(client.get(reverse("audit_trail_csv"), {"action": "system.create"}))
    assert table[1][5] == '\'=HYPERLINK("http://x")'


def test_the_trail_page_queries_do_not_grow(client, world, auditor, member, django_assert_max_num_queries):
    client.force_login(auditor)
    with django_assert_max_num_queries(9):
        client.get(reverse("audit_trail"))
    for i in range(30):
        services.add_finding(
            review=world.review,
            category=category(world.review, "security"),
            title=f"F{i}",
            level="P3",
            actor=member,
        )
    with django_assert_max_num_queries(9):
        client.get(reverse("audit_trail"))


def test_the_review_trail_filters_and_exports(client, world, auditor):
    client.force_login(auditor)
    url = reverse("review_audit", args=[world.review.pk])
    body = client.get(url, {"action": "exception.sign"}).content.decode()
    assert "exception.sign" in shown(body) and "score.set" not in shown(body)
    assert f"{reverse('review_audit_csv', args=[world.review.pk])}?action=exception.sign" in body
    table = rows(client.get(reverse("review_audit_csv", args=[world.review.pk]), {"actor": "mia"}))
    assert len(table) > 1 and {row[1] for row in table[1:]} == {"mia"}
    assert {row[6] for row in table[1:]} == {str(world.review.pk)}


# --- the verify page --------------------------------------------------------------------------------


def record_file(decision, change=None) -> SimpleUploadedFile:
    body = {"digest": decision.digest, "record": json.loads(json.dumps(decision.record))}
    if change:
        change(body["record"])
    return SimpleUploadedFile(
        "record.json", json.dumps(body, ensure_ascii=False).encode(), "application/json"
    )


def test_verify_an_intact_upload_matches(client, world, auditor):
    client.force_login(auditor)
    body = client.post(reverse("verify_decision"), {"file": record_file(world.ledger_old)}).content.decode()
    assert 'The uploaded record <span class="ok-text">matches</span>' in body
    assert world.ledger_old.digest in body


def test_verify_a_one_character_change_names_the_field(client, world, auditor):
    def change(record):
        record["review"]["release_scope"] = "Ledger 2.8"

    client.force_login(auditor)
    body = client.post(
        reverse("verify_decision"), {"file": record_file(world.ledger_old, change)}
    ).content.decode()
    assert "does not match" in body
    assert "<code>review.release_scope</code>" in body
    assert "&quot;Ledger 2.9&quot;" in body and "&quot;Ledger 2.8&quot;" in body


def test_verify_a_stored_decision_and_its_chain(client, world, auditor, architect, member):
    newer = ReviewFactory(
        system=world.ledger, created_by=architect, chair=architect, release_scope="Ledger 3.1"
    )
    score_all(newer, member)
    second = decide(newer, architect)
    client.force_login(auditor)
    assert client.get(reverse("verify_decision"), {"decision": second.pk}).status_code == 200
    body = client.post(reverse("verify_decision"), {"decision": second.pk}).content.decode()
    assert f'Stored decision #{second.pk} <span class="ok-text">matches</span>' in body
    assert f"decision #{world.ledger_old.pk}" in body and "links" in body


def test_verify_refuses_another_teams_decision_without_a_leak(client, world, member):
    client.force_login(member)
    response = client.post(reverse("verify_decision"), {"decision": world.accounts_decision.pk})
    assert response.status_code == 404 and b"Accounts" not in response.content
    body = client.post(
        reverse("verify_decision"), {"file": record_file(world.accounts_decision)}
    ).content.decode()
    assert "no stored decision has this digest" in body and f"#{world.accounts_decision.pk}" not in body


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Pick a stored decision, upload a record file, or both."),
        ({"file": SimpleUploadedFile("x.json", b"{not json")}, "This is not a JSON file"),
        ({"decision": "abc"}, "Enter a whole number."),
    ],
)
def test_verify_says_what_is_wrong_with_the_input(client, world, auditor, data, message):
    client.force_login(auditor)
    response = client.post(reverse("verify_decision"), data)
    assert response.status_code == 200 and message in response.content.decode()


def test_verify_names_which_of_record_audit_trail_and_pdf_disagree(client, world, auditor):
    from django.db import connection

    decision = world.ledger_old
    client.force_login(auditor)
    body = client.post(reverse("verify_decision"), {"decision": decision.pk}).content.decode()
    assert "Record, audit trail and PDF" in body and "disagrees" not in body
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("ALTER TABLE reviews_auditevent DISABLE TRIGGER reviews_auditevent_append_only")
        cur.execute(
            "UPDATE reviews_auditevent SET after = jsonb_set(after, '{digest}', '\"0\"') "
            "WHERE action = 'decision.record' AND object_id = %s",
            [str(decision.pk)],
        )
        cur.execute("ALTER TABLE reviews_auditevent ENABLE TRIGGER reviews_auditevent_append_only")
    body = client.post(reverse("verify_decision"), {"decision": decision.pk}).content.decode()
    assert f'Stored decision #{decision.pk} <span class="warn-text">does not match</span>' in body
    assert "Audit trail disagrees with record" in body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 200_000, "nests deeper than any decision record"),
        (b'{"record": {"schema": 1, "outcome": ' + b"[" * 100 + b"]" * 100 + b"}}", "nests deeper"),
        (b'{"outcome": 1' + b"0" * 5000 + b', "schema": 1}', "This is not a JSON file"),
        (b'{"outcome": "\\ud800", "schema": 1}', "not valid Unicode"),
        (b"\xff\xfe", "This is not a JSON file"),
    ],
)
def test_verify_refuses_hostile_files_with_a_message(client, world, auditor, body, message):
    client.force_login(auditor)
    response = client.post(reverse("verify_decision"), {"file": SimpleUploadedFile("r.json", body)})
    assert response.status_code == 200 and message in response.content.decode()


def test_verify_refuses_a_file_larger_than_any_record(client, world, auditor, monkeypatch):
    monkeypatch.setattr("reviews.forms.RECORD_MAX_BYTES", 1000)
    client.force_login(auditor)
    body = json.dumps({"digest": "", "record": {"schema": 1, "outcome": "x" * 2000}}).encode()
    response = client.post(reverse("verify_decision"), {"file": SimpleUploadedFile("r.json", body)})
    assert response.status_code == 200 and "larger than any decision record" in response.content.decode()


def test_verify_refuses_a_form_body_beyond_the_upload_limit_with_a_400(client, world, auditor, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client.force_login(auditor)
    body = "decision=" + "[" * 20_000
    response = client.post(reverse("verify_decision"), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400


def test_verify_a_decision_number_beyond_any_is_not_found(client, world, auditor):
    client.force_login(auditor)
    assert client.post(reverse("verify_decision"), {"decision": str(10**30)}).status_code == 404


# --- the dashboard: next reviews overdue, exceptions expiring soon ----------------------------------


def test_the_dashboard_shows_overdue_next_reviews_and_exceptions_expiring_soon(
    client, world, member, outsider
):
    client.force_login(member)
    body = client.get(reverse("dashboard")).content.decode()
    assert "Needs attention" in body
    overdue = body[body.index("Past their next review") : body.index("Exceptions expiring within 14 days")]
    assert "Ledger" in overdue and "overdue by 10 days" in overdue
    assert "Search" not in overdue  # decided 3 days ago, next review in 60
    expiring = body[body.index("Exceptions expiring within 14 days") :]
    assert reverse("exception_detail", args=[world.exception.pk]) in expiring
    assert re.search(r"expires in [45] days", expiring)
    client.force_login(outsider)
    body = client.get(reverse("dashboard")).content.decode()
    assert "Needs attention" not in body and "Backfill" not in body


def test_exceptions_expiring_later_or_already_lapsed_are_not_listed(client, world, member):
    services.expire_exceptions(now=timezone.now() + timedelta(days=6))
    client.force_login(member)
    body = client.get(reverse("dashboard")).content.decode()
    assert reverse("exception_detail", args=[world.exception.pk]) not in body


def test_a_new_decision_clears_the_overdue(client, world, architect, member):
    decide(world.review, architect)
    client.force_login(member)
    assert "overdue by" not in client.get(reverse("dashboard")).content.decode()


# --- the navigation ---------------------------------------------------------------------------------


def test_the_audit_pages_are_linked_from_every_page(client, world, auditor):
    client.force_login(auditor)
    body = client.get(reverse("dashboard")).content.decode()
    assert reverse("auditor_decisions") in body
    body = client.get(reverse("auditor_decisions")).content.decode()
    assert reverse("audit_trail") in body and reverse("verify_decision") in body
    assert reverse("decision_pdf", args=[world.ledger_old.pk]) in body


def test_decision_page_links_the_chain_both_ways(client, world, architect, member, auditor):
    newer = ReviewFactory(
        system=world.ledger, created_by=architect, chair=architect, release_scope="Ledger 3.1"
    )
    score_all(newer, member)
    second = decide(newer, architect)
    client.force_login(auditor)
    old = client.get(reverse("decision_detail", args=[world.ledger_old.pk])).content.decode()
    assert (
        "A later decision supersedes this one" in old and reverse("decision_detail", args=[second.pk]) in old
    )
    new = client.get(reverse("decision_detail", args=[second.pk])).content.decode()
    assert "chain links" in new and reverse("decision_detail", args=[world.ledger_old.pk]) in new
    assert Decision.objects.filter(system=world.ledger).count() == 2
