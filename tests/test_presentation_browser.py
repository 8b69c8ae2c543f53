"""The meeting on a projector and the review page in sections, in a real headless Chromium: presentation
mode by key, button and URL; layouts that hold at 1024×768 and at 150–200 % zoom; the review page's
findings near the top and each probe finding's sentence said once; charts that use their card.

Screenshots of the meeting and the review page at 1440×900 and 1024×768 are saved for review under
test-artifacts/screenshots (or $READINESS_SCREENSHOTS)."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from evidence import services as evidence_services
from evidence.models import Evidence, EvidenceKind
from reviews import agenda, services
from reviews.models import Decision, Finding, FindingSource, Level, Review
from tests.factories import answer_critical, catalogue, category
from tests.reviews.test_history import _scorecard

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(
    os.environ.get("READINESS_SCREENSHOTS")
    or Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
)

# What a probe wrote into its findings before it said things once: the object's message, the result's
# summary, the probe's description of its check (the message's reason again), the fix, the provenance.
WHY = "one runaway query can run for hours, holding locks and connections"
PROBE_FINDINGS = (
    ("transaction", "statement_timeout", WHY),
    ("transaction", "idle_in_transaction_session_timeout", "a client that forgets to commit holds its locks"),
    ("migration", "lock_timeout", "a DDL statement waiting for its lock makes every later query queue"),
    ("capacity", "autovacuum", "dead rows and transaction-ID age grow until wraparound stops writes"),
    (
        "backup",
        "data_checksums",
        "a corrupted page is read, replicated and backed up without anyone noticing",
    ),
)


def old_probe_description(setting: str, why: str, n: int) -> str:
    return "\n\n".join(
        [
            f"{setting} is 0 (unset, from the server level): {why}",
            f"{setting} unset or too long for 1 of 1: database ledger",
            f"The {setting} each application role gets in this database. Unset (0): {why}.",
            f"Fix: ALTER ROLE ledger_app IN DATABASE ledger SET {setting} = '30s';",
            f"Found by probe settings.{setting} on Ledger primary, probe run #{n}.",
        ]
    )


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


@pytest.fixture
def busy_review(review, architect, member):
    """A review in the middle of its meeting: some scores, person and probe findings (one resolved),
    links and many probe results as evidence."""
    review.release_scope = "Ledger 3.0 — multi-currency balances, re-keyed by account and currency"
    review.save(update_fields=["release_scope"])
    answer_critical(review, architect)
    observed = timezone.now() - timedelta(days=2)
    for code in ("backup", "security", "transaction", "migration", "observability", "capacity"):
        evidence_services.add_link(
            review=review,
            category=category(review, code),
            title=f"{code.title()} runbook and dashboard",
            url=f"https://ci.example.com/{code}",
            actor=architect,
            observed_at=observed,
        )
    for code in ("backup", "security", "transaction"):
        services.set_score(review=review, category=category(review, code), score=2, actor=architect)
    codes = list(review.catalogue.categories.order_by("number").values_list("code", flat=True))
    for i in range(42):
        Evidence.objects.create(
            review=review,
            category=category(review, codes[i % len(codes)]),
            kind=EvidenceKind.PROBE_RESULT,
            title=f"Probe check number {i}",
            notes="Pass: nothing found",
            observed_at=observed,
            added_by=member,
        )
    due = timezone.localdate() + timedelta(days=30)
    for n, (code, setting, why) in enumerate(PROBE_FINDINGS, start=1):
        finding = services.add_finding(
            review=review,
            category=category(review, code),
            title=f"{setting} unset: database ledger",
            level=Level.P1 if n == 1 else Level.P2,
            description=old_probe_description(setting, why, n),
            owner=architect,
            due_date=due,
            actor=member,
        )
        Finding.objects.filter(pk=finding.pk).update(
            source=FindingSource.PROBE, probe_key=f"settings.{setting}:database ledger"
        )
    services.add_finding(
        review=review,
        category=category(review, "security"),
        title="Application connects as the database owner role",
        level=Level.P2,
        description="Seen in the connection string of ledger-api.\n\nThe migration role is separate already.",
        owner=architect,
        due_date=due,
        actor=member,
    )
    services.add_finding(
        review=review,
        category=category(review, "query-index"),
        title="Index naming convention not documented",
        level=Level.P3,
        actor=member,
    )
    return review


def csp_errors(messages):
    return [m for m in messages if "Content Security Policy" in m]


def watch(page):
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def measure(page):
    return page.evaluate(
        """() => {
      const box = s => { const e = document.querySelector(s); if (!e) return null;
        const b = e.getBoundingClientRect(); return {top: b.top, bottom: b.bottom, width: b.width}; };
      const topbar = document.querySelector('.topbar');
      return {
        vw: document.documentElement.clientWidth, vh: window.innerHeight,
        main: box('#meeting-main'), gate: box('#gate-panel'), outcome: box('#gate-panel .gate-outcome'),
        topbar: topbar && getComputedStyle(topbar).display !== 'none'
          ? topbar.getBoundingClientRect().height : 0,
        body: parseFloat(getComputedStyle(document.body).fontSize),
        step: parseFloat(getComputedStyle(document.querySelector('#meeting-main')).fontSize),
        presenting: document.documentElement.classList.contains('presenting'),
      };
    }"""
    )


def gate_in_view(m):
    return m["outcome"]["top"] >= 0 and m["outcome"]["bottom"] <= m["vh"] and m["gate"]["top"] >= 0


def to_bottom(page):
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.wait_for_timeout(50)


def walk_all_steps(page, check):
    """Every step from 1 to the decision, by key; `check` sees each at the top and scrolled to the end."""
    for s in [*agenda.STEPS[1:], None]:
        check(page, "top")
        to_bottom(page)
        check(page, "bottom")
        page.keyboard.press("n" if s else "d")
        if s:
            expect(page).to_have_url(re.compile(rf"/meeting/{s.number}/$"))
        else:
            expect(page).to_have_url(re.compile(r"/meeting/decision/$"))
    check(page, "top")
    to_bottom(page)
    check(page, "bottom")


def test_presentation_mode_by_key_at_1024_hides_the_menu_enlarges_type_and_keeps_the_gate_in_view(
    browser, live_server, busy_review, architect
):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    errors = watch(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/1/")
    assert not measure(page)["presenting"]
    expect(page.locator(".topbar")).to_be_visible()

    page.keyboard.press("f")
    expect(page.locator("html")).to_have_class(re.compile(r"\bpresenting\b"))
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator("[data-present-toggle]")).to_have_text("Exit presentation")

    def check(page, where):
        m = measure(page)
        assert m["presenting"] and m["topbar"] == 0, where
        assert m["body"] >= 20 and m["step"] >= 20, (where, m)
        assert m["main"]["width"] >= 0.6 * m["vw"], (page.url, where, m)
        assert gate_in_view(m), (page.url, where, m)

    walk_all_steps(page, check)

    # Remembered by this browser: a reload (no ?present in the address) presents again.
    page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/9/")
    expect(page.locator("html")).to_have_class(re.compile(r"\bpresenting\b"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "meeting-presenting-1024x768.png"))
    # The agenda rail names its steps on hover.
    page.locator('.agenda a[data-step="3"]').hover()
    expect(page.locator('.agenda a[data-step="3"] .agenda-title')).to_be_visible()
    page.keyboard.press("f")
    expect(page.locator(".topbar")).to_be_visible()
    assert measure(page)["body"] < 20
    page.reload()
    expect(page.locator(".topbar")).to_be_visible()
    assert not csp_errors(errors), errors
    context.close()


def test_presentation_mode_by_button_and_escape(browser, live_server, busy_review, architect):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    errors = watch(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/7/")
    page.get_by_role("link", name="Present").click()
    expect(page.locator(".topbar")).to_be_hidden()
    m = measure(page)
    assert m["body"] >= 20 and m["main"]["width"] >= 0.6 * m["vw"] and gate_in_view(m), m
    # A click does not take the keys away: n still moves on, the mode stays.
    page.keyboard.press("n")
    expect(page).to_have_url(re.compile(r"/meeting/8/$"))
    assert measure(page)["presenting"]
    page.get_by_role("link", name="Exit presentation").click()
    expect(page.locator(".topbar")).to_be_visible()
    page.get_by_role("link", name="Present").click()
    page.keyboard.press("Escape")
    expect(page.locator(".topbar")).to_be_visible()
    assert not csp_errors(errors), errors
    context.close()


def test_presentation_mode_by_address_works_without_javascript(browser, live_server, busy_review, architect):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1024, "height": 768})
    page = context.new_page()
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/?present=1")
    expect(page).to_have_url(re.compile(r"/meeting/1/\?present=1$"))
    expect(page.locator(".topbar")).to_be_hidden()
    m = measure(page)
    assert m["body"] >= 20 and m["main"]["width"] >= 0.6 * m["vw"] and gate_in_view(m), m
    # The step links keep the mode; leaving it is a link too.
    page.get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"/meeting/2/\?present=1$"))
    expect(page.locator(".topbar")).to_be_hidden()
    page.get_by_role("link", name="Exit presentation").click()
    expect(page.locator(".topbar")).to_be_visible()
    context.close()


@pytest.mark.parametrize(
    "width,height,scale",
    [
        (1024, 768, 1),
        (1280, 720, 1.5),  # a high-density screen
        (853, 480, 1.5),  # 150 % browser zoom of a 1280×720 window
        (640, 360, 2),  # 200 % zoom
    ],
)
def test_the_normal_meeting_layout_holds_at_small_sizes_and_high_zoom(
    browser, live_server, busy_review, architect, width, height, scale
):
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale)
    page = context.new_page()
    errors = watch(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/1/")

    # The release scope box shows the whole title.
    scope = page.locator("#scope-text")
    assert scope.evaluate("e => e.scrollWidth <= e.clientWidth && e.scrollHeight <= e.clientHeight + 1")

    def check(page, where):
        m = measure(page)
        assert not m["presenting"] and m["body"] >= 16, m
        assert m["main"]["width"] >= 0.55 * m["vw"], (page.url, where, m)
        assert m["topbar"] <= 100, m
        assert gate_in_view(m), (page.url, where, m)

    walk_all_steps(page, check)
    assert not csp_errors(errors), errors
    context.close()


def test_meeting_and_review_page_screenshots_for_review(browser, live_server, busy_review, architect):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 900), (1024, 768)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        sign_in(page, live_server, "alice")
        for step in (1, 9, 11):
            page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/{step}/")
            page.screenshot(path=str(SHOTS / f"meeting-step{step}-{width}x{height}.png"), full_page=True)
        page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/9/?present=1")
        page.screenshot(path=str(SHOTS / f"meeting-presenting-step9-{width}x{height}.png"))
        page.keyboard.press("f")  # leave it, for the next pages of this browser
        page.goto(f"{live_server.url}{busy_review.get_absolute_url()}")
        page.wait_for_selector("#probes-section")
        page.screenshot(path=str(SHOTS / f"review-page-{width}x{height}.png"), full_page=True)
        context.close()


@pytest.mark.parametrize("width,height", [(1440, 900), (1024, 768)])
def test_review_page_puts_findings_near_the_top_is_short_and_says_each_probe_sentence_once(
    browser, live_server, busy_review, architect, width, height
):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors = watch(page)
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}{busy_review.get_absolute_url()}")
    page.wait_for_selector("#changes")  # the changes section loads after the page
    findings_top = page.evaluate("document.getElementById('findings').getBoundingClientRect().top + scrollY")
    assert findings_top < 1000, findings_top
    height_px = page.evaluate("document.documentElement.scrollHeight")
    # Before the sections this page was 4,531 px tall at 1440 px wide and 5,885 px at 1024, its findings
    # starting at 1,086 and 1,316 px. (+ 60 px: the review depth's section, closed, one line.)
    assert height_px < (2960 if width >= 1280 else 3360), height_px
    # The gate is in the first screen.
    assert page.locator("#gate-panel").bounding_box()["y"] < height

    text = page.evaluate("document.body.textContent")
    for _code, setting, why in PROBE_FINDINGS:
        assert text.count(why) == 1, (setting, text.count(why))
        assert text.count(f"{setting} unset or too long") == 0  # the summary restated the title
    # A person's description is kept whole: its lead shown, the rest on demand.
    finding = page.locator("li.finding", has_text="Application connects as the database owner role")
    expect(finding.locator(".finding-lead")).to_have_text("Seen in the connection string of ledger-api.")
    expect(finding.get_by_text("The migration role is separate already.")).to_be_hidden()
    finding.get_by_text("More").click()
    expect(finding.get_by_text("The migration role is separate already.")).to_be_visible()
    # A probe's fix and provenance on demand.
    probe = page.locator("li.finding", has_text="statement_timeout unset: database ledger")
    probe.get_by_text("Fix and where it was found").click()
    expect(probe.get_by_text("Found by probe settings.statement_timeout")).to_be_visible()

    # Probe results are not listed one by one among the evidence; the sections open from their links.
    expect(page.locator("#evidence")).not_to_contain_text("Probe check number")
    expect(page.locator("#evidence > summary")).to_contain_text("6 items and 42 probe results")
    expect(page.locator("#evidence table")).to_be_hidden()
    page.locator(".subnav").get_by_role("link", name="Evidence").click()
    expect(page.locator("#evidence table")).to_be_visible()
    assert not csp_errors(errors), errors
    context.close()


def test_meeting_step_lists_probe_results_once(browser, live_server, busy_review, architect):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/reviews/{busy_review.pk}/meeting/9/")
    evidence = page.locator("#evidence-security")
    expect(evidence).to_contain_text("Security runbook and dashboard")
    expect(evidence).not_to_contain_text("Probe check number")
    expect(evidence).to_contain_text(re.compile(r"And \d+ probe results"))
    context.close()


@pytest.mark.parametrize("width,height", [(1440, 900), (1024, 768)])
def test_history_chart_fills_its_card_with_labels_of_14_px_or_more(
    browser, live_server, system, architect, width, height
):
    version = catalogue()
    codes = list(version.categories.order_by("number").values_list("code", flat=True))
    start = timezone.now() - timedelta(days=200)
    previous = ""
    for i, outcome in enumerate(["BLOCKED", "APPROVED_WITH_EXCEPTIONS", "APPROVED"]):
        review = Review.objects.create(
            system=system,
            catalogue=version,
            release_scope=f"Ledger 2.{i}",
            created_by=architect,
            chair=architect,
            state="decided",
        )
        digest = f"{i + 1:064x}"
        Decision.objects.create(
            review=review,
            system=system,
            outcome=outcome,
            next_review=(start + timedelta(days=400)).date(),
            approver=architect,
            recorded_at=start + timedelta(days=60 * i),
            record={"outcome": outcome, "scorecard": _scorecard({c: min(3, i + 1) for c in codes})},
            digest=digest,
            previous_digest=previous,
        )
        previous = digest
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    sign_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/systems/{system.slug}/history/")
    sizes = page.evaluate(
        """() => {
      const svg = document.querySelector('.history-chart .chart svg');
      const card = svg.closest('.card');
      const inner = card.clientWidth - parseFloat(getComputedStyle(card).paddingLeft)
        - parseFloat(getComputedStyle(card).paddingRight);
      const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
      return {width: svg.getBoundingClientRect().width, inner,
              smallest: Math.min(...[...svg.querySelectorAll('text')].map(
                t => parseFloat(t.getAttribute('font-size')) * scale))};
    }"""
    )
    assert sizes["width"] >= 0.98 * sizes["inner"], sizes
    assert sizes["smallest"] >= 14, sizes
    page.screenshot(path=str(SHOTS / f"history-{width}x{height}.png"), full_page=True)
    context.close()
