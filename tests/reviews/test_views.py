"""The review pages through the client: who may see and change what, the changes themselves,
query counts, and a decided review that refuses every change."""

import json
import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reviews import services
from reviews.gate import GateOutcome
from reviews.models import (
    AuditEvent,
    CategoryScore,
    ChecklistAnswer,
    ChecklistItem,
    Claim,
    Decision,
    ExceptionState,
    Finding,
    FindingStatus,
    Level,
    Membership,
    Review,
    ReviewState,
    RiskException,
    Role,
    System,
)
from tests.factories import (
    MembershipFactory,
    ReviewFactory,
    SystemFactory,
    UserFactory,
    attach,
    category,
    score_all,
)

from .test_judgement import all_yes_post

pytestmark = pytest.mark.django_db

FROZEN = "decided and frozen"


# --- helpers ---------------------------------------------------------------------------------------


def add_p1(review, actor, title="Application connects as superuser"):
    return services.add_finding(
        review=review, category=category(review, "security"), title=title, level=Level.P1, actor=actor
    )


def request_exception(finding, actor, days=30):
    return services.request_exception(
        finding=finding,
        justification="Low traffic until the fix",
        compensating_control="Pager alert on role use",
        expires_at=timezone.now() + timedelta(days=days),
        actor=actor,
    )


def in_days(days: int) -> str:
    return (timezone.localdate() + timedelta(days=days)).isoformat()


