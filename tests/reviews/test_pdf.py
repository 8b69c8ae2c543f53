"""The decision record's PDF: what its text holds, rendered once by a Celery task enqueued on commit,
served as stored afterwards, a "being rendered" page meanwhile, and the run through a real worker."""

import io
import re
import time
import uuid
from datetime import timedelta

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish, task_postrun
from django.core.cache import cache
from django.db import connections
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from readiness import dispatch
from readiness.celery import app
from reviews import records, services, tasks
from reviews.models import AuditEvent, ChecklistAnswer, DecisionDocument, Level
from reviews.views import decisions as decision_views
from tests.brokers import reset_broker_connections
from tests.factories import category, score_all

from .test_records import build_decided

REDIS_URL = "redis://127.0.0.1:6379/14"


def pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.fixture
def decided(review, architect, member, lead):
    return build_decided(review, architect=architect, member=member, lead=lead)


# --- what the PDF says ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_pdf_holds_the_outcome_the_blockers_and_the_digest_on_every_page(decided):
    decision = decided.decision
    document = records.store_decision_pdf(decision.pk)
    assert document.pages >= 3 and document.size == len(bytes(document.pdf))
    pages = pdf_pages(bytes(document.pdf))
    assert len(pages) == document.pages
    cover = flat(pages[0])
    assert "BLOCKED" in cover and "Ledger" in cover and "Ledger 3.0" in cover
    text = flat(" ".join(pages))
    assert "Open P0 blocker: Application connects as superuser" in text
    for n, page in enumerate(pages, start=1):
        assert f"Record SHA-256 {decision.digest}" in flat(page), f"page {n} lacks the digest"
        assert f"Page {n} of {len(pages)}" in flat(page)
    # The rest of seed §21's output, and what the issue asks of the PDF.
    for expected in (
        "Backfill without batches",  # the exception
        "Pager alert on lock waits",
        "No replication lag alert",  # a follow-up with its owner
        "gate minimum",  # the chart's legend (SVG text)
        "Q4 restore drill",  # the evidence list
        "ledger-prod",  # the probe summary
        "App role is superuser",
        "Next review",
        decision.next_review.isoformat(),
    ):
        assert expected in text, expected


@pytest.mark.django_db
def test_the_pdf_shows_the_chairs_judgement_final_questions_claims_and_checklist_answers(
    review, architect, member
):
    from reviews.models import ChecklistItem

    from .test_judgement import all_yes

    score_all(review, member)
    services.add_claim(
        review=review,
        claim="No posting is ever lost",
        risk="A crash between debit and credit",
        control="One transaction per posting",
        evidence_note="Concurrency test in CI",
        actor=member,
    )
    item = ChecklistItem.objects.filter(category=category(review, "replication")).order_by("position").first()
    services.answer_item(
        review=review, item=item, answer="na", note="A single managed instance, no replicas", actor=member
    )
    decision = services.record_decision(
        review=review,
        actor=architect,
        next_review=timezone.localdate() + timedelta(days=60),
        outcome="BLOCKED",
        reason="Nobody on call can diagnose replication lag yet.",
        final_answers=all_yes(operations_diagnose=("no", "")),
    )
    document = records.store_decision_pdf(decision.pk)
    pages = pdf_pages(bytes(document.pdf))
    cover = flat(pages[0])
    assert "BLOCKED" in cover
    assert "stricter than the gate's Approved: Nobody on call can diagnose replication lag yet." in cover
    assert "gate: Approved · chair: Blocked" in cover and "25 yes · 1 no · 0 not applicable" in cover
    text = flat(" ".join(pages))
    assert "The chair's judgement" in text and "Security and compliance" in text
    assert "Can on-call diagnose locks, replication lag, disk and query regressions?" in text
    assert "Claims (1)" in text and "No posting is ever lost" in text and "Concurrency test in CI" in text
    answered = ChecklistAnswer.objects.filter(
        review=review
    ).count()  # with the critical items score_all answered
    assert f"Checklist answers ({answered})" in text
    assert "Not applicable because: A single managed instance, no replicas" in text
    assert "Evidence that failed (0)" in text and "Loosening (0)" in text
    assert "Carried from earlier reviews (0)" in text
    assert f"Record SHA-256 {decision.digest}" in flat(pages[-1])


