"""The access matrix: every URL pattern of the project × every role × own team and another team, for GET
and for every POST. It walks the URL resolver, so a new page without a row in MATRIX fails here.

Roles: the four team roles (members of Payments only), an installation-wide auditor (no team, reads
everything, changes nothing) and an anonymous visitor. "own" requests use Payments' objects, "other"
requests the same kinds of objects of Identity. Each request runs in a savepoint that is rolled back, so
one role's change never changes what the next role meets; a refused request must not write an audit
event either."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from api import services as api_services
from evidence import services as evidence_services
from probes import services as probe_services
from probes.models import ProbeRun, RunState
from reviews import loosening, score_raise, services
from reviews.models import AuditEvent, ChecklistItem, InstallationAuditor, Level, Role

from .factories import MembershipFactory, ReviewFactory, SystemFactory, TeamFactory, UserFactory, category

pytestmark = pytest.mark.django_db

TEAM_ROLES = ("architect", "lead", "member", "auditor")
ROLES = (*TEAM_ROLES, "installation_auditor", "anonymous")
EDITORS = {"architect", "lead", "member"}
CHAIRS = {"architect", "lead"}

OK = "ok"  # 2xx, or a redirect that is not to the login page
LOGIN = "login"  # 302 to the login page
JSON_401 = "401"
JSON_404 = "json 404"


# --- Who may do what: a rule per access class. Each takes (role, own) and gives the expected answer.


def public(role: str, own: bool) -> str:
    return OK


def signed_in(role: str, own: bool) -> str:
    return LOGIN if role == "anonymous" else OK


def api_not_found(role: str, own: bool) -> str:
    """What is not an operation is a JSON 404 for anyone: the API's root says nothing about the API."""
    return JSON_404


def api(role: str, own: bool) -> str:
    """The JSON API authenticates bearer tokens only: a browser session is not enough (tests/api covers
    each team's tokens)."""
    return JSON_401


def _object(allowed: set[str]):
    """An object of a team: 404 to who may not see it, 403 to who sees it but may not do this."""

    def rule(role: str, own: bool) -> str:
        if role == "anonymous":
            return LOGIN
        if role == "installation_auditor":
            return OK if not allowed else "403"
        if not own:
            return "404"
        if not allowed or role in allowed:
            return OK
        return "403"

    return rule


read = _object(set())
edit = _object(EDITORS)
chair = _object(CHAIRS)
sign = _object({"lead"})


def proposer(role: str, own: bool) -> str:
    """Withdrawing a loosening: only its proposer (the member, in this world) may."""
    if role == "anonymous":
        return LOGIN
    if role == "installation_auditor":
        return "403"
    if not own:
        return "404"
    return OK if role == "member" else "403"


def chairs_somewhere(role: str, own: bool) -> str:
    """Pages without an object that only an architect or lead of some team may use."""
    if role == "anonymous":
        return LOGIN
    return OK if role in CHAIRS else "403"


def team_tokens(role: str, own: bool) -> str:
    """A token is seen by its team's members (404 to everyone else, the installation-wide auditor too:
    tokens are not part of what auditors read) and revoked by its architects and leads."""
    if role == "anonymous":
        return LOGIN
    if role == "installation_auditor" or not own:
        return "404"
    return OK if role in CHAIRS else "403"


def installation_admins(role: str, own: bool) -> str:
    """The checklist catalogue: installation admins (is_staff) only, none of the roles here."""
    return LOGIN if role == "anonymous" else "403"


@dataclass(frozen=True)
class Row:
    get: object | None = None  # a rule, or None: GET is not allowed (405 for a signed-in user)
    post: object | None = None
    htmx: bool = False  # the page is an htmx fragment: send HX-Request


