"""Celery tasks of the review domain: exceptions expire on time; a decision's PDF is rendered once, and
asked for again when its message was lost."""

from celery import shared_task

from . import records, services


@shared_task(name="reviews.tasks.expire_exceptions", ignore_result=True)
def expire_exceptions() -> int:
    """Run by beat every minute (CELERY_BEAT_SCHEDULE). Idempotent: a second run finds nothing to do.
    Recorded as a ScheduleRun, like every scheduled task, so an admin sees what it did."""
    from schedules.recording import run_recorded

    expired = 0

    def work(report) -> None:
        nonlocal expired
        expired = services.expire_exceptions()
        report.count("expired", expired)

    run_recorded("reviews.tasks.expire_exceptions", work)
    return expired


@shared_task(
    name="reviews.tasks.render_decision_pdf", ignore_result=True, acks_late=True, reject_on_worker_lost=True
)
def render_decision_pdf(decision_id: int) -> str:
    """Render and store a decision's PDF. Takes the id only; idempotent (the decision row is locked and
    an existing document is kept), so a redelivered message after a worker died renders nothing twice."""
    document = records.store_decision_pdf(decision_id)
    return "rendered" if document else "nothing to do"


@shared_task(name="reviews.tasks.requeue_decision_pdfs", ignore_result=True)
def requeue_decision_pdfs() -> int:
    """Run by beat (CELERY_BEAT_SCHEDULE): decisions without a PDF DECISION_PDF_REQUEUE_AFTER_S after they
    were recorded are enqueued again. Recorded as a ScheduleRun."""
    from schedules.recording import run_recorded

    requeued = 0

    def work(report) -> None:
        nonlocal requeued
        counts = records.requeue_missing_pdfs(now=report.now)
        requeued = counts["requeued"]
        for what, n in counts.items():
            report.count(what, n)

    run_recorded("reviews.tasks.requeue_decision_pdfs", work)
    return requeued