def local_minute(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


def first_item(review, code="backup"):
    return ChecklistItem.objects.filter(category=category(review, code)).order_by("position").first()


def database_state() -> dict:
    """Every row a page could change, so a refusal can be shown to have changed nothing."""
    models = (System, Review, CategoryScore, ChecklistAnswer, Finding, RiskException, Claim, Decision)
    state = {m.__name__: list(m.objects.order_by("pk").values()) for m in models}
    from evidence.models import Evidence

    state["Evidence"] = list(Evidence.objects.order_by("pk").values())
    state["AuditEvent"] = AuditEvent.objects.count()
    return state


def login_url(path: str) -> str:
    return f"{reverse('login')}?next={path}"


# --- the world every access test acts on -----------------------------------------------------------


@pytest.fixture
def world(review, architect, lead, member, auditor, outsider):
    """An open review with a P1 finding and a pending exception, and an earlier decided review."""
    finding = add_p1(review, member)
    exception = request_exception(finding, member)
    decided = ReviewFactory(
        system=review.system, created_by=architect, chair=architect, release_scope="Ledger 2.9"
    )
    score_all(decided, architect)
    decision = services.record_decision(
        review=decided, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    return SimpleNamespace(
        system=review.system,
        review=review,
        finding=finding,
        exception=exception,
        decided=decided,
        decision=decision,
        item=first_item(review),
    )


# Pages that only read: everyone of the team sees them, the auditor included.
READS = {
    "system_detail": lambda w: [w.system.slug],
    "review_detail": lambda w: [w.review.pk],
    "review_audit": lambda w: [w.review.pk],
    "review_checklist": lambda w: [w.review.pk, "backup"],
    "decision_detail": lambda w: [w.decision.pk],
    "decision_json": lambda w: [w.decision.pk],
}


def valid_change(name: str, w) -> dict:
    """Data that the owner's POST would have accepted: a refusal is about the person, not the input."""
    security = category(w.review, "security")
    return {
        "system_edit": {"name": "Ledger Core", "description": "", "source_of_truth": "Orders"},
        "review_create": {"release_scope": "Ledger 3.1", "production_traffic": "on"},
        "review_edit": {
            "release_scope": "Ledger 3.0.1",
            "production_traffic": "on",
            "version": w.review.version,
        },
        "checklist_answer": {"answer": "yes", "note": "", "version": 0},
        "score_edit": {"score": "1", "notes": "", "version": 0},
        "finding_create": {"category": security.pk, "title": "No RLS", "level": "P3"},
        "finding_edit": {"title": "Renamed", "level": "P1", "status": "open", "version": w.finding.version},
        "claim_create": {"claim": "Tenant data is isolated", "risk": "Leak", "control": "RLS"},
        "decision_create": {"next_review": in_days(90)},
        "exception_request": {
            "justification": "j",
            "compensating_control": "c",
            "expires_at": local_minute(timedelta(days=10)),
        },
        "exception_decide": {},
    }[name]


# Pages that change something: (url name, args, methods, who may do it).
CHANGES = {
    "system_edit": (lambda w: [w.system.slug], ("get", "post"), "architect"),
    "review_create": (lambda w: [w.system.slug], ("get", "post"), "architect"),
    "review_edit": (lambda w: [w.review.pk], ("get", "post"), "architect"),
    "checklist_answer": (lambda w: [w.review.pk, w.item.pk], ("post",), "member"),
    "score_edit": (lambda w: [w.review.pk, "security"], ("get", "post"), "member"),
    "finding_create": (lambda w: [w.review.pk], ("get", "post"), "member"),
    "finding_edit": (lambda w: [w.finding.pk], ("get", "post"), "member"),
    "claim_create": (lambda w: [w.review.pk], ("get", "post"), "member"),
    "decision_create": (lambda w: [w.review.pk], ("get", "post"), "architect"),
    "exception_request": (lambda w: [w.finding.pk], ("get", "post"), "member"),
    "exception_decide": (lambda w: [w.exception.pk, "sign"], ("post",), "lead"),
}
CHANGE_REQUESTS = [(name, method) for name, (_, methods, _) in CHANGES.items() for method in methods]
CHAIR_ONLY = ["system_edit", "review_create", "review_edit", "decision_create"]


def change_url(name, w) -> str:
    return reverse(name, args=CHANGES[name][0](w))


def send(client, method, url, data=None, **kwargs):
    return client.post(url, data or {}, **kwargs) if method == "post" else client.get(url, **kwargs)


# --- access: the owner team, another team (404), the auditor (403 on changes), anonymous ----------


@pytest.mark.parametrize("name", READS)
def test_team_members_and_the_auditor_can_read(client, world, architect, auditor, name):
    url = reverse(name, args=READS[name](world))
    for person in (architect, auditor):
        client.force_login(person)
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("name", READS)
def test_another_teams_user_gets_404_on_reads_without_a_leak(client, world, outsider, name):
    client.force_login(outsider)
    response = client.get(reverse(name, args=READS[name](world)))
    assert response.status_code == 404
    assert b"Ledger" not in response.content
    assert b"superuser" not in response.content


@pytest.mark.parametrize("name", [*READS, "dashboard", "exception_queue", "system_create"])
def test_anonymous_is_sent_to_login_for_reads(client, world, name):
    url = reverse(name, args=READS[name](world)) if name in READS else reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response.url == login_url(url)


@pytest.mark.parametrize(("name", "method"), CHANGE_REQUESTS)
def test_anonymous_is_sent_to_login_for_changes(client, world, name, method):
    url = change_url(name, world)
    before = database_state()
    response = send(client, method, url, valid_change(name, world))
    assert response.status_code == 302
    assert response.url == login_url(url)
    assert database_state() == before


@pytest.mark.parametrize(("name", "method"), CHANGE_REQUESTS)
def test_another_teams_architect_gets_404_and_changes_nothing(client, world, outsider, name, method):
    client.force_login(outsider)
    before = database_state()
    response = send(client, method, change_url(name, world), valid_change(name, world))
    assert response.status_code == 404
    assert b"Ledger" not in response.content
    assert database_state() == before


@pytest.mark.parametrize(("name", "method"), CHANGE_REQUESTS)
def test_auditor_gets_403_on_every_change_and_nothing_changes(client, world, auditor, name, method):
    client.force_login(auditor)
    before = database_state()
    response = send(client, method, change_url(name, world), valid_change(name, world))
    assert response.status_code == 403
    assert database_state() == before


@pytest.mark.parametrize("name", CHAIR_ONLY + ["exception_decide"])
def test_member_may_not_chair_or_sign(client, world, member, name):
    client.force_login(member)
    before = database_state()
    response = client.post(change_url(name, world), valid_change(name, world))
    assert response.status_code == 403
    assert database_state() == before


@pytest.mark.parametrize("name", [name for name, (_, methods, _) in CHANGES.items() if "get" in methods])
def test_owner_team_gets_the_change_forms(client, world, architect, member, name):
    person = {"architect": architect, "member": member}[CHANGES[name][2]]
    client.force_login(person)
    response = client.get(change_url(name, world))
    assert response.status_code == 200
    assert b"<form" in response.content


def test_system_create_as_auditor_is_403_and_as_anonymous_goes_to_login(client, world, auditor):
    client.force_login(auditor)
    before = database_state()
    assert client.get(reverse("system_create")).status_code == 403
    assert (
        client.post(reverse("system_create"), {"team": world.system.team_id, "name": "X"}).status_code == 403
    )
    client.logout()
    response = client.post(reverse("system_create"), {"team": world.system.team_id, "name": "X"})
    assert response.status_code == 302 and response.url == login_url(reverse("system_create"))
    assert database_state() == before


def test_another_teams_architect_cannot_add_a_system_to_our_team(client, world, outsider, team):
    client.force_login(outsider)
    page = client.get(reverse("system_create"))
    assert page.status_code == 200
    assert b"Payments" not in page.content  # only Bob's own team is offered
    before = database_state()
    response = client.post(reverse("system_create"), {"team": team.pk, "name": "Sneaky"})
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert database_state() == before


def test_dashboard_shows_own_team_systems_only(client, world, architect, outsider, auditor):
    client.force_login(architect)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"Ledger" in response.content and b"Add a system" in response.content
    client.force_login(auditor)
    response = client.get(reverse("dashboard"))
    assert b"Ledger" in response.content and b"Add a system" not in response.content
    client.force_login(outsider)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"Ledger" not in response.content


def test_auditor_sees_an_empty_exception_queue(client, world, auditor):
    client.force_login(auditor)
    response = client.get(reverse("exception_queue"))
    assert response.status_code == 200
    assert b"Nothing awaits your signature." in response.content
    assert world.finding.title.encode() not in response.content


def test_exception_queue_does_not_leak_to_another_teams_lead(client, world, other_team):
    bob_lead = UserFactory(username="bea")
    MembershipFactory(user=bob_lead, team=other_team, role=Role.LEAD)
    client.force_login(bob_lead)
    response = client.get(reverse("exception_queue"))
    assert response.status_code == 200
    assert world.finding.title.encode() not in response.content


def test_exception_decide_for_another_teams_exception_is_404(client, world, outsider):
    client.force_login(outsider)
    for action in ("sign", "reject", "revoke", "nonsense"):
        assert client.post(reverse("exception_decide", args=[world.exception.pk, action])).status_code == 404
    world.exception.refresh_from_db()
    assert world.exception.state == ExceptionState.REQUESTED


def test_unknown_exception_action_is_404(client, world, lead):
    client.force_login(lead)
    assert client.post(reverse("exception_decide", args=[world.exception.pk, "approve"])).status_code == 404


def test_reads_and_changes_refuse_the_wrong_method(client, world, architect):
    client.force_login(architect)
    assert client.get(reverse("checklist_answer", args=[world.review.pk, world.item.pk])).status_code == 405
    assert client.get(reverse("exception_decide", args=[world.exception.pk, "sign"])).status_code == 405
    assert client.post(reverse("review_detail", args=[world.review.pk])).status_code == 405
    assert client.post(reverse("dashboard")).status_code == 405


# --- health, login, logout -------------------------------------------------------------------------


def test_health_answers_anonymous(client, db):
    response = client.get(reverse("health"))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_login_page_and_sign_in_and_out(client, architect):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "alice", "password": "pw"})
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert client.get(reverse("dashboard")).status_code == 302


