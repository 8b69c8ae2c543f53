"""What the review holds, in the meeting, in a real headless Chromium: records added through the service are
walked at steps 3, 4 and 6; in presentation mode at 1024×768 their text is 20 px or more and their tables
fit; axe-core finds no serious violation on them. Screenshots of steps 3, 4, 7 and 10 at 1440×900 and
1024×768 are saved under test-artifacts/screenshots (or $READINESS_SCREENSHOTS)."""

import re
from datetime import date, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from evidence import services as evidence_services
from evidence import typed
from probes import services as probe_services
from tests.evidence.declared_samples import SAMPLES
from tests.probes.conftest import probe_role  # noqa: F401 (the role the probes connect as)
from tests.probes.test_targets import dsn_for
from tests.reviews.test_depth import depth_db  # noqa: F401 (a real database to probe)
from tests.test_accessibility_browser import _axe
from tests.test_presentation_browser import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def add(review, actor, kind, **changes):
    return typed.add_record(review=review, actor=actor, kind=kind, **{**SAMPLES[kind], **changes})


@pytest.fixture
def deep_review(review, architect, member):
    """A review holding invariants, write paths and their tests, migration plans, recovery objectives with a
    drill, and runbooks: each added through the service, as the pages add them."""
    add(review, member, "invariant")
    add(
        review,
        member,
        "invariant",
        invariant="Every ledger entry belongs to an account that exists.",
        rule_type="referential",
        in_database="no",
        constraint="",
        sql_check="",
        test="",
    )
    add(review, member, "write_path")  # CloseCase
    add(review, member, "write_path", command="TransferFunds", tables="accounts, ledger_entry, outbox")
    add(review, member, "concurrency_test")  # retried 10 times, CloseCase, passed
    add(review, member, "concurrency_test", scenario="deadlock", write_path="TransferFunds", result="failed")
    add(
        review,
        member,
        "concurrency_test",
        scenario="lock_timeout",
        write_path="TransferFunds",
        result="not_run",
    )
    add(review, member, "migration_plan")  # 0042_cases_status
    add(review, member, "migration_plan", migration="0043_drop_legacy_status", phase="contract")
    start = timezone.now() - timedelta(days=2)
    evidence_services.add_migration_rehearsal(
        review=review,
        actor=member,
        migration="0042_cases_status",
        phase="expand",
        environment="staging",
        dataset="snapshot of 1 Nov, 1.2 TB",
        started_at=start,
        ended_at=start + timedelta(minutes=38),
        lock_behaviour="SHARE UPDATE EXCLUSIVE on cases while validating",
        validation_query="SELECT count(*) FROM cases WHERE status IS NULL",
        validation_passed=True,
        longest_lock_ms=120,
    )
    add(review, member, "recovery_objectives")
    for database, lost, took, rpo_target in (("ledger", 3, 45, 5), ("archive", 12, 70, 30)):
        evidence_services.add_restore_drill(
            review=review,
            actor=member,
            title=f"Restore drill of {database}",
            database=database,
            backup_source="pgBackRest full + WAL",
            target_environment="staging",
            requested_recovery_point=start - timedelta(hours=1),
            actual_recovery_point=start - timedelta(hours=1, minutes=lost),
            started_at=start,
            ended_at=start + timedelta(minutes=took),
            rpo_target_minutes=rpo_target,
            rto_target_minutes=90,
            validation_queries="SELECT count(*) FROM ledger_entry",
            validation_passed=True,
        )
    for name, covers, tested in (
        ("Lock storm", "lock_storm", date.today() - timedelta(days=12)),
        ("Replica behind", "replication_lag", None),
        ("Restore a table", "restore_request", date.today() - timedelta(days=40)),
    ):
        evidence_services.add_runbook(
            review=review, actor=member, name=name, owner="dba-team", last_tested=tested, covers=covers
        )
    return review


def test_the_meeting_walks_the_records_at_steps_3_4_and_6(page, live_server, deep_review, architect):
    review = deep_review
    console_errors = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{review.pk}/meeting/3/")

    step3 = page.locator("#depth-3")
    expect(step3).to_contain_text("A closed case cannot receive a new enforcement decision.")
    expect(step3).to_contain_text("Every ledger entry belongs to an account that exists.")
    expect(step3).to_contain_text("2 invariants, 1 complete · 1 held by the database")
    expect(step3.locator(".verdict-incomplete")).to_have_count(1)
    expect(step3).to_contain_text("“closed cases with decisions” is not an invariant check")
    # The coverage table: one referential rule, not held by the database.
    referential = step3.locator("table tr", has_text="Referential integrity")
    expect(referential).to_contain_text("a foreign key")
    expect(referential).to_have_class(re.compile(r"\bdepth-gap\b"))
    # Every field on demand.
    first = step3.locator("li.depth-entry", has_text="A closed case cannot receive")
    expect(first.locator("dd", has_text="Concurrent transition test")).to_be_hidden()
    first.locator("summary", has_text="All fields").click()
    expect(first.locator("dd", has_text="Concurrent transition test")).to_be_visible()
    expect(step3.get_by_role("link", name="Record an invariant")).to_have_attribute(
        "href", f"/reviews/{review.pk}/evidence/new/invariant/?step=3"
    )

    # Step 4 by the keyboard, as the chair walks it: the write paths and the matrix.
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/meeting/4/$"))
    step4 = page.locator("#depth-4")
    expect(step4).to_contain_text("TransferFunds")
    matrix = step4.locator("table.depth-matrix")
    expect(matrix.locator("thead th")).to_have_text(
        ["Scenario and what it must show", "TransferFunds", "CloseCase"]
    )
    retried = matrix.locator("tbody tr", has_text="Same command retried 10 times")
    expect(retried).to_contain_text("One effect, the same response")
    expect(retried.locator("td").nth(1).locator(".cell")).to_have_text("Passed")
    deadlock = matrix.locator("tbody tr", has_text="Deadlock")
    expect(deadlock.locator("td .cell")).to_have_text(["Failed", "Missing"])
    lock_timeout = matrix.locator("tbody tr", has_text="Lock timeout")
    expect(lock_timeout.locator("td .cell")).to_have_text(["Not run yet", "Missing"])
    expect(step4).to_contain_text("matrix 1 of 12 passed")

    # Step 6: each plan beside its rehearsal.
    page.keyboard.press("6")
    expect(page).to_have_url(re.compile(r"/meeting/6/$"))
    step6 = page.locator("#depth-6")
    plan = step6.locator("li.depth-entry", has_text="0042_cases_status")
    expect(plan).to_contain_text("Migration rehearsal: 0042_cases_status")
    expect(plan).to_contain_text("validated")
    expect(step6.locator("li.depth-entry", has_text="0043_drop_legacy_status")).to_contain_text(
        "Not rehearsed on production-like data yet."
    )
    assert not console_errors, console_errors


