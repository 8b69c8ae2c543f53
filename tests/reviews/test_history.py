"""The history of a system: timeline and the scores-over-time chart from frozen decision records."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from reviews import charts
from reviews.models import Decision, Review

from ..factories import catalogue


def _scorecard(scores: dict[str, int | None]) -> list[dict]:
    return [
        {"number": i + 1, "category": code, "name": code.title(), "score": s, "effective_score": s}
        for i, (code, s) in enumerate(scores.items())
    ]


def test_the_chart_has_one_point_per_decision_and_scored_category():
    decisions = [
        {"label": "2026-01-01", "outcome": "BLOCKED", "scorecard": _scorecard({"backup": 1, "security": 2})},
        {"label": "2026-02-01", "outcome": "APPROVED", "scorecard": _scorecard({"backup": 2, "security": 3})},
        {
            "label": "2026-03-01",
            "outcome": "APPROVED",
            "scorecard": _scorecard({"backup": 3, "security": None}),
        },
    ]
    svg = charts.history_chart_svg(decisions)
    assert svg.count('<circle class="pt"') == 5  # the unscored security of March has no point
    assert svg.count('data-category="backup"') == 3
    assert svg.count('class="outcome-mark"') == 3
    assert svg.count("<polyline") == 2


def test_a_point_that_counted_lower_is_hollow_and_text_is_escaped():
    rows = [{"number": 1, "category": "backup", "name": "<b>Backup</b>", "score": 3, "effective_score": 1}]
    svg = charts.history_chart_svg([{"label": "d", "outcome": "APPROVED", "scorecard": rows}])
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert 'fill="#fff"' in svg and "counts as 1" in svg


def test_no_decisions_draws_an_empty_chart():
    assert "No decision recorded yet." in charts.history_chart_svg([])


@pytest.fixture
def decisions(system, architect):
    version = catalogue()
    codes = list(version.categories.order_by("number").values_list("code", flat=True))
    made = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, outcome in enumerate(["BLOCKED", "APPROVED_WITH_EXCEPTIONS", "APPROVED"]):
        review = Review.objects.create(
            system=system,
            catalogue=version,
            release_scope=f"R{i}",
            created_by=architect,
            chair=architect,
            state="decided",
            created_at=start + timedelta(days=30 * i),
        )
        record = {"outcome": outcome, "scorecard": _scorecard({c: min(3, i + 1) for c in codes})}
        made.append(
            Decision.objects.create(
                review=review,
                system=system,
                outcome=outcome,
                next_review=(start + timedelta(days=400)).date(),
                approver=architect,
                recorded_at=start + timedelta(days=30 * i + 1),
                record=record,
                digest=f"{i:064x}",
                previous_digest=made[-1].digest if made else "",
            )
        )
    return made


@pytest.mark.django_db
def test_history_page_has_the_timeline_and_one_point_per_decision_per_category(
    client, architect, system, decisions
):
    client.force_login(architect)
    response = client.get(reverse("system_history", args=[system.slug]))
    html = response.content.decode()
    assert html.count('<circle class="pt"') == 3 * 14
    assert html.count('class="timeline-decision"') == 3 and html.count('class="timeline-review"') == 3
    assert reverse("decision_json", args=[decisions[0].pk]) in html
    assert "decided by" in html
    # newest first
    assert html.index("R2") < html.index("R0")


@pytest.mark.django_db
def test_system_page_shows_the_chart(client, architect, system, decisions):
    client.force_login(architect)
    html = client.get(reverse("system_detail", args=[system.slug])).content.decode()
    assert len(re.findall(r'<circle class="pt"', html)) == 42
    assert reverse("system_history", args=[system.slug]) in html


@pytest.mark.django_db
def test_another_team_gets_404(client, outsider, system, decisions):
    client.force_login(outsider)
    assert client.get(reverse("system_history", args=[system.slug])).status_code == 404


@pytest.mark.django_db
def test_an_auditor_of_the_team_reads_the_history(client, auditor, system, decisions):
    client.force_login(auditor)
    assert client.get(reverse("system_history", args=[system.slug])).status_code == 200


@pytest.mark.django_db
def test_the_chart_reads_the_newest_record_and_draws_what_reading_every_record_would(
    system, architect, django_assert_num_queries
):
    from django.utils import timezone

    from reviews import services
    from reviews.views.history import chart_points, system_chart_points
    from tests.factories import score_all

    for n in range(3):
        review = services.start_review(
            system=system,
            release_scope=f"4.{n}",
            actor=architect,
            schema_changing=True,
            production_traffic=True,
        )
        score_all(review, architect, value=2 + n % 2)
        services.record_decision(
            review=review, actor=architect, next_review=timezone.localdate() + timezone.timedelta(days=30)
        )
    everything = chart_points(Decision.objects.filter(system=system).order_by("recorded_at", "id"))
    with django_assert_num_queries(1):
        points = system_chart_points(system)
    assert len(points) == 3 and [p["label"] for p in points] == [p["label"] for p in everything]
    assert charts.history_chart_svg(points) == charts.history_chart_svg(everything)
    assert charts.history_chart_svg(system_chart_points(system, limit=2)) == charts.history_chart_svg(
        everything[1:]
    )


@pytest.mark.django_db
def test_the_decision_page_draws_the_history_its_record_froze(client, system, architect):
    from django.utils import timezone

    from reviews import services
    from tests.factories import score_all

    made = []
    for n in range(2):
        review = services.start_review(
            system=system,
            release_scope=f"5.{n}",
            actor=architect,
            schema_changing=True,
            production_traffic=True,
        )
        score_all(review, architect)
        made.append(
            services.record_decision(
                review=review, actor=architect, next_review=timezone.localdate() + timezone.timedelta(days=30)
            )
        )
    client.force_login(architect)
    first = client.get(reverse("decision_detail", args=[made[0].pk])).content.decode()
    second = client.get(reverse("decision_detail", args=[made[1].pk])).content.decode()
    assert 'id="history"' not in first  # a system's first decision has nothing before it
    assert 'id="history"' in second and "the 1 before it" in second
    history = second[second.index('id="history"') :]
    assert history.count('<circle class="pt"') == 2 * 14
