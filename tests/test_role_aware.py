"""Role-aware pages: the menu shows what each role can do, the dashboard's "Needs you" panel lists what
waits for the person (in a constant number of queries), pages offer no action the role would be refused,
and an administrator or a person without a team learns where to go."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from evidence.models import Evidence
from reviews import loosening, needs_you, services
from reviews.models import ExceptionState, InstallationAuditor, Level, ReviewState, RiskException, Role

from .factories import MembershipFactory, ReviewFactory, SystemFactory, UserFactory, category, score_all
from .test_access_matrix import MATRIX, OK, route_to_path, world  # noqa: F401  (world: a fixture)

pytestmark = pytest.mark.django_db


class Targets(HTMLParser):
    """Every place a page sends the user: links and htmx GETs (GET), forms and htmx POSTs (POST)."""

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self.found: set[tuple[str, str]] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.found.add(("get", a["href"]))
        if tag == "form":
            method = (a.get("method") or "get").lower()
            self.found.add((method, a.get("action") or self.url))
        if a.get("hx-get"):
            self.found.add(("get", a["hx-get"]))
        if a.get("hx-post"):
            self.found.add(("post", a["hx-post"]))


SKIP = ("/login/", "/logout/", "/static/", "/admin/", "/api/", "/guide/", "/media/")


def refused_targets(html: str, url: str, role: str) -> list[str]:
    parser = Targets(url)
    parser.feed(html)
    wrong = []
    for method, target in sorted(parser.found):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith(SKIP):
            continue
        try:
            match = resolve(parts.path)
        except Resolver404:
            wrong.append(f"{method.upper()} {parts.path}: no such page")
            continue
        row = MATRIX[match.route]
        rule = getattr(row, method, None)
        if rule is None:
            wrong.append(f"{method.upper()} {parts.path}: the page does not answer {method.upper()}")
        elif rule(role, True) != OK:
            wrong.append(f"{method.upper()} {parts.path}: {rule(role, True)} for {role}")
    return wrong


# --- No action a role would be refused -------------------------------------------------------------

PAGES = [
    "",
    "portfolio/",
    "actions/",
    "exceptions/",
    "audit/decisions/",
    "audit/trail/",
    "audit/verify/",
    "api-tokens/",
    "systems/<slug:slug>/",
    "systems/<slug:slug>/history/",
    "systems/<slug:slug>/probes/",
    "reviews/<int:review_id>/",
    "reviews/<int:review_id>/audit/",
    "reviews/<int:review_id>/checklist/<slug:code>/",
    *[f"reviews/<int:review_id>/meeting/{step}/" for step in range(1, 14)],
    "reviews/<int:review_id>/meeting/decision/",
    "findings/<int:finding_id>/edit/",
    "exceptions/<int:exception_id>/",
    "decisions/<int:decision_id>/",
    "probes/targets/<int:target_id>/",
    "probes/runs/<int:run_id>/",
]


def _matrix_route(route: str) -> str:
    return route if route in MATRIX else "reviews/<int:review_id>/meeting/<int:step>/"


@pytest.mark.parametrize("role", ["architect", "lead", "member", "auditor", "installation_auditor"])
def test_pages_offer_no_link_or_form_the_role_would_be_refused(client, world, role):  # noqa: F811
    users, own, _other = world
    client.force_login(users[role])
    wrong = []
    for route in PAGES:
        if MATRIX[_matrix_route(route)].get(role, True) != OK:
            continue  # the role may not open the page at all (the access matrix tests that)
        path = route_to_path(route, own)
        response = client.get(path)
        assert response.status_code == 200, f"{path}: {response.status_code}"
        wrong += [f"{path}: {w}" for w in refused_targets(response.content.decode(), path, role)]
    assert not wrong, f"{role} is offered what they would be refused:\n" + "\n".join(wrong)


# --- The world of the other tests: Payments (alice architect, linus lead, mia member, charlie auditor),
# Identity (bob architect), an installation-wide auditor, a superuser without a team, a newcomer.


class NavLinks(HTMLParser):
    """The entries of the main menu, as their visible text (counts included)."""

    def __init__(self):
        super().__init__()
        self.entries: list[str] = []
        self._in_nav = self._in_link = self._in_sr = False
        self._depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "nav" and a.get("aria-label") == "Main":
            self._in_nav = True
        elif self._in_nav and tag == "a":
            self._in_link = True
            self.entries.append("")
        elif self._in_link and tag == "span" and "sr-only" in (a.get("class") or ""):
            self._in_sr = True

    def handle_endtag(self, tag):
        if tag == "nav":
            self._in_nav = False
        elif tag == "a":
            self._in_link = False
            if self.entries:
                self.entries[-1] = " ".join(self.entries[-1].split())
        elif tag == "span":
            self._in_sr = False

    def handle_data(self, data):
        if self._in_link and not self._in_sr:
            self.entries[-1] += data


# Entries every signed-in person has whatever their roles (the guide): not what these tests are about.
FOR_EVERYONE = {"Guide"}


def menu_of(client, user) -> list[str]:
    client.force_login(user)
    parser = NavLinks()
    parser.feed(client.get(reverse("dashboard")).content.decode())
    return [entry for entry in parser.entries if entry not in FOR_EVERYONE]


@pytest.fixture
def payments(team, system, review, architect, lead, member, auditor):
    """Two requested exceptions for linus to sign (one his own request: not his to sign), a loosening
    proposed by mia, a stale probe result, and findings owned by mia, one overdue."""
    second_lead = UserFactory(username="lena", first_name="Lena", last_name="Lind")
    MembershipFactory(user=second_lead, team=team, role=Role.LEAD)
    today = timezone.localdate()
    p1s = [
        services.add_finding(
            review=review, category=category(review, "backup"), level=Level.P1, actor=member, title=title
        )
        for title in ("No restore drill", "Replica lag unmonitored", "Owner role for the app")
    ]
    terms = {
        "justification": "Drill booked",
        "compensating_control": "Snapshots checked by hand",
        "expires_at": timezone.now() + timedelta(days=30),
    }
    services.request_exception(finding=p1s[0], actor=member, **terms)
    services.request_exception(finding=p1s[1], actor=architect, **terms)
    services.request_exception(finding=p1s[2], actor=lead, **terms)  # his own: lena signs it
    blocker = services.add_finding(
        review=review, category=category(review, "security"), level=Level.P0, actor=member, title="Superuser"
    )
    proposal = loosening.propose(
        finding=blocker, actor=member, level=Level.P3, status="open", reason="Staging only"
    )
    overdue = services.add_finding(
        review=review,
        category=category(review, "observability"),
        level=Level.P2,
        actor=architect,
        owner=member,
        due_date=today - timedelta(days=3),
        title="No alert on lag",
    )
    later = services.add_finding(
        review=review,
        category=category(review, "capacity"),
        level=Level.P2,
        actor=architect,
        owner=member,
        due_date=today + timedelta(days=20),
        title="Capacity envelope missing",
    )
    undated = services.add_finding(
        review=review,
        category=category(review, "runbooks"),
        level=Level.P3,
        actor=architect,
        owner=member,
        title="Runbook typo",
    )
    Evidence.objects.create(
        review=review,
        category=category(review, "query-index"),
        kind="probe_result",
        title="Index usage",
        observed_at=timezone.now() - timedelta(days=30),
        added_by=member,
    )
    return {
        "second_lead": second_lead,
        "p1s": p1s,
        "proposal": proposal,
        "overdue": overdue,
        "later": later,
        "undated": undated,
    }


@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True, email="root@example.com")


@pytest.fixture
def inspector(db):
    user = UserFactory(username="inspector")
    InstallationAuditor.objects.create(user=user)
    return user


# --- Menus ------------------------------------------------------------------------------------------


def test_menus_show_what_each_role_can_do(
    client, payments, architect, lead, member, auditor, outsider, inspector, superuser
):
    assert menu_of(client, lead) == [
        "Systems",
        "Portfolio",
        "Actions",
        "Exceptions to sign 3",  # two exceptions (not his own request) and one loosening
        "Audit",
        "API",
    ]
    assert menu_of(client, architect) == [
        "Systems",
        "Portfolio",
        "Actions",
        "Loosenings to confirm 1",
        "Audit",
        "API",
    ]
    assert menu_of(client, member) == ["Systems", "Portfolio", "Actions", "Audit"]
    assert menu_of(client, auditor) == ["Systems", "Portfolio", "Audit"]
    assert menu_of(client, inspector) == ["Systems", "Portfolio", "Audit"]
    # Another team's architect: the same entries, and nothing of Payments counted.
    assert menu_of(client, outsider) == [
        "Systems",
        "Portfolio",
        "Actions",
        "Loosenings to confirm",
        "Audit",
        "API",
    ]
    assert menu_of(client, superuser) == ["Systems", "Catalogue", "Admin"]


def test_the_count_on_the_menu_says_what_it_counts_to_screen_readers(client, payments, lead):
    client.force_login(lead)
    html = client.get(reverse("portfolio")).content.decode()
    assert (
        '<span class="sr-only">: 2 exceptions awaiting your signature, 1 loosening awaiting your '
        "confirmation</span>" in html
    )


def test_the_menu_costs_at_most_one_query_of_its_own_whatever_waits(client, payments, lead, member, review):
    """The access the page reads anyway, and one query for the count: only for an architect or lead."""
    with CaptureQueriesContext(connection) as ctx:
        needs_you.waiting(member, now=timezone.now())
    assert len(ctx) <= 1  # the access, read once per request; no count for a member
    lead.__dict__.pop("_readiness_access", None)
    needs_you.policy.role_in(lead, review.system.team_id)  # the access, as every page reads it
    with CaptureQueriesContext(connection) as ctx:
        counts = needs_you.waiting(lead, now=timezone.now())
    assert len(ctx) == 1 and counts == needs_you.Waiting(signatures=2, loosenings=1)


def test_htmx_fragments_do_not_pay_for_the_menu(client, payments, lead, review):
    """The menu is lazy: a fragment that never draws it runs no query for it."""
    client.force_login(lead)

    def counts_waiting(url: str, **headers) -> bool:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, **headers).status_code == 200
        return any("reviews_loosening" in q["sql"] and "COUNT(" in q["sql"] for q in ctx.captured_queries)

    assert counts_waiting(reverse("portfolio"))  # a page draws the menu
    assert not counts_waiting(reverse("review_changes", args=[review.pk]), HTTP_HX_REQUEST="true")


def test_the_queue_page_says_what_the_role_does(client, payments, architect, lead, member):
    client.force_login(architect)
    html = client.get(reverse("exception_queue")).content.decode()
    assert "<h1>Loosenings awaiting your confirmation</h1>" in html
    assert "Nothing awaits your signature" not in html
    client.force_login(lead)
    html = client.get(reverse("exception_queue")).content.decode()
    assert "<h1>Exceptions awaiting your signature</h1>" in html
    assert "Owner role for the app" not in html  # his own request
    client.force_login(member)
    html = client.get(reverse("exception_queue")).content.decode()
    assert "your roles do neither" in html


# --- The "Needs you" panel --------------------------------------------------------------------------


def panel_of(client, user) -> needs_you.NeedsYou:
    client.force_login(user)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return response.context["needs_you"], response.content.decode()


def test_a_lead_sees_the_signatures_and_confirmations_waiting_and_the_reviews_they_chair(
    client, payments, lead, system, architect
):
    chaired = ReviewFactory(system=system, created_by=architect, chair=lead, release_scope="Ledger 3.1")
    panel, html = panel_of(client, lead)
    assert [e.finding.title for e in panel.signatures.items] == [
        "No restore drill",
        "Replica lag unmonitored",
    ]
    assert [lo.pk for lo in panel.loosenings.items] == [payments["proposal"].pk]
    assert [r.pk for r in panel.chaired.items] == [chaired.pk]
    # Each item links to where to act.
    first = panel.signatures.items[0]
    assert f'href="{first.get_absolute_url()}"' in html
    assert f'href="{reverse("finding_edit", args=[payments["proposal"].finding_id])}"' in html
    assert f'href="{reverse("meeting", args=[chaired.pk])}"' in html
    assert 'id="needs-decisions"' not in html  # decisions are the auditors' list


def test_a_member_sees_the_findings_they_own_overdue_first_and_stale_evidence(
    client, payments, member, review
):
    panel, html = panel_of(client, member)
    assert panel.signatures is None and panel.loosenings is None and panel.chaired is None
    assert [f.pk for f in panel.findings.items] == [
        payments["overdue"].pk,
        payments["later"].pk,
        payments["undated"].pk,
    ]
    assert "overdue by 3 days" in html
    assert [row["review_id"] for row in panel.stale.items] == [review.pk]
    assert panel.stale.items[0]["n"] == 1
    assert f'href="{reverse("review_detail", args=[review.pk])}#evidence"' in html
    assert "Exceptions to sign" not in html


def test_resolved_findings_and_decided_reviews_leave_the_panel(
    client, payments, member, lead, system, architect
):
    later = payments["later"]
    loosening.update_or_propose(
        finding=later,
        actor=member,
        version=later.version,
        title=later.title,
        description="",
        level=Level.P2,
        status="resolved",
        owner=member,
        due_date=later.due_date,
    )
    decided = ReviewFactory(system=system, created_by=architect, chair=lead, release_scope="Ledger 2.9")
    decided.state = ReviewState.DECIDED
    decided.save()
    panel, _html = panel_of(client, member)
    assert later.pk not in [f.pk for f in panel.findings.items]
    panel, _html = panel_of(client, lead)
    assert decided.pk not in [r.pk for r in panel.chaired.items]


def test_an_auditor_sees_the_decisions_recorded_lately_and_owns_nothing(
    client, payments, auditor, inspector, system, architect
):
    decided = ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="Ledger 2.9")
    score_all(decided, architect)
    decision = services.record_decision(
        review=decided, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    for user in (auditor, inspector):
        panel, html = panel_of(client, user)
        assert panel.findings is None and panel.signatures is None and panel.stale is None
        assert [d.pk for d in panel.decisions.items] == [decision.pk]
        assert f'href="{reverse("decision_detail", args=[decision.pk])}"' in html


def test_another_team_sees_nothing_of_payments(client, payments, outsider):
    panel, html = panel_of(client, outsider)
    assert not panel.anything
    assert "Nothing waits for you right now." in html
    assert "No restore drill" not in html and "Superuser" not in html


def test_the_panel_and_the_page_take_the_same_queries_for_one_item_or_many(
    client, payments, lead, member, review, architect
):
    def count(user) -> int:
        client.force_login(user)
        client.get(reverse("dashboard"))  # warm per-process caches
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("dashboard")).status_code == 200
        return len(ctx)

    def panel_queries(user) -> int:
        user.__dict__.pop("_readiness_access", None)
        with CaptureQueriesContext(connection) as ctx:
            needs_you.needs_you(user, now=timezone.now(), today=timezone.localdate())
        return len(ctx)

    few = {user.pk: count(user) for user in (lead, member)}
    assert panel_queries(lead) <= 1 + 6  # the access; signatures, loosenings, raises, findings, chairs, stale
    today = timezone.localdate()
    for i in range(12):  # more than the panel shows of each list
        f = services.add_finding(
            review=review, category=category(review, "backup"), level=Level.P1, actor=member, title=f"P1 {i}"
        )
        services.request_exception(
            finding=f,
            actor=architect,
            justification="j",
            compensating_control="c",
            expires_at=timezone.now() + timedelta(days=30),
        )
        services.add_finding(
            review=review,
            category=category(review, "capacity"),
            level=Level.P2,
            actor=architect,
            owner=member,
            due_date=today - timedelta(days=i),
            title=f"P2 {i}",
        )
        system = SystemFactory(team=review.system.team, name=f"Store {i}", slug=f"store-{i}")
        other = ReviewFactory(system=system, created_by=architect, chair=lead, release_scope=f"Store {i} 1.0")
        Evidence.objects.create(
            review=other,
            category=category(other, "query-index"),
            kind="probe_result",
            title="Index usage",
            observed_at=timezone.now() - timedelta(days=30),
            added_by=member,
        )
    assert {user.pk: count(user) for user in (lead, member)} == few
    panel, html = panel_of(client, lead)
    assert len(panel.signatures.items) == needs_you.LIMIT and panel.signatures.more
    assert len(panel.chaired.items) == needs_you.LIMIT and panel.chaired.more
    assert f"{needs_you.LIMIT}+" in html


# --- Actions hidden where they would be refused -----------------------------------------------------


def request_links(html: str, finding) -> int:
    return html.count(f'href="{reverse("exception_request", args=[finding.pk])}"')


def test_request_an_exception_shows_only_where_a_request_would_be_accepted(
    client, review, member, lead, auditor
):
    f = services.add_finding(
        review=review, category=category(review, "backup"), level=Level.P1, actor=member, title="No drill"
    )
    client.force_login(member)
    meeting_step = reverse("meeting_step", args=[review.pk, 12])

    def shown() -> tuple[int, int]:
        return (
            request_links(client.get(review.get_absolute_url()).content.decode(), f),
            request_links(client.get(meeting_step).content.decode(), f),
        )

    assert shown() == (1, 1)
    now = timezone.now()
    terms = {"justification": "j", "compensating_control": "c"}
    exc = services.request_exception(finding=f, actor=member, expires_at=now + timedelta(days=60), **terms)
    assert shown() == (0, 0)  # awaiting a signature
    services.sign_exception(exception=exc, actor=lead)
    assert shown() == (0, 0)  # signed, with weeks to run
    RiskException.objects.filter(pk=exc.pk).update(expires_at=now + timedelta(days=5))
    assert shown() == (1, 1)  # signed, but lapsing soon: time to ask for the next one
    RiskException.objects.filter(pk=exc.pk).update(state=ExceptionState.REVOKED)
    assert shown() == (1, 1)
    client.force_login(auditor)  # reads, never requests
    assert request_links(client.get(review.get_absolute_url()).content.decode(), f) == 0


def test_the_service_refuses_a_second_open_request_with_a_clear_message(review, member, architect, lead):
    f = services.add_finding(
        review=review, category=category(review, "backup"), level=Level.P1, actor=member, title="No drill"
    )
    now = timezone.now()
    terms = {"justification": "j", "compensating_control": "c", "expires_at": now + timedelta(days=60)}
    first = services.request_exception(finding=f, actor=member, **terms)
    with pytest.raises(services.ServiceError) as refused:
        services.request_exception(finding=f, actor=architect, **terms)
    assert "already has an exception awaiting a signature" in " ".join(refused.value.messages)
    services.sign_exception(exception=first, actor=lead)
    with pytest.raises(services.ServiceError) as refused:
        services.request_exception(finding=f, actor=architect, **terms)
    assert "already has a signed exception until" in " ".join(refused.value.messages)
    assert RiskException.objects.filter(finding=f).count() == 1
    # In its last days a signed exception may be followed by the next request, so the P1 stays covered.
    RiskException.objects.filter(pk=first.pk).update(expires_at=now + timedelta(days=3))
    renewal = services.request_exception(finding=f, actor=architect, **terms)
    assert renewal.state == ExceptionState.REQUESTED
    # A rejected request does not stand in the way of a better one.
    services.reject_exception(exception=renewal, actor=lead)
    services.request_exception(finding=f, actor=member, **terms)


def test_the_request_page_says_why_instead_of_offering_a_form_that_would_be_refused(client, review, member):
    f = services.add_finding(
        review=review, category=category(review, "backup"), level=Level.P1, actor=member, title="No drill"
    )
    terms = {"justification": "j", "compensating_control": "c"}
    exc = services.request_exception(
        finding=f, actor=member, expires_at=timezone.now() + timedelta(days=60), **terms
    )
    client.force_login(member)
    url = reverse("exception_request", args=[f.pk])
    html = client.get(url).content.decode()
    assert 'id="exception-refused"' in html and "awaiting a signature" in html
    assert "<form" not in html.split('id="main"')[1] and exc.get_absolute_url() in html
    # Posted anyway (an old tab): refused on the form, nothing created.
    response = client.post(
        url, {"justification": "j2", "compensating_control": "c2", "expires_at": "2099-01-01T00:00"}
    )
    assert response.status_code == 200 and "awaiting a signature" in response.content.decode()
    assert RiskException.objects.filter(finding=f).count() == 1


def test_a_lapsed_request_offers_no_signature(client, review, member, lead):
    f = services.add_finding(
        review=review, category=category(review, "backup"), level=Level.P1, actor=member, title="No drill"
    )
    exc = services.request_exception(
        finding=f,
        actor=member,
        justification="j",
        compensating_control="c",
        expires_at=timezone.now() + timedelta(days=2),
    )
    RiskException.objects.filter(pk=exc.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    client.force_login(lead)
    sign = f'action="{reverse("exception_decide", args=[exc.pk, "sign"])}"'
    reject = f'action="{reverse("exception_decide", args=[exc.pk, "reject"])}"'
    for url in (review.get_absolute_url(), exc.get_absolute_url()):
        html = client.get(url).content.decode()
        assert sign not in html and reject in html, url


# --- First run --------------------------------------------------------------------------------------


def test_an_administrator_without_a_team_is_shown_how_to_set_up(client, superuser):
    client.force_login(superuser)
    html = client.get(reverse("dashboard")).content.decode()
    assert 'id="first-run"' in html and "Set up Readiness" in html
    for name in ("admin:reviews_team_add", "admin:auth_user_add", "admin:reviews_installationauditor_add"):
        assert f'href="{reverse(name)}"' in html, name
    assert 'href="/guide/"' in html
    assert "No systems yet" not in html and 'id="needs-you"' not in html


def test_once_set_up_the_administrator_learns_why_the_list_is_empty(client, superuser, system, architect):
    client.force_login(superuser)
    html = client.get(reverse("dashboard")).content.decode()
    assert "Readiness is set up, but you have no role in a team" in html
    assert "1 system in 1 team, with 1 role given" in html


def test_a_person_without_a_team_is_told_who_to_ask(client, superuser, db):
    newcomer = UserFactory(username="newcomer")
    client.force_login(newcomer)
    html = client.get(reverse("dashboard")).content.decode()
    assert "You are not in a team yet" in html
    assert "root@example.com" in html and 'id="first-run"' not in html
    assert "No systems yet" not in html


def test_a_member_of_a_team_without_systems_is_told_who_adds_them(client, team, member, architect, lead):
    client.force_login(member)
    html = client.get(reverse("dashboard")).content.decode()
    assert "No systems yet" in html
    assert architect.get_full_name() in html and lead.get_full_name() in html


def change_targets(html: str, url: str) -> list[str]:
    """The targets of a page that change something: every POST, and every page that architects may open
    and auditors may not (the forms: score, finding, evidence, exception, scope, decision)."""
    parser = Targets(url)
    parser.feed(html)
    found = []
    for method, target in sorted(parser.found):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith(SKIP):
            continue
        rule = getattr(MATRIX[resolve(parts.path).route], method)
        if method == "post" or (rule("architect", True) == OK and rule("auditor", True) != OK):
            found.append(f"{method.upper()} {parts.path}")
    return found


@pytest.mark.parametrize("role", ["architect", "lead", "member"])
def test_a_decided_review_offers_no_change_to_anyone(client, world, role):  # noqa: F811
    """A decision freezes its review: its pages offer no change, whoever reads them."""
    from reviews.models import Decision

    users, own, _other = world
    review_id = Decision.objects.get(pk=own["decision_id"]).review_id
    client.force_login(users[role])
    wrong = []
    for path in (
        reverse("review_detail", args=[review_id]),
        reverse("meeting_decision", args=[review_id]),
        reverse("meeting_step", args=[review_id, 12]),
        reverse("review_checklist", args=[review_id, "backup"]),
    ):
        html = client.get(path).content.decode()
        wrong += [f"{path}: {t}" for t in change_targets(html, path)]
    assert not wrong, "\n".join(wrong)