# What the room reads in presentation mode: every piece of text in the step's depth section.
SMALLEST_TEXT = """sel => {
  let smallest = 999, where = "";
  for (const el of document.querySelectorAll(sel + " *")) {
    if (el.closest(".sr-only") || !el.getClientRects().length) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (size < smallest) {
      smallest = size;
      where = el.tagName + "." + el.className + ": " + el.textContent.trim().slice(0, 40);
    }
  }
  return [smallest, where];
}"""
OVERFLOW = """sel => {
  const out = [];
  const main = document.querySelector("#meeting-main");
  if (main.scrollWidth > main.clientWidth + 1) {
    out.push("meeting-main " + main.scrollWidth + " > " + main.clientWidth);
  }
  for (const t of document.querySelectorAll(sel + " table")) {
    const box = t.parentElement.getBoundingClientRect(), r = t.getBoundingClientRect();
    if (r.right > box.right + 1 || r.width > main.clientWidth) {
      out.push(t.className + " " + r.width + " in " + box.width);
    }
  }
  for (const f of document.querySelectorAll(sel + " .table-fit")) {
    if (f.scrollWidth > f.clientWidth + 1) out.push("scrolls " + f.scrollWidth + " > " + f.clientWidth);
  }
  return out;
}"""


def test_in_presentation_at_1024_the_depth_is_20_px_or_more_and_its_tables_fit(
    browser, live_server, deep_review
):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    sign_in(page, live_server, "alice")
    for step in (3, 4, 5, 6, 7, 8, 9, 10):
        page.goto(f"{live_server.url}/reviews/{deep_review.pk}/meeting/{step}/?present=1")
        expect(page.locator("html")).to_have_class(re.compile(r"\bpresenting\b"))
        for summary in page.locator(f"#depth-{step} details.depth-fields > summary").all()[:3]:
            summary.click()  # the fields opened on demand too
        smallest, where = page.evaluate(SMALLEST_TEXT, f"#depth-{step}")
        assert smallest >= 20, (step, smallest, where)
        assert page.evaluate(OVERFLOW, f"#depth-{step}") == [], step
    context.close()


def test_depth_screenshots_for_review(browser, live_server, deep_review, architect, member, depth_db):  # noqa: F811
    """With a real probe run of the review: the SQL check's result, the runbooks' diagnostics."""
    target = probe_services.create_target(
        system=deep_review.system, name="production primary", dsn=dsn_for(depth_db), actor=architect
    )
    probe_services.add_invariant_check(
        target=target,
        name="closed cases with decisions",
        sql="SELECT id FROM cases WHERE status = 'closed' AND decision_id IS NOT NULL",
        actor=architect,
    )
    probe_services.start_probe_run(target=target, actor=member, review=deep_review)  # runs at commit
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (1024, 768)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        sign_in(page, live_server, "alice")
        page.goto(f"{live_server.url}/reviews/{deep_review.pk}/meeting/3/")
        expect(page.locator("#depth-3 .depth-check .probe-fail")).to_have_text("Fail")
        page.goto(f"{live_server.url}/reviews/{deep_review.pk}/meeting/10/")
        expect(page.locator("#depth-10 tr", has_text="Disk full").locator(".probe-status")).to_have_count(3)
        for step in (3, 4, 7, 10):
            for mode, query in (("meeting", ""), ("presenting", "?present=1")):
                page.goto(f"{live_server.url}/reviews/{deep_review.pk}/meeting/{step}/{query}")
                assert page.evaluate(OVERFLOW, f"#depth-{step}") == [], (step, width, mode)
                if width == 1440 and mode == "meeting":
                    assert _axe(page) == [], step  # no serious WCAG 2.1 A/AA violation
                page.screenshot(
                    path=str(SHOTS / f"depth-{mode}-step{step}-{width}x{height}.png"), full_page=True
                )
            page.keyboard.press("f")  # leave presentation, for the next pages of this browser
        page.goto(f"{live_server.url}{deep_review.get_absolute_url()}#depth")
        expect(page.locator("#depth")).to_have_attribute("open", "")
        expect(page.locator("#depth")).to_contain_text("3 of 14 required runbooks · 2 tested")
        page.locator("#depth").screenshot(path=str(SHOTS / f"depth-review-page-{width}x{height}.png"))
        context.close()