def test_wrong_password_stays_on_the_login_page(client, architect):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


# --- happy paths ------------------------------------------------------------------------------------


def test_architect_adds_a_system(client, architect, team):
    client.force_login(architect)
    response = client.post(
        reverse("system_create"),
        {
            "team": team.pk,
            "name": "Orders DB",
            "description": "Order book",
            "source_of_truth": "Orders",
        },
    )
    system = System.objects.get(name="Orders DB")
    assert response.status_code == 302 and response.url == system.get_absolute_url()
    assert system.team == team and system.slug == "orders-db"
    page = client.get(response.url)
    assert b"System Orders DB added." in page.content and b"Order book" in page.content
    assert AuditEvent.objects.filter(action="system.create", object_id=str(system.pk)).exists()


def test_architect_edits_a_system(client, architect, system):
    client.force_login(architect)
    response = client.post(
        reverse("system_edit", args=[system.slug]),
        {
            "name": "Ledger Core",
            "description": "General ledger",
            "source_of_truth": "Balances",
        },
    )
    assert response.status_code == 302 and response.url == system.get_absolute_url()
    system.refresh_from_db()
    assert (system.name, system.description, system.source_of_truth) == (
        "Ledger Core",
        "General ledger",
        "Balances",
    )
    assert b"Ledger Core" in client.get(response.url).content
    assert AuditEvent.objects.filter(action="system.update").count() == 1


def test_architect_starts_a_review(client, architect, system):
    client.force_login(architect)
    response = client.post(
        reverse("review_create", args=[system.slug]),
        {
            "release_scope": "Ledger 3.1: partition journal",
            "schema_changing": "on",
            "production_traffic": "on",
            "next_review_date": in_days(180),
        },
    )
    review = Review.objects.get(system=system)
    assert response.status_code == 302 and response.url == review.get_absolute_url()
    assert review.chair == architect and review.schema_changing and review.production_traffic
    page = client.get(response.url)
    assert b"Review started." in page.content and b"Ledger 3.1: partition journal" in page.content
    assert AuditEvent.objects.filter(action="review.start", review=review).count() == 1


def test_chair_edits_the_scope(client, architect, review):
    client.force_login(architect)
    response = client.post(
        reverse("review_edit", args=[review.pk]),
        {
            "release_scope": "Ledger 3.0.1 hotfix",
            "scope_notes": "Index only",
            "production_traffic": "on",
            "version": review.version,
        },
    )
    assert response.status_code == 302 and response.url == review.get_absolute_url()
    review.refresh_from_db()
    assert (
        review.release_scope == "Ledger 3.0.1 hotfix" and not review.schema_changing and review.version == 2
    )
    assert b"Ledger 3.0.1 hotfix" in client.get(response.url).content


