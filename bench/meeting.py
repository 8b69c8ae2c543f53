"""Server time of the meeting's step pages and of an htmx score change, on PostgreSQL, at three sizes of
review: 0 findings / 0 evidence, 300 / 1,000 and 3,000 / 10,000. Every step page (1..13) and the score
change, p50/p95 and statements per request. Times are measured around Django's test client (URL
resolution, middleware, view, queries, template rendering; no network).

    BENCH_RUNS=60 .venv/bin/python bench/meeting.py [--json bench/results/meeting.json]
    BENCH_PROFILE=7 .venv/bin/python bench/meeting.py   # cProfile of step 7 (0: the score change), largest

Targets (issue "Scale"): every page at the largest size within 1.5 x the empty review's, statements
the same at every size, the score change at most 0.5 x its page (step 7, backup's step, and step 11,
the scoring step).
"""

import json
import os
import platform
import sys
from datetime import UTC, datetime, timedelta

from _harness import QueryCount, ensure_database, percentiles, setup

setup(os.environ.get("BENCH_DB", "readiness_bench_meeting"))

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "60"))
SIZES = ((0, 0), (300, 1000), (3000, 10000))  # (findings, evidence)
STEPS = range(1, 14)
LOADS: list[float] = []  # the 1-minute load average as each page's measurement starts
PAGES_OF_SCORE = ("step 7", "step 11")  # backup's score widget: on its category's step, the scoring step


def build(team, chair, lead, findings: int, evidence: int):
    """A review with every category scored (2, or 1 without evidence) and `findings` / `evidence` rows
    spread over the 14 categories: a tenth of the evidence load tests (judged records, three failing),
    the rest links; findings P0..P3 round robin, a third of the P1s with a signed exception."""
    from evidence.models import Evidence, EvidenceKind, LoadTest
    from reviews import services
    from reviews.models import Category, ExceptionState, Finding, Level, RiskException

    system = services.create_system(team=team, name=f"Bench {findings}/{evidence}", actor=chair)
    review = services.start_review(
        system=system,
        release_scope=f"Release with {findings} findings",
        actor=chair,
        schema_changing=True,
        production_traffic=True,
    )
    categories = list(Category.objects.filter(version=review.catalogue).order_by("number"))
    now = timezone.now()
    # Bulk rows: the benchmark is about reading them, not about writing them one by one.
    rows = Evidence.objects.bulk_create(
        Evidence(
            review=review,
            category=categories[i % 14],
            kind=EvidenceKind.LOAD_TEST if i % 10 == 0 else EvidenceKind.LINK,
            title=f"Evidence {i}",
            url="" if i % 10 == 0 else f"https://ci.example.com/{i}",
            added_by=chair,
            observed_at=now - timedelta(days=i % 200),
        )
        for i in range(evidence)
    )
    LoadTest.objects.bulk_create(
        LoadTest(
            evidence=e,
            scenario="checkout",
            environment="staging",
            started_at=now - timedelta(hours=2),
            ended_at=now - timedelta(hours=1),
            throughput_per_s=1000,
            p50_ms=20,
            p95_ms=400 if n < 3 else 80,  # three miss their target (each one the gate names)
            p99_ms=500,
            target_p95_ms=100,
            saturation_point="CPU-bound at 4,200 TPS",
        )
        for n, e in enumerate(r for r in rows if r.kind == EvidenceKind.LOAD_TEST)
    )
    levels = [Level.P0, Level.P1, Level.P2, Level.P3]
    made = Finding.objects.bulk_create(
        Finding(
            review=review,
            category=categories[i % 14],
            title=f"Finding {i}",
            level=levels[i % 4],
            owner=None if i % 8 == 3 else chair,  # half the P3s have no owner
            due_date=timezone.localdate(),
            created_by=chair,
        )
        for i in range(findings)
    )
    RiskException.objects.bulk_create(
        RiskException(
            finding=f,
            state=ExceptionState.SIGNED,
            justification="Bench",
            compensating_control="Bench",
            requested_by=chair,
            signer=lead,
            signed_at=now,
            expires_at=now + timedelta(days=30),
        )
        for n, f in enumerate(x for x in made if x.level == Level.P1)
        if n % 3 == 0
    )
    for category in categories:
        services.set_score(review=review, category=category, score=2 if evidence else 1, actor=chair)
    return review


