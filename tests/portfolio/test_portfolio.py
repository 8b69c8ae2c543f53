"""The portfolio heatmap: cells, marks, filters, sorting, the summary row, CSV, access and query count."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews.models import CategoryScore, Review

from ..factories import ReviewFactory, SystemFactory, category

pytestmark = pytest.mark.django_db
URL = reverse("portfolio")


def _count(client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(URL).status_code == 200
    return len(ctx)


def test_query_count_is_the_same_for_5_and_200_systems(
    client, architect, team, portfolio_of, django_assert_num_queries
):
    client.force_login(architect)
    portfolio_of(team, architect, 5)
    client.get(URL)  # warm per-process caches (content types, sessions)
    small = _count(client)
    portfolio_of(team, architect, 195, start=5)
    with django_assert_num_queries(small):
        response = client.get(URL)
    assert response.context["total"] == 200
    assert response.content.decode().count('data-system="sys-') == 100  # a page is drawn
    with django_assert_num_queries(small):
        second = client.get(URL, {"page": 2})
    assert second.content.decode().count('data-system="sys-') == 100


def test_pages_keep_the_filters_and_the_summary_counts_every_row(
    client, architect, team, portfolio_of, monkeypatch
):
    from reviews.views import portfolio as view

    monkeypatch.setattr(view, "PORTFOLIO_PAGE", 2)
    client.force_login(architect)
    portfolio_of(team, architect, 5)
    first = client.get(URL, {"sort": "system"})
    html = first.content.decode()
    assert html.count('data-system="sys-') == 2
    assert "?page=2&amp;sort=system" in html
    last = client.get(URL, {"sort": "system", "page": 3})
    assert last.content.decode().count('data-system="sys-') == 1
    assert first.context["summary"] == last.context["summary"]


def test_cells_show_scores_marks_and_link_to_the_category(client, architect, team, portfolio_of):
    client.force_login(architect)
    (system,) = portfolio_of(team, architect, 1)
    review = system.reviews.order_by("-created_at", "-id").first()
    html = client.get(URL).content.decode()
    assert reverse("review_checklist", args=[review.pk, "backup"]) in html
    assert "m-no-evidence" in html  # backup 2 without evidence
    assert "overdue" in html
    assert '<span class="level level-p0">1</span>' in html


def test_summary_counts_systems_below_the_minimum(client, architect, team, portfolio_of):
    client.force_login(architect)
    portfolio_of(team, architect, 3)
    response = client.get(URL)
    summary = {c.code: n for c, n, has_minimum in response.context["summary"] if has_minimum}
    # backup scores 2 without evidence (counts as 1): below for every system; security 3 with evidence.
    assert summary["backup"] == 3
    assert summary["security"] == 0


def test_filters_by_team_outcome_and_overdue(client, architect, team, other_team, portfolio_of):
    from tests.factories import MembershipFactory

    MembershipFactory(user=architect, team=other_team, role="architect")
    client.force_login(architect)
    portfolio_of(team, architect, 2)
    fresh = SystemFactory(team=other_team, name="Fresh", slug="fresh")
    ReviewFactory(system=fresh, created_by=architect)
    rows = client.get(URL, {"team": other_team.slug}).context["rows"]
    assert [r.system.slug for r in rows] == ["fresh"]
    rows = client.get(URL, {"overdue": "1"}).context["rows"]
    assert {r.system.slug for r in rows} == {"sys-0000", "sys-0001"}
    rows = client.get(URL, {"outcome": "BLOCKED"}).context["rows"]
    assert {r.system.slug for r in rows} == {"sys-0000", "sys-0001"}
    rows = client.get(URL, {"outcome": "INCOMPLETE"}).context["rows"]
    assert [r.system.slug for r in rows] == ["fresh"]


def test_sorts_by_a_category_column_both_ways(client, architect, team, portfolio_of):
    client.force_login(architect)
    a, b = portfolio_of(team, architect, 2)
    review = b.reviews.order_by("-created_at", "-id").first()
    CategoryScore.objects.filter(review=review, category=category(review, "security")).update(score=1)
    up = client.get(URL, {"sort": "security"}).context["rows"]
    assert [r.system.pk for r in up] == [b.pk, a.pk]
    down = client.get(URL, {"sort": "security", "dir": "desc"}).context["rows"]
    assert [r.system.pk for r in down] == [a.pk, b.pk]
    html = client.get(URL, {"sort": "security"}).content.decode()
    assert 'aria-sort="ascending"' in html and "sort=security&amp;dir=desc" in html


def test_csv_export_has_the_same_rows(client, architect, team, portfolio_of):
    client.force_login(architect)
    portfolio_of(team, architect, 2)
    response = client.get(URL, {"format": "csv", "sort": "system", "dir": "desc"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:3] == ["team", "system", "ownership"] or rows[0][1] == "system"
    assert [r[1] for r in rows[1:]] == ["Sys 0001", "Sys 0000"]
    header = rows[0]
    assert rows[1][header.index("open_p0")] == "1" and rows[1][header.index("no_evidence")] == "backup"


def test_another_teams_systems_are_not_shown(client, outsider, team, architect, portfolio_of):
    portfolio_of(team, architect, 2)
    client.force_login(outsider)
    response = client.get(URL)
    assert response.status_code == 200 and response.context["rows"] == []
    assert b"sys-0000" not in response.content


def test_needs_sign_in(client):
    assert client.get(URL).status_code == 302


def test_a_score_resting_only_on_stale_evidence_is_marked(client, architect, team, portfolio_of):
    from datetime import timedelta

    from django.utils import timezone

    from evidence.models import Evidence

    client.force_login(architect)
    (system,) = portfolio_of(team, architect, 1)
    review = system.reviews.order_by("-created_at", "-id").first()
    Evidence.objects.create(
        review=review,
        category=category(review, "backup"),
        kind="restore_drill",
        title="Old drill",
        observed_at=timezone.now() - timedelta(days=400),
        added_by=architect,
    )
    context = client.get(URL).context
    (row,) = context["rows"]
    backup = next(c for c in row.cells([c.code for c in context["columns"]]) if c.code == "backup")
    assert backup.only_stale and not backup.no_evidence and backup.text == "2†"
    assert "m-stale" in row.html


def test_the_portfolio_gate_agrees_with_the_review_page_gate(client, architect, team, portfolio_of):
    from reviews.selectors import review_gate

    client.force_login(architect)
    systems = portfolio_of(team, architect, 3)
    rows = {r.system.pk: r for r in client.get(URL).context["rows"]}
    for system in systems:
        review = system.reviews.order_by("-created_at", "-id").first()
        page_gate = review_gate(review)
        assert rows[system.pk].outcome == page_gate.outcome.value
        assert rows[system.pk].gate == page_gate


def test_the_portfolio_gate_equals_the_review_page_gate_in_every_state(
    client, architect, lead, team, portfolio_of
):
    """Exceptions signed, lapsed and awaiting a signature, stale evidence, an unscored category, a resolved
    P0, the conditional minimums, critical checklist items answered No or not at all, a failed restore
    drill, a 3 with all it needs and release flags unanswered: the portfolio builds its gate inputs
    itself, and must build the same."""
    from datetime import timedelta

    from django.utils import timezone

    from evidence.models import Evidence
    from reviews.models import Finding, RiskException
    from reviews.selectors import review_gate

    client.force_login(architect)
    systems = portfolio_of(team, architect, 10)
    reviews = [s.reviews.order_by("-created_at", "-id").first() for s in systems]
    now = timezone.now()

    def exception(review, state, days):
        finding = Finding.objects.get(review=review, level="P1")
        RiskException.objects.create(
            finding=finding,
            justification="j",
            compensating_control="c",
            expires_at=now + timedelta(days=days),
            state=state,
            requested_by=architect,
            signer=lead if state != "requested" else None,
            signed_at=now if state != "requested" else None,
        )

    exception(reviews[0], "signed", 30)
    Finding.objects.filter(review=reviews[0], level="P0").update(status="resolved")
    Evidence.objects.create(
        review=reviews[0],
        category=category(reviews[0], "backup"),
        kind="link",
        title="Runbook",
        url="https://x/",
    )
    exception(reviews[1], "signed", -1)  # lapsed, not yet marked expired
    exception(reviews[2], "requested", 30)
    Finding.objects.filter(review=reviews[3], level="P0").update(status="resolved")
    exception(reviews[3], "signed", 10)
    Evidence.objects.create(
        review=reviews[3],
        category=category(reviews[3], "backup"),
        kind="restore_drill",
        title="Old drill",
        observed_at=now - timedelta(days=400),
        added_by=architect,
    )
    Evidence.objects.filter(review=reviews[3], category=category(reviews[3], "capacity")).update(
        kind="load_test", observed_at=now - timedelta(days=400)
    )
    reviews[4].schema_changing = True
    reviews[4].save(update_fields=["schema_changing"])
    CategoryScore.objects.filter(review=reviews[4], category=category(reviews[4], "migration")).update(
        score=1
    )
    CategoryScore.objects.filter(review=reviews[4], category=category(reviews[4], "privacy")).delete()
    reviews[5].production_traffic = True
    reviews[5].save(update_fields=["production_traffic"])
    Evidence.objects.filter(review=reviews[5], category=category(reviews[5], "observability")).delete()

    # 6: a critical backup item answered No, another of privacy not answered (its P0 finding resolved).
    from reviews.models import ChecklistAnswer, ChecklistItem

    ChecklistAnswer.objects.filter(review=reviews[6], item__code="backup.restore-drill-recent").update(
        answer="no"
    )
    ChecklistAnswer.objects.filter(review=reviews[6], item__code="privacy.no-raw-pii-in-logs").delete()
    Finding.objects.filter(review=reviews[6], level="P0").update(status="resolved")
    # 7: backup's only evidence a restore drill that missed its targets.
    from evidence import services as evidence_services

    Finding.objects.filter(review=reviews[7], level="P0").update(status="resolved")
    evidence_services.add_restore_drill(
        review=reviews[7],
        actor=architect,
        title="Failed drill",
        database="ledger",
        backup_source="s3",
        target_environment="staging",
        requested_recovery_point=now - timedelta(hours=5),
        actual_recovery_point=now - timedelta(hours=8),
        started_at=now - timedelta(hours=4),
        ended_at=now - timedelta(hours=1),
        rpo_target_minutes=15,
        rto_target_minutes=60,
        validation_queries="select count(*) from ledger",
        validation_passed=False,
    )
    # 8: every category 3 with an owner, a control, a test and a runbook shown; P0 resolved, P1 excepted.
    Finding.objects.filter(review=reviews[8], level="P0").update(status="resolved")
    exception(reviews[8], "signed", 30)
    CategoryScore.objects.filter(review=reviews[8]).update(score=3, owner=architect)
    for cat in reviews[8].catalogue.categories.all():
        for shows in ("control", "test", "runbook"):
            Evidence.objects.create(
                review=reviews[8], category=cat, kind="link", title=shows, url="https://x/", shows=shows
            )
    # 9: the release flags not answered.
    Review.objects.filter(pk=reviews[9].pk).update(schema_changing=None, production_traffic=None)
    reviews[9].refresh_from_db()
    assert ChecklistItem.objects.filter(critical_level__isnull=False).exists()

    rows = {r.system.pk: r for r in client.get(URL).context["rows"]}
    outcomes = set()
    for system, review in zip(systems, reviews, strict=True):
        page_gate = review_gate(review)
        assert rows[system.pk].gate == page_gate, system.name
        outcomes.add(page_gate.outcome.value)
    assert rows[systems[3].pk].gate.notes  # the stale capacity evidence is said
    assert rows[systems[6].pk].outcome == "BLOCKED"  # the backup item's No caps backup at 1
    assert any("Failed drill" in r.message for r in rows[systems[7].pk].gate.blockers)
    assert rows[systems[8].pk].outcome == "APPROVED_WITH_EXCEPTIONS"
    assert rows[systems[9].pk].outcome == "INCOMPLETE"
    assert outcomes == {"BLOCKED", "APPROVED_WITH_EXCEPTIONS", "INCOMPLETE"}


def test_a_review_on_an_older_catalogue_shows_its_scores_under_the_newest_columns(
    client, architect, team, portfolio_of
):
    from reviews.models import CatalogueVersion, Category
    from reviews.selectors import review_gate

    client.force_login(architect)
    (system,) = portfolio_of(team, architect, 1)
    review = system.reviews.order_by("-created_at", "-id").first()
    CategoryScore.objects.filter(review=review, category=category(review, "capacity")).update(score=1)
    old = list(Category.objects.filter(version=review.catalogue).order_by("number"))
    newer = CatalogueVersion.objects.create(number=99, label="v99", published=True)
    # The newest catalogue puts capacity first, renames ownership, and keeps the rest.
    Category.objects.bulk_create(
        [Category(version=newer, code="capacity", number=1, name="Capacity", section="x")]
        + [
            Category(
                version=newer,
                code="stewardship" if c.code == "ownership" else c.code,
                number=i + 2,
                name=c.name,
                section="x",
            )
            for i, c in enumerate(x for x in old if x.code != "capacity")
        ]
    )
    context = client.get(URL).context
    codes = [c.code for c in context["columns"]]
    (row,) = context["rows"]
    assert codes[:2] == ["capacity", "stewardship"]
    scores = dict(zip(codes, row.scores, strict=True))
    assert scores["capacity"] == 1 and scores["stewardship"] is None and scores["backup"] == 2
    assert row.gate == review_gate(review)  # judged on its own catalogue