@pytest.mark.django_db
def test_an_older_record_renders_without_the_new_sections(decided):
    record = {k: v for k, v in decided.decision.record.items() if k not in ("judgement", "final_questions")}
    record["schema"] = "readiness.decision/4"
    pdf, _ = records.render_pdf(record, digest=services.record_digest(record))
    text = flat(" ".join(pdf_pages(pdf)))
    assert "BLOCKED" in text and "The chair's judgement" not in text and "Final questions" not in text


@pytest.mark.django_db
def test_approved_with_exceptions_is_on_the_cover_with_the_signer(review, architect, member, lead):
    score_all(review, member)
    finding = services.add_finding(
        review=review, category=category(review, "migration"), title="Backfill", level=Level.P1, actor=member
    )
    exc = services.request_exception(
        finding=finding,
        justification="Small table",
        compensating_control="Watch it",
        expires_at=timezone.now() + timedelta(days=9),
        actor=member,
    )
    services.sign_exception(exception=exc, actor=lead)
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=60)
    )
    pdf, _pages = records.render_pdf(decision.record, digest=decision.digest, decision_id=decision.pk)
    text = flat(" ".join(pdf_pages(pdf)))
    assert "APPROVED WITH EXCEPTIONS" in text
    assert lead.get_full_name() in text and "Small table" in text


@pytest.mark.django_db
def test_the_pdf_draws_the_systems_history_from_the_records_frozen_history(review, system, architect):
    score_all(review, architect)
    first = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=60)
    )
    later = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    score_all(later, architect, value=3)
    second = services.record_decision(
        review=later, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    first_text = flat(" ".join(pdf_pages(records.render_pdf(first.record, digest=first.digest)[0])))
    assert "History" not in first_text  # nothing earlier to draw
    context = records.pdf_context(second.record, digest=second.digest)
    assert str(context["history_chart"]).count('<circle class="pt"') == 2 * 14  # both decisions, 14 rows
    assert str(context["history_chart"]).count('class="outcome-mark"') == 2
    text = flat(" ".join(pdf_pages(records.render_pdf(second.record, digest=second.digest)[0])))
    assert "History (this decision and the 1 before it" in text
    assert "score 0 (bottom) to 3 (top)" in text  # the chart's legend, SVG text in the PDF


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("outcome", "variable"),
    [("BLOCKED", "blocked"), ("APPROVED", "approved"), ("APPROVED_WITH_EXCEPTIONS", "exceptions")],
)
def test_the_pdf_colours_are_the_apps_palette(outcome, variable, settings):
    css = (settings.BASE_DIR / "static" / "css" / "app.css").read_text()
    expected = re.search(rf"--{variable}:\s*(#[0-9a-f]+);", css).group(1)
    expected_bg = re.search(rf"--{variable}-bg:\s*(#[0-9a-f]+);", css).group(1)
    record = {"outcome": outcome, "scorecard": [], "reasons": [], "system": {}, "review": {}}
    context = records.pdf_context(record, digest="a" * 64)
    assert (context["outcome_colour"], context["outcome_background"]) == (expected, expected_bg)
    from django.template.loader import render_to_string

    html = render_to_string("records/decision.html", context)
    assert f"border-left: 9mm solid {expected}" in html and f"background: {expected_bg}" in html


def test_a_digest_that_is_not_hex_never_reaches_the_pdf_css():
    record = {"outcome": "BLOCKED", "scorecard": [], "reasons": []}
    assert records.pdf_context(record, digest='"; } body { color: red')["digest"] == "INVALID DIGEST"


# --- rendered once, on commit, by the task ----------------------------------------------------------