def changer(client, review):
    """A function that changes backup's score (0, 1, 0, ...) by htmx on the scoring step."""
    from reviews.models import CategoryScore

    score_url = reverse("meeting_score", args=[review.pk, "backup"])
    version = {"v": CategoryScore.objects.get(review=review, category__code="backup").version}

    def score_change():
        response = client.post(
            score_url,
            {"score": version["v"] % 2, "version": version["v"], "full": "1"},
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL=reverse("meeting_step", args=[review.pk, 11]),
        )
        assert response.status_code == 200, response.status_code
        version["v"] += 1

    return score_change


def measure(client, reviews: dict) -> dict:
    """{size: {page: (p50, p95, statements)}} for every step and the score change. The sizes take turns
    run by run, so that the load of a shared machine weighs on each alike."""
    import time

    pages: dict[str, dict] = {}
    for step in STEPS:
        urls = {size: reverse("meeting_step", args=[r.pk, step]) for size, r in reviews.items()}
        pages[f"step {step}"] = {size: lambda url=url: client.get(url) for size, url in urls.items()}
    pages["score change"] = {size: changer(client, review) for size, review in reviews.items()}
    result: dict = {size: {} for size in reviews}
    for page, calls in pages.items():
        LOADS.append(os.getloadavg()[0])
        counts = {}
        for size, call in calls.items():
            call()  # warm
            with QueryCount() as queries:
                call()
            counts[size] = queries.count
        samples: dict = {size: [] for size in calls}
        for _ in range(RUNS):
            for size, call in calls.items():
                start = time.perf_counter()
                call()
                samples[size].append((time.perf_counter() - start) * 1000)
        for size, times in samples.items():
            result[size][page] = (*percentiles(times), counts[size])
    return result


def profile(client, review, step: int) -> None:
    import cProfile
    import pstats

    url = reverse("meeting_step", args=[review.pk, step])
    if step:
        client.get(url)

    def request():
        client.get(url)

    if not step:  # the score change
        request = changer(client, review)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(10):
        request()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)


def main() -> None:
    from django.contrib.auth import get_user_model

    from reviews.models import Membership, Role, Team

    ensure_database()
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    team = Team.objects.create(name="Bench", slug="bench")
    chair = get_user_model().objects.create_user("chair", password="pw")
    Membership.objects.create(user=chair, team=team, role=Role.ARCHITECT)
    lead = get_user_model().objects.create_user("lead", password="pw")
    Membership.objects.create(user=lead, team=team, role=Role.LEAD)
    reviews = {size: build(team, chair, lead, *size) for size in SIZES}
    with connection.cursor() as cursor:  # as autovacuum would after bulk inserts: plans from real counts
        cursor.execute("ANALYZE")
    client = Client()
    client.force_login(chair)
    if os.environ.get("BENCH_PROFILE"):
        profile(client, reviews[SIZES[-1]], int(os.environ["BENCH_PROFILE"]))
        return
    load_before = os.getloadavg()
    print(f"runs per figure: {RUNS}; load average {load_before[0]:.2f}")
    results = measure(client, reviews)
    for size in SIZES:
        for page, (p50, p95, n) in results[size].items():
            print(f"{size[0]:>5}/{size[1]:>5} {page:>13}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  queries {n}")
    load_after = os.getloadavg()
    empty, largest = results[SIZES[0]], results[SIZES[-1]]
    print("\nlargest ÷ empty, p95:")
    for page in empty:
        print(
            f"  {page:>13}: {largest[page][1] / empty[page][1]:.2f}"
            f"  queries {empty[page][2]} → {largest[page][2]}"
        )
    for size in SIZES:
        for page in PAGES_OF_SCORE:
            ratio = results[size]["score change"][1] / results[size][page][1]
            print(f"score change ÷ {page} at {size[0]}/{size[1]}: {ratio:.2f}")
    if "--json" in sys.argv:
        write_json(sys.argv[sys.argv.index("--json") + 1], results, load_before, load_after)