# Keys are the routes as the resolver writes them. Patterns without an object kwarg are tried once.
MATRIX: dict[str, Row] = {
    "": Row(get=signed_in),
    "health/": Row(get=public),
    # Prometheus: no session opens it; without METRICS_TOKEN it does not exist (tests/test_metrics.py).
    "metrics": Row(get=lambda role, own: "404"),
    "login/": Row(get=public, post=public),
    "logout/": Row(post=lambda role, own: LOGIN),  # signed out, and sent to the login page
    # Single sign-on: without OIDC_RP_CLIENT_ID it does not exist (with it: tests/sso/).
    "oidc/authenticate/": Row(get=lambda role, own: "404"),
    "oidc/callback/": Row(get=lambda role, own: "404"),
    "systems/new/": Row(get=chairs_somewhere, post=chairs_somewhere),
    "systems/<slug:slug>/": Row(get=read),
    "systems/<slug:slug>/edit/": Row(get=chair, post=chair),
    "systems/<slug:slug>/reviews/new/": Row(get=chair, post=chair),
    "reviews/<int:review_id>/": Row(get=read),
    "reviews/<int:review_id>/edit/": Row(get=chair, post=chair),
    "reviews/<int:review_id>/audit/": Row(get=read),
    "reviews/<int:review_id>/audit.csv": Row(get=read),
    "reviews/<int:review_id>/checklist/<slug:code>/": Row(get=read),
    "reviews/<int:review_id>/answers/<int:item_id>/": Row(post=edit),
    "reviews/<int:review_id>/answers/<int:item_id>/undo/": Row(post=edit),
    "reviews/<int:review_id>/scores/<slug:code>/": Row(get=edit, post=edit),
    "reviews/<int:review_id>/findings/new/": Row(get=edit, post=edit),
    "reviews/<int:review_id>/claims/new/": Row(get=edit, post=edit),
    "reviews/<int:review_id>/evidence/new/<slug:kind>/": Row(get=edit, post=edit),
    "reviews/<int:review_id>/evidence/import/": Row(get=edit, post=edit),
    "reviews/<int:review_id>/evidence/import/template/<slug:sheet>.csv": Row(get=edit),
    "reviews/<int:review_id>/decide/": Row(get=chair, post=chair),
    "reviews/<int:review_id>/meeting/": Row(get=read),
    "reviews/<int:review_id>/meeting/<int:step>/": Row(get=read),
    "reviews/<int:review_id>/meeting/<int:step>/here/": Row(post=chair),
    "reviews/<int:review_id>/meeting/decision/": Row(get=read),
    "reviews/<int:review_id>/meeting/decide/": Row(post=chair),
    "reviews/<int:review_id>/meeting/scope/": Row(post=chair),
    "reviews/<int:review_id>/meeting/next-review/": Row(post=chair),
    "reviews/<int:review_id>/meeting/scores/<slug:code>/": Row(post=edit, htmx=True),
    "reviews/<int:review_id>/meeting/scores/<slug:code>/undo/": Row(post=edit, htmx=True),
    "reviews/<int:review_id>/meeting/findings/<slug:code>/": Row(post=edit, htmx=True),
    "reviews/<int:review_id>/meeting/pulse/": Row(get=read, htmx=True),
    "reviews/<int:review_id>/meeting/evidence/<slug:code>/": Row(post=edit, htmx=True),
    "reviews/<int:review_id>/meeting/checklist/<slug:code>/": Row(get=read, htmx=True),
    "findings/<int:finding_id>/meeting/": Row(get=edit, post=edit, htmx=True),
    "findings/<int:finding_id>/meeting/exception/": Row(get=edit, post=edit, htmx=True),
    "findings/<int:finding_id>/edit/": Row(get=edit, post=edit),
    "findings/<int:finding_id>/exceptions/new/": Row(get=edit, post=edit),
    "exceptions/": Row(get=signed_in),
    "portfolio/": Row(get=signed_in),
    "systems/<slug:slug>/history/": Row(get=read),
    "actions/": Row(get=signed_in),
    "actions/count/": Row(get=signed_in, htmx=True),
    "reviews/<int:review_id>/changes/": Row(get=read, htmx=True),
    "actions/reminders/": Row(post=signed_in),  # the user's own reminder choice
    "exceptions/<int:exception_id>/": Row(get=read),
    "exceptions/<int:exception_id>/edit/": Row(get=edit, post=edit),
    "exceptions/<int:exception_id>/<slug:action>/": Row(post=sign),
    # A member proposed the loosening: its architect and lead decide it, only the member withdraws it.
    "loosenings/<int:loosening_id>/confirm/": Row(post=chair),
    "loosenings/<int:loosening_id>/reject/": Row(post=chair),
    "loosenings/<int:loosening_id>/withdraw/": Row(post=proposer),
    # A member proposed raising backup from 1 to 2: the same four eyes as a loosening.
    "score-raises/<int:raise_id>/confirm/": Row(post=chair),
    "score-raises/<int:raise_id>/reject/": Row(post=chair),
    "score-raises/<int:raise_id>/withdraw/": Row(post=proposer),
    "evidence/<int:evidence_id>/file/": Row(get=read),
    "decisions/<int:decision_id>/": Row(get=read),
    "decisions/<int:decision_id>/record.json": Row(get=read),
    "decisions/<int:decision_id>/record.pdf": Row(get=read),
    "audit/decisions/": Row(get=signed_in),
    "audit/trail/": Row(get=signed_in),
    "audit/trail.csv": Row(get=signed_in),
    "audit/verify/": Row(get=signed_in, post=signed_in),
    "systems/<slug:slug>/probes/": Row(get=read),
    # Where the worker connects and what SQL it runs: architects and leads; members run probes.
    "systems/<slug:slug>/probes/new/": Row(get=chair, post=chair),
    "probes/targets/<int:target_id>/": Row(get=read),
    "probes/targets/<int:target_id>/edit/": Row(get=chair, post=chair),
    "probes/targets/<int:target_id>/test/": Row(post=edit),
    "probes/targets/<int:target_id>/test/status/": Row(get=read, htmx=True),
    "probes/targets/<int:target_id>/checks/new/": Row(get=chair, post=chair),
    "probes/targets/<int:target_id>/runs/new/": Row(post=edit),
    "probes/reviews/<int:review_id>/panel/": Row(get=read),
    "probes/reviews/<int:review_id>/meeting/": Row(get=read),
    "probes/reviews/<int:review_id>/meeting/targets/<int:target_id>/run/": Row(post=edit),
    "probes/checks/<int:check_id>/delete/": Row(post=chair),
    "probes/runs/<int:run_id>/": Row(get=read),
    "probes/runs/<int:run_id>/progress/": Row(get=read),
    "api-tokens/": Row(get=signed_in),
    "api-tokens/new/": Row(post=chairs_somewhere),
    "api-tokens/<int:token_id>/revoke/": Row(post=team_tokens),
    # The review guide: for anyone signed in, like every page of the app (it names no team's data).
    "guide/": Row(get=signed_in),
    "guide/<slug:section>/": Row(get=signed_in),
    # The checklist catalogue as code (tests/reviews/test_catalogue_code.py covers the admins); its JSON
    # Schema is public, for editors, and holds no data.
    "catalogue/": Row(get=installation_admins),
    "catalogue/schema.json": Row(get=public),
    "catalogue/import/": Row(post=installation_admins),
    "catalogue/diff/": Row(get=installation_admins),
    "catalogue/v<int:number>.yaml": Row(get=installation_admins),
    "catalogue/v<int:number>/publish/": Row(post=installation_admins),
}