def test_member_attaches_a_link_and_then_scores_the_category_2(client, member, review):
    client.force_login(member)
    backup = category(review, "backup")
    response = client.post(
        reverse("evidence_create", args=[review.pk, "link"]),
        {
            "category": backup.pk,
            "title": "Nightly restore job",
            "url": "https://ci.example.com/restore/42",
        },
    )
    assert response.status_code == 302
    response = client.post(
        reverse("score_edit", args=[review.pk, "backup"]),
        {
            "score": "2",
            "owner": member.pk,
            "notes": "Restored nightly",
            "version": "0",
        },
    )
    assert response.status_code == 302 and response.url == f"{review.get_absolute_url()}#scorecard"
    row = CategoryScore.objects.get(review=review, category=backup)
    assert (row.score, row.owner, row.notes) == (2, member, "Restored nightly")
    page = client.get(review.get_absolute_url())
    assert "Backup, restore &amp; DR: scored 2." in page.content.decode()
    assert b'<span class="score score-2">2</span>' in page.content


def test_rescoring_with_the_loaded_version_updates_the_score(client, member, review):
    client.force_login(member)
    first = services.set_score(review=review, category=category(review, "security"), score=0, actor=member)
    url = reverse("score_edit", args=[review.pk, "security"])
    assert f'value="{first.version}"'.encode() in client.get(url).content
    response = client.post(url, {"score": "1", "version": first.version})
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.score == 1 and first.version == 2


def hidden_version(response) -> str:
    return re.search(r'<input type="hidden" name="version" value="(\d+)"', response.content.decode()).group(1)


def test_score_conflict_shows_the_other_persons_score_and_a_resubmit_succeeds(
    client, member, architect, review
):
    security = category(review, "security")
    loaded = services.set_score(review=review, category=security, score=0, actor=member)
    services.set_score(review=review, category=security, score=1, notes="theirs", actor=architect, version=1)
    client.force_login(member)
    url = reverse("score_edit", args=[review.pk, "security"])
    response = client.post(url, {"score": "0", "notes": "mine", "version": loaded.version})
    assert response.status_code == 200
    assert b"Someone else changed this" in response.content
    assert hidden_version(response) == "2"
    assert b'value="1" required id="id_score_1" checked' in response.content and b"theirs" in response.content
    assert CategoryScore.objects.get(review=review, category=security).score == 1
    response = client.post(url, {"score": "0", "notes": "mine", "version": hidden_version(response)})
    assert response.status_code == 302
    assert CategoryScore.objects.get(review=review, category=security).notes == "mine"


def test_finding_and_scope_conflicts_can_be_resubmitted(client, member, architect, review):
    finding = services.add_finding(
        review=review, category=category(review, "schema"), title="Mine", level=Level.P3, actor=member
    )
    services.update_finding(
        finding=finding, actor=architect, version=1, title="Theirs", description="", level="P3", status="open"
    )
    client.force_login(architect)
    url = reverse("finding_edit", args=[finding.pk])
    response = client.post(url, {"title": "Mine again", "level": "P3", "status": "open", "version": "1"})
    assert response.status_code == 200 and b'value="Theirs"' in response.content
    data = {"title": "Mine again", "level": "P3", "status": "open", "version": hidden_version(response)}
    assert client.post(url, data).status_code == 302

    finding.delete()  # a review with findings keeps its name: this part renames an empty one
    services.update_review(
        review=review,
        actor=architect,
        version=1,
        release_scope="Theirs",
        scope_notes="",
        schema_changing=False,
        production_traffic=True,
        next_review_date=None,
    )
    url = reverse("review_edit", args=[review.pk])
    response = client.post(url, {"release_scope": "Mine", "schema_changing": "on", "version": "1"})
    assert response.status_code == 200 and b'value="Theirs"' in response.content
    body = response.content.decode()
    assert 'name="schema_changing" value="yes" id="id_schema_changing_0" checked' not in body
    assert 'name="schema_changing" value="no" id="id_schema_changing_1" checked' in body
    assert 'name="production_traffic" value="yes" id="id_production_traffic_0" checked' in body
    data = {"release_scope": "Mine", "version": hidden_version(response)}
    assert client.post(url, data).status_code == 302


def test_checklist_answer_plain_post_redirects_to_the_checklist(client, member, review):
    client.force_login(member)
    item = first_item(review)
    response = client.post(
        reverse("checklist_answer", args=[review.pk, item.pk]),
        {"answer": "yes", "note": "Checked in staging", "version": "0"},
    )
    assert response.status_code == 302
    assert response.url == reverse("review_checklist", args=[review.pk, "backup"])
    answer = ChecklistAnswer.objects.get(review=review, item=item)
    assert (answer.answer, answer.note, answer.answered_by) == ("yes", "Checked in staging", member)
    assert b"Checked in staging" in client.get(response.url).content