@pytest.mark.django_db
def test_recording_a_decision_enqueues_the_rendering_on_commit_with_only_its_id(
    review, architect, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(tasks.render_decision_pdf, "delay", lambda *args, **kw: sent.append((args, kw)))
    score_all(review, architect)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        decision = services.record_decision(
            review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
        )
    assert sent == []  # nothing before the commit: a worker could not see the decision yet
    for callback in callbacks:
        callback()
    assert sent == [((decision.pk,), {})]


@pytest.mark.django_db
def test_the_pdf_is_rendered_once_and_then_served_as_stored(
    client, decided, auditor, django_capture_on_commit_callbacks, monkeypatch
):
    decision = decided.decision
    assert tasks.render_decision_pdf.delay(decision.pk).get() == "rendered"  # eager in tests
    document = DecisionDocument.objects.get(decision=decision)
    assert tasks.render_decision_pdf(decision.pk) == "nothing to do"  # a redelivered message
    assert DecisionDocument.objects.filter(decision=decision).count() == 1
    assert AuditEvent.objects.filter(action="decision.pdf", object_id=str(decision.pk)).count() == 1

    def no_rendering(*args, **kwargs):
        raise AssertionError("a download must not render")

    monkeypatch.setattr(records, "render_pdf", no_rendering)
    client.force_login(auditor)
    client.get(reverse("decision_detail", args=[decision.pk]))  # the first request loads every URL's view
    started = time.perf_counter()
    response = client.get(reverse("decision_pdf", args=[decision.pk]))
    assert time.perf_counter() - started < 1.0
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="decision-ledger-{decision.pk}.pdf"'
    assert response.content == bytes(document.pdf) and response["X-Content-SHA256"] == document.sha256
    download = AuditEvent.objects.get(action="decision.download", actor=auditor)
    assert (
        download.after == {"format": "pdf", "digest": decision.digest} and download.review == decided.review
    )


@pytest.mark.django_db
def test_the_task_for_a_missing_decision_does_nothing():
    assert tasks.render_decision_pdf(987654) == "nothing to do"


@pytest.mark.django_db
def test_before_it_is_rendered_the_download_says_so_and_refreshes(client, decided, auditor, monkeypatch):
    cache.clear()
    requeued = []

    def enqueue(decision_id):
        requeued.append(decision_id)
        return dispatch.Dispatch(task="reviews.tasks.render_decision_pdf", args=(decision_id,), sent=True)

    monkeypatch.setattr(services, "enqueue_decision_pdf", enqueue)
    client.force_login(auditor)
    url = reverse("decision_pdf", args=[decided.decision.pk])
    response = client.get(url)
    assert response.status_code == 202
    assert response["Refresh"] == "3" and response["Retry-After"] == "3"
    body = response.content.decode()
    assert "The PDF is being rendered" in body and '<meta http-equiv="refresh" content="3">' in body
    assert requeued == []  # a fresh decision: its message is on its way
    assert not AuditEvent.objects.filter(action="decision.download").exists()

    monkeypatch.setattr(decision_views, "PDF_RETRY_AFTER_SECONDS", -1)  # as if a minute had passed
    client.get(url)
    client.get(url)
    assert requeued == [decided.decision.pk]  # asked again, once a minute at most


@pytest.mark.django_db
def test_beat_asks_again_for_pdfs_missing_minutes_after_their_decision(
    decided, review, settings, monkeypatch
):
    from schedules.models import ScheduleRun

    sent = []
    monkeypatch.setattr(tasks.render_decision_pdf, "delay", lambda *args: sent.append(args))
    settings.DECISION_PDF_REQUEUE_AFTER_S = 600
    decision = decided.decision
    assert records.requeue_missing_pdfs(now=decision.recorded_at + timedelta(minutes=9)) == {
        "requeued": 0,
        "waiting_for_workers": 0,
    }
    later = decision.recorded_at + timedelta(minutes=11)
    assert records.requeue_missing_pdfs(now=later)["requeued"] == 1 and sent == [(decision.pk,)]
    records.store_decision_pdf(decision.pk)
    assert records.requeue_missing_pdfs(now=later)["requeued"] == 0  # rendered: nothing more to ask
    assert len(sent) == 1

    assert tasks.requeue_decision_pdfs() == 0  # as beat runs it, recorded like every scheduled task
    assert ScheduleRun.objects.get(task="reviews.tasks.requeue_decision_pdfs").state == "done"
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert (
        "reviews.tasks.requeue_decision_pdfs" in schedule
        and "reviews.tasks.requeue_decision_pdfs" in app.tasks
    )


@pytest.mark.django_db
def test_beat_stops_at_the_first_refusal_while_the_broker_is_down(decided, settings, monkeypatch):
    refused = []

    def down(decision_id, **kwargs):
        refused.append(decision_id)
        return dispatch.Dispatch(task="reviews.tasks.render_decision_pdf", args=(decision_id,), sent=False)

    monkeypatch.setattr(services, "enqueue_decision_pdf", down)
    counts = records.requeue_missing_pdfs(now=decided.decision.recorded_at + timedelta(days=1))
    assert counts == {"requeued": 0, "waiting_for_workers": 1} and refused == [decided.decision.pk]


@pytest.mark.django_db
def test_the_decision_page_offers_the_pdf_and_says_when_it_is_ready(client, decided, auditor):
    client.force_login(auditor)
    url = reverse("decision_detail", args=[decided.decision.pk])
    assert b"PDF (being rendered)" in client.get(url).content
    records.store_decision_pdf(decided.decision.pk)
    body = client.get(url).content.decode()
    assert "Download PDF" in body and DecisionDocument.objects.get().sha256 in body


# --- through a real worker --------------------------------------------------------------------------


@pytest.fixture
def broker(settings):
    queue = f"readiness-pdf-test-{uuid.uuid4().hex[:12]}"
    keys = ("broker_url", "task_always_eager", "task_default_queue", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    settings.CELERY_BROKER_URL = REDIS_URL
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.update(
        broker_url=REDIS_URL, task_always_eager=False, task_default_queue=queue, result_backend=None
    )
    reset_broker_connections()
    yield queue
    app.conf.update(saved)
    reset_broker_connections()
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(queue)
    client.close()


@pytest.fixture
def published():
    messages = []

    def record(sender=None, body=None, **kwargs):
        messages.append((sender, body))

    before_task_publish.connect(record, weak=False)
    yield messages
    before_task_publish.disconnect(record)


def _close_worker_connections(**kwargs):
    connections.close_all()  # the worker thread's own, so the test database can be flushed


# Not serialized_rollback: tests.factories.catalogue() loads the catalogue again after a flush, and a
# serialized restore fails with duplicate content types after any plain transactional test.
@pytest.mark.django_db(transaction=True)
@pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning")
def test_a_real_worker_renders_the_pdf_once_after_the_commit(
    broker, published, review, architect, member, lead
):
    decided = build_decided(
        review, architect=architect, member=member, lead=lead
    )  # commits: transaction=True
    decision = decided.decision
    task_postrun.connect(_close_worker_connections, weak=False)
    try:
        with start_worker(
            app, pool="threads", concurrency=1, perform_ping_check=False, queues=[broker], shutdown_timeout=60
        ):
            tasks.render_decision_pdf.delay(decision.pk)  # a redelivery next to the on-commit message
            deadline = time.monotonic() + 90
            while (
                time.monotonic() < deadline
                and not DecisionDocument.objects.filter(decision=decision).exists()
            ):
                time.sleep(0.1)
            time.sleep(0.5)  # let the second message be consumed
    finally:
        task_postrun.disconnect(_close_worker_connections)
    document = DecisionDocument.objects.get(decision=decision)
    assert f"Record SHA-256 {decision.digest}" in flat(pdf_pages(bytes(document.pdf))[0])
    renders = [body for sender, body in published if sender == "reviews.tasks.render_decision_pdf"]
    assert len(renders) == 2 and all(list(args) == [decision.pk] and kw == {} for args, kw, _ in renders)
    assert AuditEvent.objects.filter(action="decision.pdf", object_id=str(decision.pk)).count() == 1
