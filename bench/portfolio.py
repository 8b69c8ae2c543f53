"""The portfolio page with 500 systems and their reviews, on PostgreSQL: p50/p95 and the query count.

500 systems in 10 teams; each has an older decided review with its decision (half of them past their
next-review date) and a current review with 14 scores, 3 evidence items per category (some stale),
and 6 findings (P0–P3, a P1 on a signed exception). Rows are written in bulk: the benchmark is about
reading them. The page is fetched by an architect of all ten teams through Django's test client.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/readiness_bench_portfolio \
        .venv/bin/python bench/portfolio.py

Target (issue 9, item 6): p95 under 150 ms, with a constant number of queries.
"""

import os
import platform
import time
from datetime import timedelta

from _harness import QueryCount, ensure_database, setup, timed

setup("readiness_bench_portfolio")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from reviews.views.portfolio import PORTFOLIO_PAGE  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "100"))
SYSTEMS = int(os.environ.get("BENCH_SYSTEMS", "500"))
TEAMS = 10


def build(n: int):
    from django.contrib.auth import get_user_model

    from evidence.models import Evidence
    from reviews.models import (
        CatalogueVersion,
        Category,
        CategoryScore,
        Decision,
        Finding,
        Membership,
        Review,
        RiskException,
        Role,
        System,
        Team,
    )

    user = get_user_model().objects.create_user("chair", password="pw", first_name="Chair")
    lead = get_user_model().objects.create_user("lead", password="pw", first_name="Lead")
    teams = [Team.objects.create(name=f"Team {t:02d}", slug=f"team-{t:02d}") for t in range(TEAMS)]
    for t in teams:
        Membership.objects.create(user=user, team=t, role=Role.ARCHITECT)
        Membership.objects.create(user=lead, team=t, role=Role.LEAD)
    version = CatalogueVersion.objects.filter(published=True).order_by("-number").first()
    categories = list(Category.objects.filter(version=version).order_by("number"))
    now = timezone.now()
    systems = System.objects.bulk_create(
        System(team=teams[i % TEAMS], name=f"System {i:04d}", slug=f"system-{i:04d}") for i in range(n)
    )
    old = Review.objects.bulk_create(
        Review(
            system=s,
            catalogue=version,
            release_scope="previous",
            created_by=user,
            state="decided",
            created_at=now - timedelta(days=200),
        )
        for s in systems
    )
    Decision.objects.bulk_create(
        Decision(
            review=r,
            system=r.system,
            outcome=["APPROVED", "BLOCKED", "APPROVED_WITH_EXCEPTIONS"][i % 3],
            next_review=(now + timedelta(days=30 if i % 2 else -5)).date(),
            approver=user,
            recorded_at=now - timedelta(days=150),
            record={},
            digest=f"{i:064x}",
        )
        for i, r in enumerate(old)
    )
    current = Review.objects.bulk_create(
        Review(
            system=s,
            catalogue=version,
            release_scope="current",
            created_by=user,
            schema_changing=False,
            production_traffic=True,
        )
        for s in systems
    )
    CategoryScore.objects.bulk_create(
        CategoryScore(review=r, category=c, score=(i + c.number) % 4, updated_by=user)
        for i, r in enumerate(current)
        for c in categories
    )
    Evidence.objects.bulk_create(
        Evidence(
            review=r,
            category=c,
            kind="restore_drill" if k == 0 else "link",
            title=f"E{k}",
            url="https://ci.example.com/run",
            observed_at=now - timedelta(days=(i * 7 + k * 50) % 200),
            added_by=user,
        )
        for i, r in enumerate(current)
        for c in categories
        for k in range(3)
        if (i + c.number + k) % 5
    )
    findings = Finding.objects.bulk_create(
        Finding(
            review=r,
            category=categories[(i + j) % 14],
            title=f"Finding {j}",
            level=level,
            created_by=user,
            owner=user if level == "P2" else None,
            due_date=(now + timedelta(days=10)).date() if level == "P2" else None,
            status="resolved" if j == 5 else "open",
        )
        for i, r in enumerate(current)
        for j, level in enumerate(["P0" if i % 4 == 0 else "P3", "P1", "P2", "P3", "P2", "P1"])
    )
    RiskException.objects.bulk_create(
        RiskException(
            finding=f,
            justification="j",
            compensating_control="c",
            expires_at=now + timedelta(days=20),
            state="signed",
            requested_by=user,
            signer=lead,
            signed_at=now,
        )
        for f in findings
        if f.level == "P1" and f.title == "Finding 1"
    )
    return user


def main() -> None:
    ensure_database()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    start = time.perf_counter()
    user = build(SYSTEMS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # planner statistics, as autovacuum would have gathered them by now
    print(f"built {SYSTEMS} systems in {time.perf_counter() - start:.1f} s")
    import readiness.wsgi  # noqa: F401 — start as gunicorn does (every view loaded, then gc.freeze())

    client = Client()
    client.force_login(user)
    url = reverse("portfolio")

    def get(query=""):
        response = client.get(url + query)
        assert response.status_code == 200, response.status_code
        return response

    first = get()
    body = first.content
    assert body.count(b'data-system="system-') == min(SYSTEMS, PORTFOLIO_PAGE), "a page of rows is drawn"
    assert f"of {SYSTEMS} systems".encode() in body, "every system is counted"
    print(
        f"{platform.node()} · Python {platform.python_version()} · {os.cpu_count()} CPUs · "
        f"runs per figure: {RUNS} · page {len(body) // 1024} KiB"
    )
    for label, query in (
        ("all 500, grouped by team (page 1 of 5 drawn)", ""),
        ("page 5", "?page=5"),
        ("sorted by a category", "?sort=backup&dir=desc"),
        ("filtered: blocked + overdue", "?outcome=BLOCKED&overdue=1"),
        ("CSV export", "?format=csv"),
    ):
        with QueryCount() as queries:
            get(query)
        p50, p95 = timed(lambda q=query: get(q), RUNS)
        print(f"{label:<46} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  queries {queries.count}")


if __name__ == "__main__":
    main()