# The JSON API under /api/: every operation answers 401 JSON without a bearer token, session or not.
API_ROUTES = {
    "api/": Row(get=api_not_found),
    "^api/.+$": Row(get=api_not_found),
    # The schema and its docs page: for anyone signed in (and for a client with a token, tests/api).
    "api/openapi.json": Row(get=signed_in),
    "api/docs": Row(get=signed_in),
    "api/systems": Row(get=api),
    "api/systems/<slug>/reviews": Row(get=api),
    "api/systems/<slug>/gate": Row(get=api),
    "api/reviews/<review_id>": Row(get=api),
    "api/reviews/<review_id>/gate": Row(get=api),
    "api/reviews/<review_id>/evidence": Row(get=api),
    "api/reviews/<review_id>/evidence/links": Row(post=api),
    "api/reviews/<review_id>/evidence/restore-drills": Row(post=api),
    "api/reviews/<review_id>/evidence/migration-rehearsals": Row(post=api),
    "api/reviews/<review_id>/evidence/load-tests": Row(post=api),
    "api/reviews/<review_id>/evidence/runbook-tests": Row(post=api),
    "api/reviews/<review_id>/evidence/access-patterns": Row(post=api),
    "api/reviews/<review_id>/evidence/derived-stores": Row(post=api),
    "api/reviews/<review_id>/evidence/capacity-envelopes": Row(post=api),
    "api/reviews/<review_id>/evidence/runbooks": Row(post=api),
    "api/reviews/<review_id>/evidence/invariants": Row(post=api),
    "api/reviews/<review_id>/evidence/write-paths": Row(post=api),
    "api/reviews/<review_id>/evidence/concurrency-tests": Row(post=api),
    "api/reviews/<review_id>/evidence/forecasts": Row(post=api),
    "api/reviews/<review_id>/evidence/migration-plans": Row(post=api),
    "api/reviews/<review_id>/evidence/recovery-objectives": Row(post=api),
    "api/reviews/<review_id>/evidence/signals": Row(post=api),
    "api/reviews/<review_id>/evidence/dashboards": Row(post=api),
    "api/reviews/<review_id>/evidence/alert-rules": Row(post=api),
    "api/reviews/<review_id>/evidence/privacy-fields": Row(post=api),
    "api/probe-targets": Row(get=api),
    "api/probe-targets/<target_id>/runs": Row(post=api),
    "api/probe-runs/<run_id>": Row(get=api),
}
MATRIX.update(API_ROUTES)

