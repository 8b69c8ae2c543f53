"""A script in every text field a user can type renders escaped on every page that shows it: dashboard,
system, review, meeting steps, decision, audit trail, exception and probe pages. Each field gets its own
payload, so a failure names the field; every payload must appear escaped somewhere (proof the field is
shown) and raw nowhere."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from evidence import services as evidence_services
from probes import services as probe_services
from probes.models import ProbeRun, RunState
from reviews import agenda, services
from reviews.models import ChecklistItem, Level

from .factories import category

FIELDS = [
    "system.name",
    "system.description",
    "system.source_of_truth",
    "review.release_scope",
    "review.scope_notes",
    "finding.title",
    "finding.description",
    "claim.claim",
    "claim.risk",
    "claim.control",
    "claim.evidence_note",
    "exception.justification",
    "exception.compensating_control",
    "evidence.title",
    "evidence.notes",
    "evidence.url",
    "checklist.note",
    "score.notes",
    "invariant.name",
    "target.name",
    "decision.notes",
]


def payload(field: str) -> str:
    return f'<script>alert("{field}")</script><img src=x onerror=alert(1)>'


def escaped(field: str) -> str:
    return f"&lt;script&gt;alert(&quot;{field}&quot;)&lt;/script&gt;"


@pytest.fixture
def pages(client, team, architect, lead, auditor):
    p = payload
    system = services.create_system(
        team=team,
        name=p("system.name"),
        description=p("system.description"),
        source_of_truth=p("system.source_of_truth"),
        actor=architect,
    )
    review = services.start_review(
        system=system,
        release_scope=p("review.release_scope"),
        scope_notes=p("review.scope_notes"),
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    backup = category(review, "backup")
    finding = services.add_finding(
        review=review,
        category=backup,
        title=p("finding.title"),
        description=p("finding.description"),
        level=Level.P1,
        actor=architect,
    )
    exception = services.request_exception(
        finding=finding,
        justification=p("exception.justification"),
        compensating_control=p("exception.compensating_control"),
        expires_at=timezone.now() + timedelta(days=20),
        actor=architect,
    )
    evidence = evidence_services.add_link(
        review=review,
        category=backup,
        title=p("evidence.title"),
        notes=p("evidence.notes"),
        url='https://example.com/?q="><script>alert("evidence.url")</script>',
        actor=architect,
    )
    services.add_claim(
        review=review,
        claim=p("claim.claim"),
        risk=p("claim.risk"),
        control=p("claim.control"),
        evidence_note=p("claim.evidence_note"),
        actor=architect,
    )
    item = ChecklistItem.objects.filter(category=backup).first()
    services.answer_item(review=review, item=item, answer="yes", note=p("checklist.note"), actor=architect)
    for cat in review.catalogue.categories.all():
        services.set_score(
            review=review,
            category=cat,
            score=0,
            notes=p("score.notes") if cat == backup else "",
            actor=architect,
        )
    target = probe_services.create_target(
        system=system, name=p("target.name"), dsn="postgresql://probe:pw@127.0.0.1:1/ledger", actor=architect
    )
    check = probe_services.add_invariant_check(
        target=target,
        name=p("invariant.name"),
        sql="SELECT id FROM ledger_entry WHERE false",
        actor=architect,
    )
    run = ProbeRun.objects.create(
        target=target,
        review=review,
        started_by=architect,
        state=RunState.DONE,
        progress_total=1,
        progress_done=1,
    )
    urls = [
        reverse("dashboard"),
        reverse("system_detail", args=[system.slug]),
        reverse("system_edit", args=[system.slug]),
        reverse("review_detail", args=[review.pk]),
        reverse("review_edit", args=[review.pk]),
        reverse("review_checklist", args=[review.pk, "backup"]),
        reverse("score_edit", args=[review.pk, "backup"]),
        reverse("finding_edit", args=[finding.pk]),
        reverse("exception_detail", args=[exception.pk]),
        reverse("exception_edit", args=[exception.pk]),
        reverse("exception_queue"),
        reverse("review_audit", args=[review.pk]),
        reverse("audit_trail"),
        reverse("probe_targets", args=[system.slug]),
        reverse("probe_target_detail", args=[target.pk]),
        reverse("probe_target_edit", args=[target.pk]),
        reverse("probe_run_detail", args=[run.pk]),
        reverse("probe_review_panel", args=[review.pk]),
        reverse("probe_meeting_panel", args=[review.pk]),
    ] + [reverse("meeting_step", args=[review.pk, step]) for step in range(1, agenda.LAST_STEP + 1)]
    seen = {}
    for user in (architect, lead):  # the lead's exception queue lists the request
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            seen[f"{url} as {user.username}"] = response.content.decode()
    decision = services.record_decision(
        review=review,
        actor=architect,
        notes=p("decision.notes"),
        next_review=timezone.localdate() + timedelta(days=30),
    )
    client.force_login(auditor)
    for url in (
        reverse("decision_detail", args=[decision.pk]),
        reverse("meeting_decision", args=[review.pk]),
        reverse("auditor_decisions"),
        reverse("audit_trail"),
        reverse("review_detail", args=[review.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        seen[f"{url} as {auditor.username}"] = response.content.decode()
    assert check.pk and evidence.pk
    return seen


@pytest.mark.django_db
def test_every_field_is_shown_escaped_and_no_page_renders_a_typed_script(pages):
    raw = [url for url, html in pages.items() if "<script>alert(" in html or "<img src=x" in html]
    assert not raw, f"a typed script is live on {raw}"
    unseen = []
    for field in FIELDS:
        forms = [escaped(field)]
        if field == "evidence.url":  # in an href, quoted or percent-encoded
            forms = ["&lt;script&gt;alert(&quot;evidence.url&quot;)", "%3Cscript%3Ealert(%22evidence.url%22)"]
        if not any(form in html for html in pages.values() for form in forms):
            unseen.append(field)
    assert not unseen, f"shown on none of the pages, or not escaped: {unseen}"
