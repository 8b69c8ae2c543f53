"""Render time of the decision record PDF for a large review, on PostgreSQL.

A review with 300 findings (P0–P3, P1s on signed exceptions, P2s with dated owners), 1,000 evidence
items across the 14 categories, 14 scores and a probe run of 50 results, decided through
`services.record_decision`. Then the PDF is rendered from the stored record, as the Celery task does
(`records.render_pdf`: template, WeasyPrint layout, PDF bytes), N times; the median is the figure.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/readiness_bench_pdf .venv/bin/python bench/decision_pdf.py

Target (issue 5, item 7): under 3 s. Writes the PDF to $TMPDIR/readiness-bench-decision.pdf.
"""

import os
import platform
import resource
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _harness import ensure_database, setup

setup("readiness_bench_pdf", test_client=False)

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
FINDINGS = 300
TITLES = ("missing index on a foreign key", "no lag alert", "unbounded batch")
EVIDENCE = 1000


def build():
    """The review, its rows written in bulk (the benchmark is about reading and rendering them)."""
    from django.contrib.auth import get_user_model

    from evidence.models import Evidence, EvidenceKind
    from reviews import services
    from reviews.models import (
        Category,
        CategoryScore,
        ExceptionState,
        Finding,
        FindingSource,
        Level,
        Membership,
        RiskException,
        Role,
        Team,
    )

    User = get_user_model()  # noqa: N806
    team = Team.objects.create(name="Bench", slug="bench")
    people = {}
    for username, role in (("chair", Role.ARCHITECT), ("mia", Role.MEMBER), ("linus", Role.LEAD)):
        people[username] = User.objects.create_user(username, password="pw", first_name=username.title())
        Membership.objects.create(user=people[username], team=team, role=role)
    chair, member, lead = people["chair"], people["mia"], people["linus"]
    system = services.create_system(team=team, name="Bench system", actor=chair)
    review = services.start_review(
        system=system,
        release_scope="Bench release",
        actor=chair,
        schema_changing=True,
        production_traffic=True,
    )
    categories = list(Category.objects.filter(version=review.catalogue).order_by("number"))
    now = timezone.now()
    Evidence.objects.bulk_create(
        Evidence(
            review=review,
            category=categories[i % 14],
            kind=EvidenceKind.LINK,
            title=f"Evidence {i}: CI run of the {categories[i % 14].name.lower()} checks",
            url=f"https://ci.example.com/pipelines/{100000 + i}/jobs/readiness",
            observed_at=now - timedelta(days=i % 120),
            added_by=member,
        )
        for i in range(EVIDENCE)
    )
    CategoryScore.objects.bulk_create(
        CategoryScore(review=review, category=c, score=2 + (c.number % 2), owner=member, updated_by=member)
        for c in categories
    )
    levels = [Level.P0, Level.P1, Level.P2, Level.P3]
    findings = Finding.objects.bulk_create(
        Finding(
            review=review,
            category=categories[i % 14],
            title=f"Finding {i}: {TITLES[i % 3]}",
            level=levels[i % 4],
            owner=member if levels[i % 4] in (Level.P1, Level.P2) else None,
            due_date=(now + timedelta(days=30)).date() if levels[i % 4] in (Level.P1, Level.P2) else None,
            source=FindingSource.MANUAL,
            created_by=member,
        )
        for i in range(FINDINGS)
    )
    RiskException.objects.bulk_create(
        RiskException(
            finding=f,
            justification="Volume is low until the batch job ships",
            compensating_control="Pager alert on lock waits",
            expires_at=now + timedelta(days=30),
            state=ExceptionState.SIGNED,
            requested_by=member,
            signer=lead,
            signed_at=now,
            signed_digest="0" * 64,
        )
        for f in findings
        if f.level == Level.P1
    )
    try:
        from probes.models import ProbeResult, ProbeRun, ProbeTarget
    except ImportError:
        pass
    else:
        target = ProbeTarget.objects.create(
            system=system, name="bench-prod", dsn_encrypted="x", dsn_masked="x"
        )
        run = ProbeRun.objects.create(
            target=target, review=review, state="done", started_at=now, finished_at=now, started_by=member
        )
        ProbeResult.objects.bulk_create(
            ProbeResult(
                run=run,
                probe_id=f"bench.probe-{i}",
                title=f"Probe {i}",
                category=categories[i % 14].code,
                severity=levels[i % 4],
                status=["pass", "warn", "fail", "skipped"][i % 4],
                summary=f"Probe {i} looked at 1,000 tables",
            )
            for i in range(50)
        )
    return review, chair


def main() -> None:
    ensure_database()
    connection.close()
    call_command("migrate", verbosity=0)
    from reviews import records, services

    review, chair = build()
    services.enqueue_decision_pdf = lambda decision_id: None  # rendered below, timed, not by on_commit
    started = time.perf_counter()
    decision = services.record_decision(
        review=review, actor=chair, next_review=timezone.localdate() + timedelta(days=90)
    )
    record_s = time.perf_counter() - started
    record = type(decision).objects.get(pk=decision.pk).record  # as the task reads it

    records.render_pdf(record, digest=decision.digest, decision_id=decision.pk)  # imports, fonts: warm-up
    times, pages, size = [], 0, 0
    for _ in range(RUNS):
        started = time.perf_counter()
        pdf, pages = records.render_pdf(record, digest=decision.digest, decision_id=decision.pk)
        times.append(time.perf_counter() - started)
        size = len(pdf)
    out = Path(tempfile.gettempdir()) / "readiness-bench-decision.pdf"
    out.write_bytes(pdf)

    started = time.perf_counter()
    document = records.store_decision_pdf(decision.pk)  # the task's whole path: lock, render, store
    task_s = time.perf_counter() - started

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print(
        f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, {platform.platform()}"
    )
    print(f"date: {timezone.now():%Y-%m-%d}, load average {os.getloadavg()[0]:.2f}")
    size_json = len(services.canonical_json(record))
    print(f"review: {FINDINGS} findings, {EVIDENCE} evidence items; record {size_json} bytes")
    print(f"record_decision (gate, record, digest, insert): {record_s:.3f} s")
    print(
        f"render_pdf x{RUNS}: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s, max {max(times):.3f} s; {pages} pages, {size / 1024:.0f} KiB -> {out}"
    )
    print(f"task path once (lock, render, store): {task_s:.3f} s; stored {document.pages} pages")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
