"""Running probes from the meeting: the box starts a run for the review and shows its progress until it
ends; the results then appear at the agenda step of their category."""

import pytest
from django.urls import reverse

from probes.models import ProbeRun, RunState

from . import test_targets as shared

make_target, target, target_db = shared.make_target, shared.target, shared.target_db

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_meeting_box_offers_a_run_per_target_and_says_how_to_add_one(client, architect, review, make_target):
    client.force_login(architect)
    empty = client.get(reverse("probe_meeting_panel", args=[review.pk]), **HX).content.decode()
    assert "No probe target" in empty and "Add one" in empty
    make_target(name="replica")
    box = client.get(reverse("probe_meeting_panel", args=[review.pk]), **HX).content.decode()
    assert "Run probes on replica" in box


def test_a_run_started_in_the_meeting_lands_in_the_steps_of_its_categories(
    client, member, review, target, django_capture_on_commit_callbacks
):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("probe_meeting_run", args=[review.pk, target.pk]), **HX)
    assert response.status_code == 200
    run = ProbeRun.objects.get(review=review)
    assert run.state == RunState.DONE
    box = client.get(reverse("probe_meeting_panel", args=[review.pk]), {"run": run.pk}, **HX)
    # A finished run stops the polling and tells the page to refresh its step.
    assert 'hx-trigger="every 1s"' not in box.content.decode()
    assert "readiness:changed" in box["HX-Trigger"]
    assert f"{run.progress_done} of {run.progress_total}" in box.content.decode()

    step3 = client.get(reverse("meeting_step", args=[review.pk, 3])).content.decode()
    assert "Probe results" in step3
    assert "planted_no_pk" in step3  # the schema probe names the table without a primary key


def test_outsider_and_auditor_cannot_run_probes_from_the_meeting(client, outsider, auditor, review, target):
    url = reverse("probe_meeting_run", args=[review.pk, target.pk])
    client.force_login(outsider)
    assert client.post(url, **HX).status_code == 404
    assert client.get(reverse("probe_meeting_panel", args=[review.pk]), **HX).status_code == 404
    client.force_login(auditor)
    assert client.post(url, **HX).status_code == 403
    assert not ProbeRun.objects.exists()
