"""The meeting page through the client: steps, htmx partials with the gate out of band, conflicts,
access, and a query budget that does not grow with findings or evidence."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from evidence.models import Evidence
from reviews import agenda, services
from reviews.models import AuditEvent, CategoryScore, Decision, Finding, Level, ReviewState
from tests.factories import category, score_all

from .test_judgement import all_yes_post

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def attach(review, code, actor, n=1):
    for i in range(n):
        evidence_services.add_link(
            review=review,
            category=category(review, code),
            title=f"{code} proof {i}",
            url=f"https://ci.example.com/{code}/{i}",
            actor=actor,
        )


def test_meeting_opens_at_the_current_step_and_every_step_renders(client, architect, review):
    client.force_login(architect)
    response = client.get(reverse("meeting", args=[review.pk]))
    assert response.status_code == 302 and response.url.endswith("/meeting/1/")
    for s in agenda.STEPS:
        page = client.get(reverse("meeting_step", args=[review.pk, s.number]))
        assert page.status_code == 200, s.number
        assert s.title in page.content.decode()
    assert client.get(reverse("meeting_decision", args=[review.pk])).status_code == 200
    assert client.get(reverse("meeting_step", args=[review.pk, 14])).status_code == 404


def test_every_category_appears_at_some_step():
    shown = {code for s in agenda.STEPS for code in s.categories}
    from reviews.gate import BACKUP, MIGRATION, OBSERVABILITY, SECURITY

    assert len(shown) == 14
    assert {BACKUP, SECURITY, MIGRATION, OBSERVABILITY} <= shown


def test_htmx_step_request_returns_the_panel_and_the_gate_out_of_band(client, member, review):
    client.force_login(member)
    response = client.get(reverse("meeting_step", args=[review.pk, 7]), **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'id="gate-panel"' in body and 'hx-swap-oob="true"' in body
    assert "Backup, restore &amp; DR" in body
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_chair_position_is_recorded_and_opens_the_meeting(client, architect, member, review):
    client.force_login(member)
    assert client.post(reverse("meeting_here", args=[review.pk, 5])).status_code == 403
    client.force_login(architect)
    assert client.post(reverse("meeting_here", args=[review.pk, 5])).status_code == 204
    review.refresh_from_db()
    assert (review.current_step, review.state) == (5, ReviewState.IN_MEETING)
    assert AuditEvent.objects.filter(action="meeting.step", review=review).count() == 1


def test_htmx_score_swaps_the_widget_and_refreshes_the_gate(client, member, review):
    attach(review, "backup", member)
    client.force_login(member)
    response = client.post(
        reverse("meeting_score", args=[review.pk, "backup"]),
        {"score": "3", "version": "0", "notes": "drill 2 weeks ago"},
        **HX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="score-backup"' in body
    assert 'id="gate-panel"' in body and "Backup, restore &amp; DR scores 3" in body
    assert CategoryScore.objects.get(review=review, category__code="backup").score == 3


def test_second_edit_of_the_same_score_gets_a_conflict_with_the_newer_value(
    client, member, architect, review
):
    attach(review, "backup", member)
    client.force_login(member)
    url = reverse("meeting_score", args=[review.pk, "backup"])
    client.post(url, {"score": "2", "version": "0"}, **HX)
    client.force_login(architect)
    response = client.post(url, {"score": "3", "version": "0"}, **HX)
    assert response.status_code == 422
    assert "scored by someone else" in response.content.decode()
    assert CategoryScore.objects.get(review=review, category__code="backup").score == 2
    # The form now carries the newer version, so applying the change again works.
    current = CategoryScore.objects.get(review=review, category__code="backup")
    assert f'name="version" value="{current.version}"' in response.content.decode()
    assert client.post(url, {"score": "3", "version": str(current.version)}, **HX).status_code == 200


def test_score_2_without_evidence_is_refused_in_place(client, member, review):
    client.force_login(member)
    response = client.post(
        reverse("meeting_score", args=[review.pk, "security"]), {"score": "2", "version": "0"}, **HX
    )
    assert response.status_code == 422
    assert "no evidence, no readiness" in response.content.decode()
    assert not CategoryScore.objects.exists()


def test_adding_a_p0_in_the_meeting_blocks_the_gate_and_resolving_it_lifts_it(client, architect, review):
    score_all(review, architect)
    client.force_login(architect)
    response = client.post(
        reverse("meeting_add_finding", args=[review.pk, "security"]),
        {"title": "Application connects as superuser", "level": "P0"},
        **HX,
    )
    assert response.status_code == 200
    assert "Open P0 blocker: Application connects as superuser" in response.content.decode()
    finding = Finding.objects.get(title="Application connects as superuser")
    attach(review, "security", architect)  # evidence of the fix, observed after the finding
    response = client.post(
        reverse("meeting_triage", args=[finding.pk]),
        {"level": "P0", "status": "resolved", "version": str(finding.version), "note": "Rotated to app_rw"},
        **HX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "gate-approved" in body and "Open P0 blocker" not in body


def test_p2_without_owner_is_refused_with_the_reason(client, member, review):
    client.force_login(member)
    response = client.post(
        reverse("meeting_add_finding", args=[review.pk, "observability"]),
        {"title": "No lag alert", "level": "P2"},
        **HX,
    )
    assert response.status_code == 422
    assert "A P2 needs an owner" in response.content.decode()
    assert not Finding.objects.exists()


def test_exception_requested_from_the_meeting_shows_on_the_finding(client, member, review):
    finding = services.add_finding(
        review=review, category=category(review, "migration"), title="Backfill", level=Level.P1, actor=member
    )
    client.force_login(member)
    expires = (timezone.localtime() + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("meeting_exception", args=[finding.pk]),
        {"justification": "Low volume", "compensating_control": "Manual watch", "expires_at": expires},
        **HX,
    )
    assert response.status_code == 200
    assert "Awaiting signature" in response.content.decode()
    assert "exception still awaiting a signature" in response.content.decode()


def test_scope_flags_change_which_minimums_apply(client, architect, review):
    client.force_login(architect)
    response = client.post(
        reverse("meeting_scope", args=[review.pk]),
        {
            "release_scope": "Ledger 3.0",
            "schema_changing": "no",
            "production_traffic": "yes",
            "version": review.version,
        },
        **HX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "schema-changing release" not in body  # migration minimum no longer applies
    review.refresh_from_db()
    assert review.schema_changing is False


def test_pulse_is_204_until_someone_changes_something(client, member, architect, review):
    client.force_login(member)
    url = reverse("meeting_pulse", args=[review.pk])
    last = AuditEvent.objects.filter(review=review).order_by("-id").values_list("id", flat=True).first() or 0
    assert client.get(url, {"since": last, "step": 3}, **HX).status_code == 204
    attach(review, "backup", architect)
    services.set_score(review=review, category=category(review, "backup"), score=2, actor=architect)
    response = client.get(url, {"since": last, "step": 3}, **HX)
    assert response.status_code == 200
    assert "readiness:changed" in response["HX-Trigger"]
    assert 'id="gate-panel"' in response.content.decode()


def test_record_decision_only_by_the_chair_and_then_the_page_shows_it(client, architect, member, review):
    score_all(review, architect)
    next_review = (timezone.localdate() + timedelta(days=90)).isoformat()
    client.force_login(member)
    assert (
        client.post(reverse("meeting_decide", args=[review.pk]), {"next_review": next_review}).status_code
        == 403
    )
    page = client.get(reverse("meeting_decision", args=[review.pk])).content.decode()
    assert "Only the chair" in page
    client.force_login(architect)
    response = client.post(
        reverse("meeting_decide", args=[review.pk]), {"next_review": next_review, **all_yes_post()}, **HX
    )
    assert response.status_code == 200 and response["HX-Redirect"].endswith("/meeting/decision/")
    decision = Decision.objects.get(review=review)
    page = client.get(reverse("meeting_decision", args=[review.pk])).content.decode()
    assert decision.digest in page
    assert client.get(reverse("meeting", args=[review.pk])).url.endswith("/meeting/decision/")


def test_outsider_gets_404_and_auditor_403_on_changes(client, outsider, auditor, review):
    client.force_login(outsider)
    assert client.get(reverse("meeting_step", args=[review.pk, 1])).status_code == 404
    assert client.get(reverse("meeting_pulse", args=[review.pk])).status_code == 404
    client.force_login(auditor)
    assert client.get(reverse("meeting_step", args=[review.pk, 11])).status_code == 200
    assert (
        client.post(reverse("meeting_score", args=[review.pk, "backup"]), {"score": "1"}).status_code == 403
    )
    assert (
        client.post(
            reverse("meeting_add_finding", args=[review.pk, "backup"]), {"title": "x", "level": "P3"}
        ).status_code
        == 403
    )


def test_plain_post_without_javascript_redirects_back_to_the_step(client, member, review):
    client.force_login(member)
    response = client.post(
        reverse("meeting_add_finding", args=[review.pk, "runbooks"]),
        {
            "title": "No lock-storm runbook",
            "level": "P3",
            "next": reverse("meeting_step", args=[review.pk, 10]),
        },
    )
    assert response.status_code == 302 and response.url.endswith("/meeting/10/")
    assert Finding.objects.filter(title="No lock-storm runbook").exists()


def _load(review, member, findings, evidence):
    for i in range(findings):
        services.add_finding(
            review=review,
            category=category(review, ["backup", "security", "runbooks"][i % 3]),
            title=f"Finding {i}",
            level=["P1", "P3"][i % 2],
            actor=member,
        )
    attach(review, "backup", member, n=evidence)


def _bulk(review, member, findings, evidence):
    """Rows written straight to the tables, more than any list of the meeting shows (10 findings of a
    category, 8 evidence items, 40 findings at steps 12 and 13, 7 per gate verdict): P0, P1 (every
    other one with a signed exception) and P3 findings and links spread over three categories."""
    from datetime import timedelta

    from django.utils import timezone

    from reviews.models import ExceptionState, RiskException
    from tests.factories import UserFactory

    cats = [category(review, code) for code in ("backup", "security", "runbooks")]
    made = Finding.objects.bulk_create(
        Finding(
            review=review,
            category=cats[(i // 3) % 3],
            title=f"Bulk finding {i}",
            level=["P0", "P1", "P3"][i % 3],
            created_by=member,
        )
        for i in range(findings)
    )
    signer = UserFactory()
    RiskException.objects.bulk_create(
        RiskException(
            finding=f,
            justification="j",
            compensating_control="c",
            state=ExceptionState.SIGNED,
            requested_by=member,
            signer=signer,
            signed_at=timezone.now(),
            expires_at=timezone.now() + timedelta(days=30),
        )
        for f in made[1::9]
    )
    Evidence.objects.bulk_create(
        Evidence(
            review=review, category=cats[i % 3], kind="link", title=f"Link {i}", url="https://x.example/"
        )
        for i in range(evidence)
    )


@pytest.mark.parametrize("step", range(1, 14))
def test_page_queries_do_not_grow_with_findings_and_evidence(
    client, member, review, step, django_assert_max_num_queries
):
    # Some findings in each of the three categories: a category without any skips the prefetch of its
    # findings' exceptions (one query fewer for an empty list, whatever the review's size).
    _load(review, member, findings=3, evidence=1)
    client.force_login(member)
    url = reverse("meeting_step", args=[review.pk, step])
    client.get(url)  # warm the session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        client.get(url)
    _bulk(review, member, findings=150, evidence=120)
    with CaptureQueriesContext(connection) as large:
        page = client.get(url)
    assert page.status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)
    # + critical items, answers, judged records; + loosenings, raises; + what the review holds for steps 3–10
    # (reviews.depth: its records, and at most the invariant checks and the probes' latest results); the
    # evidence of a step's category and its typed records are two queries each
    with django_assert_max_num_queries(28):
        client.get(url)


def test_lists_on_a_large_review_show_the_first_rows_and_count_the_rest(client, member, review):
    _bulk(review, member, findings=150, evidence=120)
    client.force_login(member)
    backup = client.get(reverse("meeting_step", args=[review.pk, 7])).content.decode()
    # 51 findings and 40 links in backup: 10 and 8 shown, the rest counted
    assert backup.count('class="finding status-') == 10 and "41 more on" in backup
    assert "32 more on" in backup
    blockers = client.get(reverse("meeting_step", args=[review.pk, 12])).content.decode()
    # 50 P0 and 50 P1, 17 of them on a signed exception: the gate names 6 of each and counts the rest
    assert "… and 44 more P0 blockers like these" in blockers
    assert "… and 27 more P1 findings like these" in blockers
    assert "… and 11 more P1 findings like these" in blockers  # the exceptions, in the panel
    assert blockers.count("Open P0 blocker:") == 12  # 6 on the step, 6 in the panel
    assert "60 more on" in blockers  # 100 open P0/P1, 40 listed


def test_htmx_score_change_queries_do_not_grow_with_findings_and_evidence(client, member, review):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _load(review, member, findings=2, evidence=1)
    client.force_login(member)
    url = reverse("meeting_score", args=[review.pk, "backup"])
    client.post(url, {"score": "2", "version": "0"}, **HX)
    with CaptureQueriesContext(connection) as small:
        assert client.post(url, {"score": "3", "version": "1"}, **HX).status_code == 200
    _bulk(review, member, findings=150, evidence=120)
    with CaptureQueriesContext(connection) as large:
        assert client.post(url, {"score": "2", "version": "2"}, **HX).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)


def test_htmx_score_change_has_a_small_fixed_query_budget(
    client, member, review, django_assert_max_num_queries
):
    _load(review, member, findings=30, evidence=40)
    client.force_login(member)
    url = reverse("meeting_score", args=[review.pk, "backup"])
    client.post(url, {"score": "2", "version": "0"}, **HX)
    version = CategoryScore.objects.get(review=review, category__code="backup").version
    # the gate's findings: their counts, the first of each verdict and those findings' exceptions
    with django_assert_max_num_queries(31):
        assert client.post(url, {"score": "3", "version": str(version)}, **HX).status_code == 200


def test_triage_form_loads_on_demand_and_without_javascript_falls_back_to_the_edit_page(
    client, member, review
):
    finding = services.add_finding(
        review=review, category=category(review, "backup"), title="No drill", level=Level.P1, actor=member
    )
    client.force_login(member)
    row = client.get(reverse("meeting_triage", args=[finding.pk]), **HX).content.decode()
    assert 'name="status"' in row and 'name="version"' in row
    assert client.get(reverse("meeting_triage", args=[finding.pk])).url == reverse(
        "finding_edit", args=[finding.pk]
    )
    ask = client.get(reverse("meeting_exception", args=[finding.pk]), **HX).content.decode()
    assert 'name="compensating_control"' in ask


def test_evidence_attached_in_place_lets_a_2_be_scored(client, member, review):
    client.force_login(member)
    url = reverse("meeting_add_evidence", args=[review.pk, "backup"])
    bad = client.post(url, {"title": "Drill report", "url": "not a link"}, **HX)
    assert bad.status_code == 422 and "Enter a valid URL" in bad.content.decode()
    assert not Evidence.objects.exists()
    response = client.post(url, {"title": "Drill report", "url": "https://ci.example.com/drill/9"}, **HX)
    assert response.status_code == 200
    assert 'id="evidence-backup"' in response.content.decode() and "Drill report" in response.content.decode()
    score = client.post(
        reverse("meeting_score", args=[review.pk, "backup"]), {"score": "2", "version": "0"}, **HX
    )
    assert score.status_code == 200


def test_a_step_shows_checklist_progress_and_loads_the_checklist_when_opened(client, member, review):
    item = review.catalogue.categories.get(code="backup").items.order_by("position").first()
    services.answer_item(review=review, item=item, answer="yes", actor=member)
    client.force_login(member)
    page = client.get(reverse("meeting_step", args=[review.pk, 7])).content.decode()
    assert "1 of " in page and item.text not in page  # not rendered until opened
    url = reverse("meeting_checklist", args=[review.pk, "backup"])
    rows = client.get(url, **HX).content.decode()
    assert item.text in rows and f'id="item-{item.pk}"' in rows
    assert client.get(url).url == reverse("review_checklist", args=[review.pk, "backup"])


def test_a_step_offers_the_typed_records_of_its_categories(client, member, review):
    client.force_login(member)
    step_5 = reverse("meeting_step", args=[review.pk, 5])  # query & index, capacity
    html = client.get(step_5).content.decode()
    for kind in ("access_pattern", "load_test", "capacity_envelope"):
        assert reverse("evidence_create", args=[review.pk, kind]) in html, kind
    assert reverse("evidence_create", args=[review.pk, "restore_drill"]) not in html
    assert "record a capacity envelope" in html


EVIL_NEXT = [
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example/",
    "\\\\evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/ok\r\nSet-Cookie: x=1",
]


@pytest.mark.parametrize("evil", EVIL_NEXT)
def test_a_plain_post_never_follows_next_to_another_site(client, member, review, evil):
    finding = services.add_finding(
        review=review, category=category(review, "backup"), title="F", level="P3", actor=member
    )
    client.force_login(member)
    posts = [
        (reverse("meeting_add_finding", args=[review.pk, "runbooks"]), {"title": "x", "level": "P3"}, 12),
        (reverse("meeting_score", args=[review.pk, "backup"]), {"score": "1"}, 11),
        (reverse("meeting_add_evidence", args=[review.pk, "backup"]), {"title": "t"}, 11),
        (reverse("meeting_triage", args=[finding.pk]), {"level": "P3"}, 12),
    ]
    for url, data, step in posts:
        response = client.post(url, {**data, "next": evil})
        assert response.status_code == 302, url
        assert response.url == reverse("meeting_step", args=[review.pk, step]), (url, response.url)


def test_a_plain_post_follows_next_within_the_site(client, member, review):
    client.force_login(member)
    target = reverse("meeting_step", args=[review.pk, 9]) + "?x=1#scores"
    response = client.post(
        reverse("meeting_score", args=[review.pk, "backup"]), {"score": "x", "next": target}
    )
    assert response.status_code == 302 and response.url == target
