"""Rough edges a new user met: the chair's mark in the agenda, recording a decision (progress, a
confirmation, and a second step when categories are unscored), the changes since the last decision as a
page of its own and folded to counts, branded error pages, and dates typed as yyyy-mm-dd."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import path, reverse
from django.utils import timezone

from readiness import errors
from readiness import urls as app_urls
from reviews import changes, judgement, services
from reviews.forms import DecisionForm, IsoDateField, IsoDateTimeField, NextReviewForm
from reviews.models import Decision, Level, Review
from tests.factories import ReviewFactory, category, score_all

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def final_answers() -> dict:
    data = {}
    for q in judgement.FINAL_QUESTIONS:
        data[f"fq_{q.code}"] = "yes"
        data[f"fq_{q.code}_note"] = ""
    return data


def next_review() -> str:
    return (timezone.localdate() + timedelta(days=90)).isoformat()


def blocked_with_unscored(review, architect, unscored=("privacy", "capacity")):
    """A review the gate blocks (an open P0) with `unscored` categories nobody scored."""
    score_all(review, architect)
    review.scores.filter(category__code__in=unscored).delete()
    services.add_finding(
        review=review,
        category=category(review, "security"),
        level=Level.P0,
        actor=architect,
        title="Owner role",
    )
    return review


# --- The agenda: the chair's mark is where the chair is, and the chair is never told to follow herself


def test_the_chairs_own_page_marks_the_step_it_shows_before_the_move_is_recorded(client, architect, review):
    client.force_login(architect)
    page = client.get(reverse("meeting_step", args=[review.pk, 4])).content.decode()
    mark = re.search(r'data-step="(\d+)"[^>]*>(?:(?!</a>).)*class="chair-here"', page, re.S)
    assert mark and mark.group(1) == "4"
    assert "follow" not in page
    # The page reports the move; the mark others see moves with it.
    client.post(reverse("meeting_here", args=[review.pk, 4]))
    review.refresh_from_db()
    assert review.current_step == 4


def test_a_participant_sees_the_chairs_step_and_a_link_to_follow(client, architect, member, review):
    client.force_login(architect)
    client.post(reverse("meeting_here", args=[review.pk, 6]))
    client.force_login(member)
    page = client.get(reverse("meeting_step", args=[review.pk, 2])).content.decode()
    mark = re.search(r'data-step="(\d+)"[^>]*>(?:(?!</a>).)*class="chair-here"', page, re.S)
    assert mark and mark.group(1) == "6"
    assert "The chair is on step 6" in page
    assert f"/reviews/{review.pk}/meeting/2/here/" not in page  # a participant moves nothing


def test_a_lead_who_does_not_chair_this_review_follows_and_does_not_move_the_mark(client, lead, review):
    client.force_login(lead)
    page = client.get(reverse("meeting_step", args=[review.pk, 5])).content.decode()
    assert f"/reviews/{review.pk}/meeting/5/here/" not in page


def test_the_pulse_and_every_part_keep_the_step_the_page_shows(client, architect, member, review):
    """The agenda refreshed out of band takes the step from the page's own address (HX-Current-URL),
    never from an earlier answer: no stale "current" step, no "follow" to the chair herself."""
    client.force_login(architect)
    client.post(reverse("meeting_here", args=[review.pk, 11]))
    shown = f"http://testserver{reverse('meeting_step', args=[review.pk, 11])}"
    part = client.post(
        reverse("meeting_add_finding", args=[review.pk, "backup"]),
        {"title": "No restore drill", "level": "P2"},
        HTTP_HX_CURRENT_URL=shown,
        **HX,
    ).content.decode()
    assert re.search(r'<li class="current\s*[^"]*">\s*<a [^>]*data-step="11"', part)
    client.force_login(member)
    services.set_score(review=review, category=category(review, "backup"), score=1, actor=member)
    pulse = client.get(
        reverse("meeting_pulse", args=[review.pk]), {"since": 0}, HTTP_HX_CURRENT_URL=shown, **HX
    ).content.decode()
    assert re.search(r'<li class="current\s*[^"]*">\s*<a [^>]*data-step="11"', pulse)
    assert "The chair is on step" not in pulse  # the member is on the chair's step
    client.force_login(architect)
    pulse = client.get(
        reverse("meeting_pulse", args=[review.pk]),
        {"since": 0},
        HTTP_HX_CURRENT_URL=f"http://testserver{reverse('meeting_step', args=[review.pk, 3])}",
        **HX,
    ).content.decode()
    assert "follow" not in pulse


# --- Recording a decision


def test_recording_with_unscored_categories_needs_the_chair_to_confirm_in_the_meeting(
    client, architect, review
):
    blocked_with_unscored(review, architect)
    client.force_login(architect)
    step = client.get(reverse("meeting_decision", args=[review.pk])).content.decode()
    assert "2 categories unscored" in step and "Privacy, retention &amp; compliance" in step
    assert 'name="confirm_unscored"' in step
    url = reverse("meeting_decide", args=[review.pk])
    data = {"next_review": next_review(), **final_answers()}
    response = client.post(url, data, **HX)
    assert response.status_code == 422 and not Decision.objects.exists()
    assert "tick the box to record the decision with them unscored" in response.content.decode()
    response = client.post(url, {**data, "confirm_unscored": "on"}, **HX)
    assert response.status_code == 200 and response["HX-Redirect"].endswith("/meeting/decision/")
    assert Decision.objects.get().outcome == "BLOCKED"


def test_recording_with_unscored_categories_needs_the_chair_to_confirm_on_the_decision_page(
    client, architect, review
):
    blocked_with_unscored(review, architect, unscored=("privacy",))
    client.force_login(architect)
    url = reverse("decision_create", args=[review.pk])
    assert "1 category unscored" in client.get(url).content.decode()
    data = {"next_review": next_review(), **final_answers()}
    response = client.post(url, data)
    assert response.status_code == 200 and not Decision.objects.exists()
    assert "tick the box" in response.content.decode()
    assert client.post(url, {**data, "confirm_unscored": "on"}).status_code == 302
    assert Decision.objects.exists()


def test_a_fully_scored_review_asks_no_confirmation(client, architect, review):
    score_all(review, architect)
    client.force_login(architect)
    assert (
        'name="confirm_unscored"'
        not in client.get(reverse("meeting_decision", args=[review.pk])).content.decode()
    )
    response = client.post(
        reverse("meeting_decide", args=[review.pk]), {"next_review": next_review(), **final_answers()}, **HX
    )
    assert response.status_code == 200 and Decision.objects.get().outcome == "APPROVED"


def test_the_decision_form_shows_progress_and_the_step_confirms_once_recorded(client, architect, review):
    score_all(review, architect)
    client.force_login(architect)
    url = reverse("meeting_decision", args=[review.pk])
    step = client.get(url).content.decode()
    assert 'hx-disabled-elt="find button[type=submit]"' in step
    assert "Recording…" in step and "js/decision.js" in step
    client.post(
        reverse("meeting_decide", args=[review.pk]), {"next_review": next_review(), **final_answers()}, **HX
    )
    recorded = client.get(url).content.decode()
    assert "Decision recorded" in recorded and 'id="decision-recorded"' in recorded
    # Said once: a later look at the step shows the decision, not the news.
    assert 'id="decision-recorded"' not in client.get(url).content.decode()


def test_a_review_the_gate_cannot_decide_shows_what_is_missing_instead_of_the_form(client, architect, review):
    client.force_login(architect)
    step = client.get(reverse("meeting_decision", args=[review.pk])).content.decode()
    assert "cannot be recorded yet" in step and "14 of 14 categories unscored" in step
    assert "Record the decision" not in step


def test_the_form_enforces_the_confirmation_without_any_page():
    form = DecisionForm({"next_review": next_review(), **final_answers()}, unscored=["Query & index"])
    assert not form.is_valid() and "confirm_unscored" in form.errors
    form = DecisionForm(
        {"next_review": next_review(), "confirm_unscored": "on", **final_answers()}, unscored=["Q"]
    )
    assert form.is_valid(), form.errors


# --- Changes since the last decision


@pytest.fixture
def decided_then_changed(review, architect, system):
    score_all(review, architect)
    services.record_decision(
        review=review,
        actor=architect,
        next_review=timezone.localdate() + timedelta(days=30),
        final_answers={q.code: ("yes", "") for q in judgement.FINAL_QUESTIONS},
    )
    later = ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="Ledger 3.1")
    score_all(later, architect, value=3)
    services.add_finding(
        review=later,
        category=category(later, "query-index"),
        level=Level.P3,
        actor=architect,
        title="Seq scan",
    )
    return later


def test_without_javascript_the_changes_are_a_page_of_their_own_with_the_details_open(
    client, architect, decided_then_changed
):
    client.force_login(architect)
    response = client.get(reverse("review_changes", args=[decided_then_changed.pk]))
    body = response.content.decode()
    assert response.status_code == 200 and "HX-Request" in response["Vary"]
    assert body.lstrip().startswith("<!doctype html>") and "css/app.css" in body
    assert "<h1>Changes since the last decision</h1>" in body
    assert "Back to the review" in body and '<details class="changes-details" open>' in body


def test_on_the_review_page_and_in_the_meeting_the_changes_are_counts_with_details_on_demand(
    client, architect, decided_then_changed
):
    client.force_login(architect)
    body = client.get(reverse("review_changes", args=[decided_then_changed.pk]), **HX).content.decode()
    assert "<!doctype" not in body
    assert '<details class="changes-details">' in body  # folded
    assert re.search(r"<strong>Scores:</strong> \d+ changed but count the same", body)
    assert re.search(r"<strong>Findings:</strong> 1 opened", body)


def test_summary_counts_each_kind_of_change():
    found = {
        "scores": [{"direction": "up"}, {"direction": "up"}, {"direction": "down"}],
        "findings": {"opened": [1], "resolved": [], "regraded": [1, 2], "carried": [1]},
        "exceptions": {"added": [], "expired": [1], "revoked": []},
        "evidence": {"added": [1, 2], "removed": [], "stale": [1], "carried": []},
        "probes": [1],
        "carried": 1,
    }
    assert changes.summary(found) == [
        {"what": "Scores", "counts": ["2 up", "1 down"]},
        {"what": "Findings", "counts": ["1 opened", "2 regraded"]},
        {"what": "Exceptions", "counts": ["1 expired"]},
        {"what": "Evidence", "counts": ["2 added", "1 gone stale"]},
        {"what": "Probe results", "counts": ["1 changed"]},
        {"what": "Carried from the last decision", "counts": ["1 item"]},
    ]
    assert changes.summary(None) == []


# --- Error pages, with DEBUG off (pytest-django runs with DEBUG=False)


def boom(request):
    raise RuntimeError("the database fell over")


def forbidden(request):
    from django.core.exceptions import PermissionDenied

    raise PermissionDenied("Only the chair records the decision.")


def bad(request):
    from django.core.exceptions import SuspiciousOperation

    raise SuspiciousOperation("malformed")


def plain_form(request):
    return HttpResponse("ok")


urlpatterns = [
    *app_urls.urlpatterns,
    path("test-errors/boom/", boom),
    path("test-errors/forbidden/", forbidden),
    path("test-errors/bad/", bad),
    path("test-errors/form/", plain_form),
]
handler500 = app_urls.handler500


@pytest.fixture
def error_urls(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__


def test_404_is_branded_with_a_way_home(client, architect, error_urls):
    client.force_login(architect)
    response = client.get("/no/such/page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert '<h1 id="error-head">Page not found</h1>' in body and "css/app.css" in body
    assert 'href="/">Go to the start page</a>' in body and "Sign out" in body


def test_another_teams_review_is_the_same_404(client, outsider, review, error_urls):
    client.force_login(outsider)
    response = client.get(reverse("review_detail", args=[review.pk]))
    assert response.status_code == 404 and "Page not found" in response.content.decode()
    assert review.release_scope not in response.content.decode()


def test_403_says_what_is_not_allowed(client, architect, error_urls):
    client.force_login(architect)
    response = client.get("/test-errors/forbidden/")
    body = response.content.decode()
    assert response.status_code == 403 and '<h1 id="error-head">Not allowed</h1>' in body
    assert "Only the chair records the decision." in body and "Go to the start page" in body


def test_400_is_branded(client, error_urls):
    response = client.get("/test-errors/bad/")
    assert response.status_code == 400
    assert "This request could not be understood" in response.content.decode()


def test_a_refused_csrf_token_gets_a_page_that_says_what_to_do(architect, error_urls):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(architect)
    response = csrf_client.post(reverse("meeting_here", args=[1, 1]))
    body = response.content.decode()
    assert response.status_code == 403 and "This form has expired" in body and "css/app.css" in body
    assert "cookie not set" not in body  # the reason is logged, not shown


def test_500_is_branded_and_standalone(client, error_urls):
    client.raise_request_exception = False
    response = client.get("/test-errors/boom/")
    body = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in body and "css/app.css" in body
    assert 'href="/">Go to the start page</a>' in body
    assert "fell over" not in body  # nothing of the error itself


def test_the_500_page_needs_no_database():
    def no_database(execute, sql, params, many, context):
        raise AssertionError(f"the error page queried the database: {sql}")

    request = RequestFactory().get("/anything/")
    with connection.execute_wrapper(no_database):
        response = errors.server_error(request)
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_the_500_page_answers_even_when_its_template_cannot_render(monkeypatch):
    def broken(name):
        raise RuntimeError("template engine down")

    monkeypatch.setattr(errors.loader, "get_template", broken)
    response = errors.server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "something went wrong" in response.content.decode()


# --- Dates typed and shown as yyyy-mm-dd


def test_date_fields_render_as_yyyy_mm_dd_text_inputs_and_accept_only_iso():
    field = IsoDateField()
    html = field.widget.render("d", timezone.datetime(2027, 3, 4).date())
    assert 'type="text"' in html and 'value="2027-03-04"' in html and 'placeholder="yyyy-mm-dd"' in html
    assert 'pattern="\\d{4}-\\d{2}-\\d{2}"' in html
    assert str(field.clean("2027-03-04")) == "2027-03-04"
    for ambiguous in ("03/04/2027", "04/03/2027", "4 March 2027", "2027/03/04"):
        with pytest.raises(Exception, match="yyyy-mm-dd"):
            field.clean(ambiguous)


def test_date_and_time_fields_take_a_space_or_a_t():
    field = IsoDateTimeField()
    assert 'placeholder="yyyy-mm-dd hh:mm"' in field.widget.render("t", None)
    assert field.clean("2027-03-04 14:30") == field.clean("2027-03-04T14:30")
    with pytest.raises(Exception, match="yyyy-mm-dd hh:mm"):
        field.clean("03/04/2027 2:30 PM")


def test_no_template_or_form_asks_for_a_browser_date_picker():
    """<input type=date> shows the browser's locale (mm/dd/yyyy in Chromium's en-US) whatever the page."""
    offenders = [
        str(p.relative_to(TEMPLATES))
        for p in TEMPLATES.rglob("*.html")
        if re.search(r"type=[\"']?(date|datetime-local)\b", p.read_text())
    ]
    assert offenders == []
    assert 'type="text"' in str(NextReviewForm()["next_review_date"])


def test_the_meeting_next_review_field_takes_an_iso_date(client, architect, review):
    client.force_login(architect)
    page = client.get(reverse("meeting_step", args=[review.pk, 13])).content.decode()
    assert re.search(r'<input id="next-review-date" type="text"[^>]*placeholder="yyyy-mm-dd"', page)
    day = (timezone.localdate() + timedelta(days=60)).isoformat()
    client.post(
        reverse("meeting_next_review", args=[review.pk]), {"next_review_date": day, "version": review.version}
    )
    assert Review.objects.get(pk=review.pk).next_review_date.isoformat() == day
