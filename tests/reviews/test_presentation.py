"""Presentation mode by address and the review page in sections, through the client (the layouts
themselves are tested in a real browser: tests/test_presentation_browser.py)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from evidence.models import Evidence, EvidenceKind
from reviews.models import Review
from tests.factories import attach, category

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def test_present_1_in_the_address_presents_and_the_step_links_keep_it(client, architect, review):
    client.force_login(architect)
    response = client.get(reverse("meeting", args=[review.pk]) + "?present=1")
    assert response.status_code == 302 and response.url.endswith("/meeting/1/?present=1")
    page = client.get(response.url).content.decode()
    assert '<html lang="en" class="presenting">' in page
    step2 = reverse("meeting_step", args=[review.pk, 2])
    assert f'href="{step2}?present=1" hx-get="{step2}"' in page  # plain links keep it, htmx needs not
    assert 'href="?present=0"' in page and "Exit presentation" in page


def test_without_present_the_meeting_is_the_normal_page_with_a_present_button(client, architect, review):
    client.force_login(architect)
    page = client.get(reverse("meeting_step", args=[review.pk, 1])).content.decode()
    assert '<html lang="en">' in page
    assert 'href="?present=1"' in page and ">Present</a>" in page
    assert "js/present.js" in page
    assert "?present=1" not in page.replace('href="?present=1"', "")
    # A step swapped in by htmx carries no page chrome.
    partial = client.get(
        reverse("meeting_step", args=[review.pk, 2]), {"present": "1"}, **HX
    ).content.decode()
    assert "<html" not in partial


def test_the_scope_box_saves_a_wrapped_title_as_one_line(client, architect, review):
    client.force_login(architect)
    response = client.post(
        reverse("meeting_scope", args=[review.pk]),
        {
            "release_scope": "Ledger 3.1 —\r\n  multi-currency   balances ",
            "schema_changing": "yes",
            "production_traffic": "yes",
            "version": review.version,
        },
        **HX,
    )
    assert response.status_code == 200
    assert Review.objects.get(pk=review.pk).release_scope == "Ledger 3.1 — multi-currency balances"
    blank = client.post(
        reverse("meeting_scope", args=[review.pk]),
        {"release_scope": " \n ", "schema_changing": "yes", "production_traffic": "yes"},
        **HX,
    )
    assert blank.status_code == 422


def test_review_page_lists_probe_results_by_run_not_among_the_evidence(client, architect, member, review):
    attach(review, "backup", member, title="Restore drill report")
    for i in range(3):
        Evidence.objects.create(
            review=review,
            category=category(review, "security"),
            kind=EvidenceKind.PROBE_RESULT,
            title=f"Probe check {i}",
            observed_at=timezone.now() - timedelta(hours=1),
            added_by=member,
        )
    client.force_login(architect)
    page = client.get(review.get_absolute_url()).content.decode()
    assert "Restore drill report" in page and "Probe check" not in page
    assert "1 item and 3 probe results" in page
    # Findings come before the scorecard and the evidence.
    assert page.index('id="findings"') < page.index('id="scorecard"') < page.index('id="evidence"')


def test_meeting_step_lists_a_categorys_evidence_without_its_probe_results(client, architect, member, review):
    attach(review, "security", member, title="Role audit")
    Evidence.objects.create(
        review=review,
        category=category(review, "security"),
        kind=EvidenceKind.PROBE_RESULT,
        title="Superuser application roles",
        observed_at=timezone.now(),
        added_by=member,
    )
    client.force_login(architect)
    page = client.get(reverse("meeting_step", args=[review.pk, 9])).content.decode()
    block = page[page.index('id="evidence-security"') :]
    block = block[: block.index("</form>")]
    assert "Role audit" in block and "Superuser application roles" not in block
    assert "And 1 probe result" in block