SKIPPED_PREFIXES = ("admin/", "static/", "__debug__/")  # not media/: no URL may serve uploads


def project_routes() -> list[str]:
    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                yield route

    return sorted({r for r in walk(get_resolver().url_patterns) if not r.startswith(SKIPPED_PREFIXES)})


def test_every_url_pattern_is_in_the_matrix():
    routes = project_routes()
    missing = [r for r in routes if r not in MATRIX]
    assert not missing, f"URL patterns without a row in the access matrix: {missing}"
    stale = [r for r in MATRIX if r not in routes]
    assert not stale, f"Rows of the access matrix without a URL pattern: {stale}"


# --- The world: the same objects for Payments (own) and Identity (other)


def build_team_world(team, architect, lead, settings_media, member=None) -> dict:
    system = SystemFactory(team=team, name=f"{team.name} ledger", slug=f"{team.slug}-ledger")
    review = ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="3.0")
    finding = services.add_finding(
        review=review,
        category=category(review, "backup"),
        title="No restore drill",
        level=Level.P1,
        actor=architect,
    )
    exception = services.request_exception(
        finding=finding,
        justification="Drill booked for next sprint",
        compensating_control="Nightly snapshot checked by hand",
        expires_at=timezone.now() + timedelta(days=20),
        actor=architect,
    )
    evidence = evidence_services.add_file(
        review=review,
        category=category(review, "backup"),
        title="Restore log",
        upload=SimpleUploadedFile("restore.txt", b"restored 3 tables", content_type="text/plain"),
        actor=architect,
    )
    decided = ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="2.9")
    for cat in decided.catalogue.categories.all():  # all 0: the gate can decide (blocked)
        services.set_score(review=decided, category=cat, score=0, actor=architect)
    decision = services.record_decision(
        review=decided, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    target = probe_services.create_target(
        system=system, name="primary", dsn="postgresql://probe:s3cret@127.0.0.1:1/nowhere", actor=architect
    )
    check = probe_services.add_invariant_check(
        target=target, name="balances", sql="SELECT id FROM ledger_entry WHERE false", actor=architect
    )
    run = ProbeRun.objects.create(
        target=target, started_by=architect, state=RunState.DONE, progress_total=1, progress_done=1
    )
    blocker = services.add_finding(
        review=review,
        category=category(review, "security"),
        title="Superuser",
        level=Level.P0,
        actor=architect,
    )
    proposal = loosening.propose(
        finding=blocker, actor=member or lead, level=Level.P3, status="open", reason="Staging only"
    )
    services.set_score(review=review, category=category(review, "backup"), score=1, actor=architect)
    raise_ = score_raise.propose(
        review=review,
        category=category(review, "backup"),
        actor=member or lead,
        score=2,
        reason="Restore log attached",
    )
    token, _secret = api_services.create_token(team=team, actor=lead, name="ci", scopes=["read"])
    item = ChecklistItem.objects.filter(category=category(review, "backup")).first()
    return {
        "slug": system.slug,
        "review_id": review.pk,
        "code": "backup",
        "item_id": item.pk,
        "kind": "link",
        "sheet": "invariant",  # a spreadsheet import's template
        "step": 1,
        "finding_id": finding.pk,
        "exception_id": exception.pk,
        "loosening_id": proposal.pk,
        "raise_id": raise_.pk,
        "action": "sign",
        "evidence_id": evidence.pk,
        "decision_id": decision.pk,
        "target_id": target.pk,
        "check_id": check.pk,
        "run_id": run.pk,
        "token_id": token.pk,
        "section": "backup-and-restore",  # a section of the guide, the same for both teams
        "number": 1,  # a catalogue version: the installation's, the same for both teams
    }


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    own_team = TeamFactory(name="Payments", slug="payments")
    other_team = TeamFactory(name="Identity", slug="identity")
    users = {}
    for role in TEAM_ROLES:
        users[role] = UserFactory(username=role)
        MembershipFactory(user=users[role], team=own_team, role=Role(role))
    users["installation_auditor"] = UserFactory(username="inspector")
    InstallationAuditor.objects.create(user=users["installation_auditor"])
    bob = UserFactory(username="bob")
    bob_lead = UserFactory(username="bobby")
    MembershipFactory(user=bob, team=other_team, role=Role.ARCHITECT)
    MembershipFactory(user=bob_lead, team=other_team, role=Role.LEAD)
    own = build_team_world(own_team, users["architect"], users["lead"], settings.MEDIA_ROOT, users["member"])
    other = build_team_world(other_team, bob, bob_lead, settings.MEDIA_ROOT)
    return users, own, other


def route_to_path(route: str, values: dict) -> str:
    if route == "^api/.+$":
        return "/api/nothing-here"
    path = route
    for name, value in values.items():
        for converter in ("int:", "slug:", ""):
            path = path.replace(f"<{converter}{name}>", str(value))
    assert "<" not in path, f"no fixture object for a kwarg of {route}"
    return "/" + path


def has_object(route: str) -> bool:
    return "<" in route and route != "^api/.+$"


def answer(response) -> str:
    status = response.status_code
    if status == 302 and response.url.startswith("/login/"):
        return LOGIN
    if status == 401:
        assert response["Content-Type"].startswith("application/json"), response.content[:200]
        return JSON_401
    if status == 404 and response.get("Content-Type", "").startswith("application/json"):
        return JSON_404
    if status in (403, 404):
        return str(status)
    if 200 <= status < 400 or status == 422:  # 422: the form came back with its errors
        return OK
    return f"unexpected {status}"


def cases():
    for route, row in sorted(MATRIX.items()):
        for method in ("get", "post"):
            if getattr(row, method) is None:
                continue
            yield pytest.param(route, method, id=f"{method.upper()} /{route}")


@pytest.mark.parametrize("route,method", list(cases()))
def test_matrix(client, world, route, method):
    users, own, other = world
    row = MATRIX[route]
    rule = getattr(row, method)
    htmx = {"HTTP_HX_REQUEST": "true"} if row.htmx else {}
    wrong = []
    for role in ROLES:
        for is_own in (True, False) if has_object(route) else (True,):
            client.logout()
            if role != "anonymous":
                client.force_login(users[role])
            path = route_to_path(route, own if is_own else other)
            expected = rule(role, is_own)
            events = AuditEvent.objects.count()
            with transaction.atomic():
                response = getattr(client, method)(path, **htmx)
                got = answer(response)
                if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
                    headers_ok = "script-src 'self'" in response.get("Content-Security-Policy", "")
                    headers_ok &= response.get("X-Frame-Options") == "DENY"
                    if not headers_ok:
                        wrong.append(f"{role}: an HTML page without its CSP or X-Frame-Options")
                for closer in getattr(response, "_resource_closers", []):
                    closer()  # the served file; not response.close(), which ends the test's connection
                refused_events = AuditEvent.objects.count() - events
                transaction.set_rollback(True)
            if got != expected:
                wrong.append(f"{role} {'own' if is_own else 'other'}: expected {expected}, got {got}")
            elif expected not in (OK,) and refused_events and route != "login/":
                wrong.append(
                    f"{role} {'own' if is_own else 'other'}: refused, yet wrote {refused_events} event(s)"
                )
    assert not wrong, f"{method.upper()} {path}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "route", [r for r, row in sorted(MATRIX.items()) if row.get is None and not r.startswith("api/")]
)
def test_post_only_pages_refuse_get(client, world, route):
    users, own, _other = world
    client.force_login(users["architect"])
    assert client.get(route_to_path(route, own)).status_code == 405


