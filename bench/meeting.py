"""Server time of the meeting page and of an htmx score change, on PostgreSQL.

A review with 14 scored categories, 300 findings and 1,000 evidence items. Times are measured around
Django's test client (URL resolution, middleware, view, queries, template rendering; no network).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/readiness_bench .venv/bin/python bench/meeting.py

Targets (issue: the meeting view): page p95 < 80 ms, partial p95 < 30 ms.
"""

import os

from _harness import QueryCount, ensure_database, setup, timed

setup("readiness_bench")

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "200"))


def build():
    from django.contrib.auth import get_user_model

    from evidence.models import Evidence, EvidenceKind
    from reviews import services
    from reviews.models import Category, Finding, Level, Membership, Role, Team

    User = get_user_model()  # noqa: N806
    team = Team.objects.create(name="Bench", slug="bench")
    chair = User.objects.create_user("chair", password="pw")
    Membership.objects.create(user=chair, team=team, role=Role.ARCHITECT)
    system = services.create_system(team=team, name="Bench system", actor=chair)
    review = services.start_review(
        system=system,
        release_scope="Bench release",
        actor=chair,
        schema_changing=True,
        production_traffic=True,
    )
    categories = list(Category.objects.filter(version=review.catalogue).order_by("number"))
    # Bulk rows: the benchmark is about reading them, not about writing them one by one.
    Evidence.objects.bulk_create(
        Evidence(
            review=review,
            category=categories[i % 14],
            kind=EvidenceKind.LINK,
            title=f"Evidence {i}",
            url=f"https://ci.example.com/{i}",
            added_by=chair,
        )
        for i in range(1000)
    )
    levels = [Level.P0, Level.P1, Level.P2, Level.P3]
    Finding.objects.bulk_create(
        Finding(
            review=review,
            category=categories[i % 14],
            title=f"Finding {i}",
            level=levels[i % 4],
            owner=chair,
            due_date=timezone.localdate(),
            created_by=chair,
        )
        for i in range(300)
    )
    for category in categories:
        services.set_score(review=review, category=category, score=2, actor=chair)
    return review, chair


def main() -> None:
    ensure_database()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    review, chair = build()
    client = Client()
    client.force_login(chair)
    pages = {step: reverse("meeting_step", args=[review.pk, step]) for step in (7, 11, 12, 13)}
    score_url = reverse("meeting_score", args=[review.pk, "backup"])
    from reviews.models import CategoryScore

    def score_change():
        row = CategoryScore.objects.get(review=review, category__code="backup")
        response = client.post(
            score_url, {"score": 3 if row.score == 2 else 2, "version": row.version}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200, response.status_code

    for url in pages.values():
        assert client.get(url).status_code == 200
    print(f"runs per figure: {RUNS}")
    for step, url in pages.items():
        with QueryCount() as queries:
            client.get(url)
        p50, p95 = timed(lambda url=url: client.get(url), RUNS)
        print(f"page step {step:>2}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  queries {queries.count}")
    with QueryCount() as queries:
        score_change()
    # The score change reads the current version first (one query), as a second browser would not.
    p50, p95 = timed(score_change, RUNS)
    print(f"htmx score change: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  queries {queries.count - 1}")


if __name__ == "__main__":
    main()