def test_checklist_answer_over_htmx_returns_the_row_and_the_gate_out_of_band(client, member, review):
    client.force_login(member)
    item = first_item(review)
    response = client.post(
        reverse("checklist_answer", args=[review.pk, item.pk]),
        {"answer": "no", "note": "Not yet", "version": "0"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert f'<tr id="item-{item.pk}"' in body
    assert '<section id="gate-panel"' in body and 'hx-swap-oob="true"' in body
    assert "<html" not in body
    assert ChecklistAnswer.objects.get(review=review, item=item).answer == "no"
    # Answering again with the version the row now carries updates it.
    response = client.post(
        reverse("checklist_answer", args=[review.pk, item.pk]),
        {"answer": "yes", "version": "1"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert ChecklistAnswer.objects.get(review=review, item=item).version == 2


@pytest.mark.parametrize("level", Level.values)
def test_member_adds_a_finding_of_each_level(client, member, review, level):
    client.force_login(member)
    data = {
        "category": category(review, "query-index").pk,
        "title": f"Seq scan on journal ({level})",
        "description": "Found in pg_stat_statements",
        "level": level,
    }
    if level == Level.P2:
        data.update(owner=member.pk, due_date=in_days(30))
    response = client.post(reverse("finding_create", args=[review.pk]), data)
    assert response.status_code == 302 and response.url == f"{review.get_absolute_url()}#findings"
    finding = Finding.objects.get(review=review)
    assert (finding.level, finding.status, finding.created_by) == (level, "open", member)
    page = client.get(review.get_absolute_url())
    assert f"{level} finding recorded.".encode() in page.content
    assert f"Seq scan on journal ({level})".encode() in page.content
    assert AuditEvent.objects.filter(action="finding.add", object_id=str(finding.pk)).count() == 1


def test_finding_edit_regrade_and_resolve(client, member, review):
    client.force_login(member)
    finding = services.add_finding(
        review=review, category=category(review, "schema"), title="No FK index", level=Level.P3, actor=member
    )
    url = reverse("finding_edit", args=[finding.pk])
    assert b"No FK index" in client.get(url).content

    response = client.post(
        url,
        {
            "title": "No index on FK journal.account_id",
            "description": "Probe saw it",
            "level": "P3",
            "status": "open",
            "version": finding.version,
        },
    )
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.title == "No index on FK journal.account_id" and finding.version == 2

    response = client.post(
        url,
        {
            "title": finding.title,
            "level": "P2",
            "status": "open",
            "owner": member.pk,
            "due_date": in_days(14),
            "version": finding.version,
        },
    )
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.level == Level.P2 and finding.owner == member
    assert AuditEvent.objects.filter(action="finding.regrade", object_id=str(finding.pk)).count() == 1

    response = client.post(
        url,
        {
            "title": finding.title,
            "level": "P2",
            "status": "resolved",
            "owner": member.pk,
            "due_date": in_days(14),
            "version": finding.version,
        },
    )
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.status == FindingStatus.RESOLVED and finding.resolved_at is not None
    page = client.get(review.get_absolute_url())
    assert b"Finding saved." in page.content and b"status-resolved" in page.content


def test_member_adds_a_claim(client, member, review):
    client.force_login(member)
    link = attach(review, "security", member)
    response = client.post(
        reverse("claim_create", args=[review.pk]),
        {
            "claim": "Tenant data is isolated",
            "risk": "Cross-tenant leak",
            "control": "Composite keys + RLS",
            "category": category(review, "security").pk,
            "evidence": link.pk,
        },
    )
    assert response.status_code == 302 and response.url == f"{review.get_absolute_url()}#claims"
    claim = Claim.objects.get(review=review)
    assert claim.evidence == link and claim.created_by == member
    page = client.get(review.get_absolute_url()).content
    assert b"Tenant data is isolated" in page and b"Composite keys + RLS" in page


def terms_seen(exc) -> dict:
    """What a Sign or Reject form posts: the version and digest of the terms on screen."""
    return {"version": exc.version, "digest": services.exception_digest(exc)}


def test_member_requests_an_exception_and_a_lead_signs_it(client, member, lead, review):
    finding = add_p1(review, member)
    client.force_login(member)
    response = client.post(
        reverse("exception_request", args=[finding.pk]),
        {
            "justification": "Removing superuser needs a restart window",
            "compensating_control": "Alert on DDL",
            "expires_at": local_minute(timedelta(days=30)),
        },
    )
    assert response.status_code == 302 and response.url == f"{review.get_absolute_url()}#findings"
    exc = RiskException.objects.get(finding=finding)
    assert exc.state == ExceptionState.REQUESTED and exc.requested_by == member
    assert b"Awaiting signature" in client.get(review.get_absolute_url()).content

    client.force_login(lead)
    page = client.get(review.get_absolute_url()).content.decode()
    assert reverse("exception_decide", args=[exc.pk, "sign"]) in page
    response = client.post(reverse("exception_decide", args=[exc.pk, "sign"]), terms_seen(exc))
    assert response.status_code == 302 and response.url == f"{review.get_absolute_url()}#findings"
    exc.refresh_from_db()
    assert exc.state == ExceptionState.SIGNED and exc.signer == lead and exc.signed_digest
    page = client.get(review.get_absolute_url()).content.decode()
    assert "sign recorded" in page and "signed by" in page
    assert AuditEvent.objects.filter(action="exception.sign", object_id=str(exc.pk)).count() == 1


def test_lead_rejects_a_request_over_htmx(client, member, lead, review):
    exc = request_exception(add_p1(review, member), member)
    client.force_login(lead)
    response = client.post(
        reverse("exception_decide", args=[exc.pk, "reject"]), terms_seen(exc), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{review.get_absolute_url()}#findings"
    exc.refresh_from_db()
    assert exc.state == ExceptionState.REJECTED and exc.signer == lead


def test_lead_revokes_a_signed_exception(client, member, lead, review):
    exc = request_exception(add_p1(review, member), member)
    services.sign_exception(exception=exc, actor=lead)
    client.force_login(lead)
    response = client.post(reverse("exception_decide", args=[exc.pk, "revoke"]))
    assert response.status_code == 302
    exc.refresh_from_db()
    assert exc.state == ExceptionState.REVOKED
    assert b"Revoked" in client.get(review.get_absolute_url()).content


def test_revoking_what_is_not_signed_gives_a_message_not_a_change(client, member, lead, review):
    exc = request_exception(add_p1(review, member), member)
    client.force_login(lead)
    before = database_state()
    response = client.post(reverse("exception_decide", args=[exc.pk, "revoke"]), follow=True)
    assert response.status_code == 200
    assert b"Only a signed exception can be revoked." in response.content
    assert database_state() == before


def test_lead_cannot_sign_their_own_request(client, lead, review):
    exc = request_exception(add_p1(review, lead), lead)
    client.force_login(lead)
    page = client.get(review.get_absolute_url()).content.decode()
    assert reverse("exception_decide", args=[exc.pk, "sign"]) not in page
    before = database_state()
    response = client.post(reverse("exception_decide", args=[exc.pk, "sign"]), terms_seen(exc), follow=True)
    assert response.status_code == 200
    assert b"Four eyes" in response.content
    assert database_state() == before


def test_exception_queue_shows_others_requests_to_the_lead_but_not_their_own(client, member, lead, review):
    theirs = request_exception(add_p1(review, member, "Backfill without batches"), member)
    own = request_exception(add_p1(review, lead, "Lock-taking migration"), lead)
    client.force_login(lead)
    response = client.get(reverse("exception_queue"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Backfill without batches" in body
    assert reverse("exception_decide", args=[theirs.pk, "sign"]) in body
    assert "Lock-taking migration" not in body
    assert reverse("exception_decide", args=[own.pk, "sign"]) not in body
    # A member sees nothing to sign.
    client.force_login(member)
    assert b"Backfill without batches" not in client.get(reverse("exception_queue")).content


def test_chair_records_the_decision_and_the_record_verifies(client, architect, review):
    score_all(review, architect)
    client.force_login(architect)
    form = client.get(reverse("decision_create", args=[review.pk]))
    assert form.status_code == 200 and b"Record the gate's outcome: <strong>Approved</strong>" in form.content
    response = client.post(
        reverse("decision_create", args=[review.pk]),
        {"next_review": in_days(180), "notes": "Ship it", **all_yes_post()},
    )
    decision = Decision.objects.get(review=review)
    assert response.status_code == 302
    assert response.url == reverse("decision_detail", args=[decision.pk])
    assert decision.outcome == GateOutcome.APPROVED and decision.approver == architect
    review.refresh_from_db()
    assert review.state == ReviewState.DECIDED

    page = client.get(response.url).content.decode()
    assert "Decision recorded: Approved." in page
    assert decision.digest in page and "matches the stored record" in page

    response = client.get(reverse("decision_json", args=[decision.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="decision-ledger-{decision.pk}.json"'
    body = json.loads(response.content)
    assert body["digest"] == decision.digest == services.record_digest(body["record"])
    assert body["record"] == decision.record
    assert body["record"]["outcome"] == "APPROVED" and body["record"]["notes"] == "Ship it"


def test_auditor_reads_the_decision_record(client, architect, auditor, review):
    score_all(review, architect)
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
    )
    client.force_login(auditor)
    assert decision.digest.encode() in client.get(reverse("decision_detail", args=[decision.pk])).content
    assert (
        json.loads(client.get(reverse("decision_json", args=[decision.pk])).content)["digest"]
        == decision.digest
    )


def test_audit_page_lists_the_changes(client, architect, auditor, review):
    attach(review, "backup", architect)
    services.set_score(review=review, category=category(review, "backup"), score=2, actor=architect)
    client.force_login(auditor)
    body = client.get(reverse("review_audit", args=[review.pk])).content
    assert b"evidence.add" in body and b"score.set" in body


def test_checklist_page_lists_the_items_and_the_other_categories(client, member, review):
    client.force_login(member)
    response = client.get(reverse("review_checklist", args=[review.pk, "security"]))
    assert response.status_code == 200
    assert response["Vary"] and "HX-Request" in response["Vary"]
    body = response.content.decode()
    items = ChecklistItem.objects.filter(category=category(review, "security"))
    assert all(f'id="item-{item.pk}"' in body for item in items)
    assert reverse("review_checklist", args=[review.pk, "backup"]) in body


# --- query counts ----------------------------------------------------------------------------------


def populate_review(review, n, *, member, lead):
    """n of everything the review page lists: findings (with exceptions), claims, evidence, scores."""
    codes = [c.code for c in review.catalogue.categories.order_by("number")]
    for i in range(n):
        code = codes[i % len(codes)]
        link = attach(review, code, member)
        services.add_claim(
            review=review, claim=f"Claim {i}", risk="r", control="c", evidence=link, actor=member
        )
        if i < len(codes):
            services.set_score(
                review=review, category=category(review, code), score=2, owner=member, actor=member
            )
        for level in Level.values:
            finding = services.add_finding(
                review=review,
                category=category(review, code),
                title=f"{level} {i}",
                level=level,
                owner=member,
                due_date=timezone.localdate(),
                actor=member,
            )
            if level == Level.P1:
                exc = request_exception(finding, member)
                services.sign_exception(exception=exc, actor=lead)


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


# 13; loosenings of findings and scores; critical items, answers, judged records; the review's depth (its
# records and the PII probe's results: reviews.depth)
REVIEW_PAGE_MAX_QUERIES = 20
DASHBOARD_MAX_QUERIES = 25  # + overdue systems, expiring exceptions; + critical items, answers, records;
# + the "Needs you" panel (at most six lists for an architect or lead) and the menu's count


def test_review_page_queries_do_not_grow_with_its_rows(
    client, member, lead, review, system, architect, django_assert_max_num_queries
):
    client.force_login(member)
    populate_review(review, 1, member=member, lead=lead)
    url = review.get_absolute_url()
    with django_assert_max_num_queries(REVIEW_PAGE_MAX_QUERIES):
        client.get(url)
    few = count_queries(client, url)

    bigger = ReviewFactory(system=system, created_by=architect, chair=architect)
    populate_review(bigger, 10, member=member, lead=lead)
    with django_assert_max_num_queries(REVIEW_PAGE_MAX_QUERIES):
        response = client.get(bigger.get_absolute_url())
    assert response.content.count(b'class="finding status-') == 40
    assert count_queries(client, bigger.get_absolute_url()) == few


def add_systems(team, n, *, architect, member, lead):
    start = System.objects.filter(team=team).count()
    for i in range(start, start + n):
        system = SystemFactory(team=team, name=f"Store {i:02d}", slug=f"store-{i:02d}")
        decided = ReviewFactory(system=system, created_by=architect, chair=architect)
        score_all(decided, architect)
        services.record_decision(
            review=decided, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
        )
        current = ReviewFactory(system=system, created_by=architect, chair=architect)
        populate_review(current, 1, member=member, lead=lead)


def test_dashboard_queries_do_not_grow_with_the_systems(
    client, team, architect, member, lead, django_assert_max_num_queries
):
    client.force_login(architect)
    add_systems(team, 1, architect=architect, member=member, lead=lead)
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        client.get(reverse("dashboard"))
    few = count_queries(client, reverse("dashboard"))
    add_systems(team, 9, architect=architect, member=member, lead=lead)
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        response = client.get(reverse("dashboard"))
    assert response.content.count(b'<th scope="row"><a href="/systems/store-') == 10  # the table's rows
    assert count_queries(client, reverse("dashboard")) == few


def test_system_page_queries_do_not_grow_with_its_reviews(client, team, system, architect, member, lead):
    client.force_login(architect)
    populate_review(
        ReviewFactory(system=system, created_by=architect, chair=architect), 1, member=member, lead=lead
    )
    few = count_queries(client, system.get_absolute_url())
    for _ in range(9):
        review = ReviewFactory(system=system, created_by=architect, chair=architect)
        populate_review(review, 1, member=member, lead=lead)
    assert count_queries(client, system.get_absolute_url()) == few


# --- a decided review refuses every change --------------------------------------------------------


@pytest.fixture
def frozen(review, architect, member, lead):
    """A decided review with a pending and a signed exception, an answer and a score already there."""
    score_all(review, architect)
    pending = request_exception(add_p1(review, member, "Pending P1"), member)
    signed = request_exception(add_p1(review, member, "Signed P1"), member)
    services.sign_exception(exception=signed, actor=lead)
    item = first_item(review)
    services.answer_item(review=review, item=item, answer="yes", actor=member)
    services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
    )
    review.refresh_from_db()
    assert review.is_frozen
    return SimpleNamespace(review=review, pending=pending, signed=signed, item=item, finding=pending.finding)


def frozen_posts(f):
    r = f.review
    security = category(r, "security")
    return {
        "review_edit": (
            reverse("review_edit", args=[r.pk]),
            {"release_scope": "Changed", "production_traffic": "on", "version": r.version},
        ),
        "score_edit": (
            reverse("score_edit", args=[r.pk, "security"]),
            {"score": "3", "version": CategoryScore.objects.get(review=r, category=security).version},
        ),
        "finding_create": (
            reverse("finding_create", args=[r.pk]),
            {"category": security.pk, "title": "Late", "level": "P0"},
        ),
        "finding_edit": (
            reverse("finding_edit", args=[f.finding.pk]),
            {"title": "Renamed", "level": "P1", "status": "resolved", "version": f.finding.version},
        ),
        "claim_create": (reverse("claim_create", args=[r.pk]), {"claim": "c", "risk": "r", "control": "x"}),
        "exception_request": (
            reverse("exception_request", args=[f.finding.pk]),
            {
                "justification": "j",
                "compensating_control": "c",
                "expires_at": local_minute(timedelta(days=5)),
            },
        ),
        "evidence_link": (
            reverse("evidence_create", args=[r.pk, "link"]),
            {"category": security.pk, "title": "Late link", "url": "https://example.com/x"},
        ),
        "evidence_runbook": (
            reverse("evidence_create", args=[r.pk, "runbook"]),
            {"name": "Failover", "owner": "mia"},
        ),
        "evidence_restore_drill": (
            reverse("evidence_create", args=[r.pk, "restore_drill"]),
            {
                "title": "Drill",
                "database": "ledger",
                "backup_source": "pgBackRest",
                "target_environment": "stage",
                "requested_recovery_point": local_minute(-timedelta(hours=3)),
                "actual_recovery_point": local_minute(-timedelta(hours=3, minutes=2)),
                "started_at": local_minute(-timedelta(hours=2)),
                "ended_at": local_minute(-timedelta(hours=1)),
                "rpo_target_minutes": "5",
                "rto_target_minutes": "120",
                "validation_queries": "select 1",
                "validation_passed": "on",
            },
        ),
    }


FROZEN_FORMS = [
    "review_edit",
    "score_edit",
    "finding_create",
    "finding_edit",
    "claim_create",
    "exception_request",
    "evidence_link",
    "evidence_runbook",
    "evidence_restore_drill",
]


@pytest.mark.parametrize("name", FROZEN_FORMS)
def test_decided_review_refuses_form_changes(client, frozen, architect, name):
    client.force_login(architect)
    url, data = frozen_posts(frozen)[name]
    before = database_state()
    response = client.post(url, data)
    assert response.status_code == 200
    assert FROZEN in response.content.decode()
    assert database_state() == before


def test_decided_review_refuses_a_file_upload(client, frozen, member, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    client.force_login(member)
    before = database_state()
    response = client.post(
        reverse("evidence_create", args=[frozen.review.pk, "file"]),
        {
            "category": category(frozen.review, "backup").pk,
            "title": "Late file",
            "file": SimpleUploadedFile("late.txt", b"late"),
        },
    )
    assert response.status_code == 200 and FROZEN in response.content.decode()
    assert database_state() == before
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_decided_review_refuses_a_checklist_answer(client, frozen, member):
    client.force_login(member)
    url = reverse("checklist_answer", args=[frozen.review.pk, frozen.item.pk])
    before = database_state()
    response = client.post(url, {"answer": "no", "version": "1"}, follow=True)
    assert response.status_code == 200 and FROZEN in response.content.decode()
    response = client.post(url, {"answer": "no", "version": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 422 and FROZEN in response.content.decode()
    assert b"<select" not in response.content  # the refused row is shown read-only
    assert database_state() == before


def test_decided_review_refuses_a_second_decision(client, frozen, architect):
    client.force_login(architect)
    before = database_state()
    response = client.post(
        reverse("decision_create", args=[frozen.review.pk]), {"next_review": in_days(60)}, follow=True
    )
    assert response.status_code == 200 and b"This review is already decided." in response.content
    assert database_state() == before


@pytest.mark.parametrize(
    ("which", "action"), [("pending", "sign"), ("pending", "reject"), ("signed", "revoke")]
)
def test_decided_review_refuses_exception_decisions(client, frozen, lead, which, action):
    exc = getattr(frozen, which)
    client.force_login(lead)
    before = database_state()
    response = client.post(reverse("exception_decide", args=[exc.pk, action]), follow=True)
    assert response.status_code == 200 and FROZEN in response.content.decode()
    assert database_state() == before


def test_decided_review_hides_the_change_buttons(client, frozen, architect, lead):
    client.force_login(lead)
    body = client.get(frozen.review.get_absolute_url()).content.decode()
    assert reverse("exception_decide", args=[frozen.pending.pk, "sign"]) not in body
    assert reverse("finding_create", args=[frozen.review.pk]) not in body
    assert reverse("decision_create", args=[frozen.review.pk]) not in body
    assert "Decision recorded" in body


def test_decided_reviews_requests_leave_the_exception_queue(client, frozen, lead):
    client.force_login(lead)
    assert b"Pending P1" not in client.get(reverse("exception_queue")).content


def test_membership_of_two_teams_sees_both(client, architect, outsider, system, other_team):
    """A person in two teams sees both teams' systems, with the role each membership gives."""
    Membership.objects.create(user=architect, team=other_team, role=Role.AUDITOR)
    theirs = SystemFactory(team=other_team, name="Accounts", slug="accounts")
    client.force_login(architect)
    body = client.get(reverse("dashboard")).content
    assert b"Ledger" in body and b"Accounts" in body
    assert client.get(reverse("system_edit", args=[system.slug])).status_code == 200
    assert client.get(reverse("system_edit", args=[theirs.slug])).status_code == 403