def write_json(path: str, results: dict, load_before, load_after) -> None:
    empty, largest = results[SIZES[0]], results[SIZES[-1]]
    steps = [f"step {s}" for s in STEPS]
    worst = max(steps, key=lambda p: largest[p][1] / empty[p][1])
    shown = ["step 7", worst, "step 13", "step 11", "score change"]  # step 7: the figure
    shown = list(dict.fromkeys(shown))
    series = [
        {
            "label": f"{page} p95",
            "x_label": "findings + evidence",
            "y_label": "ms",
            "points": [[f + e, round(results[(f, e)][page][1], 1)] for f, e in SIZES],
        }
        for page in shown
    ]
    ratios = []
    for page in [*steps, "score change"]:
        value = largest[page][1] / empty[page][1]
        ratios.append(
            {
                "name": f"{page} p95 at 3,000/10,000 ÷ empty",
                "value": round(value, 2),
                "target": "≤ 1.5",
                "met": value <= 1.5,
            }
        )
    middle = results[SIZES[1]]
    for page in [*steps, "score change"]:  # both sizes fill every list to its cap: growth beyond it
        value = largest[page][1] / middle[page][1]
        ratios.append(
            {
                "name": f"{page} p95 at 3,000/10,000 ÷ 300/1,000",
                "value": round(value, 2),
                "target": "≤ 1.5",
                "met": value <= 1.5,
            }
        )
    for size, page in ((size, page) for size in SIZES for page in PAGES_OF_SCORE):
        value = results[size]["score change"][1] / results[size][page][1]
        ratios.append(
            {
                "name": f"score change ÷ its page ({page}) p95 at {size[0]:,}/{size[1]:,}",
                "value": round(value, 2),
                "target": "≤ 0.5",
                "met": value <= 0.5,
            }
        )
    # Django skips the prefetch of an empty list: the review without findings sends 1 or 2 fewer.
    counts = {page: sorted({results[s][page][2] for s in SIZES[1:]}) for page in empty}
    same = all(len(c) == 1 for c in counts.values())
    ratios.append(
        {
            "name": "statements per request the same at 300/1,000 and 3,000/10,000 (every page and the "
            "score change; the empty review sends 1–2 fewer)",
            "value": same,
            "target": True,
            "met": same,
        }
    )
    table = {
        f"{f}/{e}": {
            page: {"p50": round(v[0], 1), "p95": round(v[1], 1), "queries": v[2]} for page, v in r.items()
        }
        for (f, e), r in results.items()
    }
    data = {
        "benchmark": "meeting",
        "command": f"BENCH_RUNS={RUNS} .venv/bin/python bench/meeting.py --json {path}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs shared, {platform.python_implementation()} "
        f"{platform.python_version()}, PostgreSQL on 127.0.0.1",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load": f"1-minute load average {min(LOADS):.2f}–{max(LOADS):.2f} "
        f"(mean {sum(LOADS) / len(LOADS):.2f}) over the run, {load_after[0]:.2f} at its end; "
        "2 CPUs shared with other agents",
        "series": series,
        "ratios": ratios,
        "all": table,
        "notes": "Django test client around each request, production settings. Sizes: findings/evidence; "
        "a tenth of the evidence are load tests (judged records), the rest links. The score change is "
        "the htmx POST of backup's score (from the scoring step), compared with the pages that show "
        "that widget: step 7 (backup's step) and step 11 (the scoring step).",
    }
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