@pytest.mark.parametrize("name", ["dashboard", "portfolio", "auditor_decisions", "audit_trail"])
def test_the_installation_wide_auditor_lists_every_team_and_a_team_role_only_its_own(client, world, name):
    users, _own, _other = world
    client.force_login(users["installation_auditor"])
    page = client.get(reverse(name)).content.decode()
    assert "Payments ledger" in page and "Identity ledger" in page
    client.force_login(users["auditor"])
    page = client.get(reverse(name)).content.decode()
    assert "Payments ledger" in page and "Identity ledger" not in page


def test_a_request_mixing_an_own_object_with_another_teams_object_is_404(client, world):
    users, own, other = world
    client.force_login(users["architect"])
    mixed = [
        f"/probes/reviews/{own['review_id']}/meeting/targets/{other['target_id']}/run/",
        f"/probes/reviews/{other['review_id']}/meeting/targets/{own['target_id']}/run/",
    ]
    for path in mixed:
        assert client.post(path).status_code == 404, path
    start = f"/probes/targets/{own['target_id']}/runs/new/"
    assert client.post(start, {"review": other["review_id"]}).status_code == 404
    assert not ProbeRun.objects.filter(review_id=other["review_id"]).exists()


def test_every_post_without_the_csrf_token_is_refused(world):
    users, own, _other = world
    enforcing = Client(enforce_csrf_checks=True)
    enforcing.force_login(users["architect"])
    accepted = []
    for route, row in sorted(MATRIX.items()):
        if row.post is None or route.startswith("api/"):
            continue  # the JSON API authenticates bearer tokens, not cookies: CSRF does not apply
        headers = {"HTTP_HX_REQUEST": "true"} if row.htmx else {}
        with transaction.atomic():
            status = enforcing.post(route_to_path(route, own), **headers).status_code
            transaction.set_rollback(True)
        if status != 403:
            accepted.append(f"{route}: {status}")
    assert not accepted, f"POSTs accepted without a CSRF token: {accepted}"
