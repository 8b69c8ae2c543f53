"""Accessibility in a real headless Chromium: every page each demo role reaches from its dashboard is
checked by axe-core (test-only, pinned in tests/a11y, installed by bin/test) for serious or critical
WCAG 2.1 A/AA violations, and every page can be walked with the keyboard alone.

The crawl follows the links a role sees (same site, GET, at most a few pages per URL pattern), so a new
page is covered as soon as a link leads to it. axe-core is evaluated through the DevTools protocol
(`page.evaluate`), which the page's Content-Security-Policy does not apply to: nothing is served."""

import io
from collections import defaultdict
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import Resolver404, resolve

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SERIOUS = {"serious", "critical"}
# Not pages: downloads, sign-out, the admin (Django's own), the API and its documentation.
SKIP_PREFIXES = ("/logout", "/admin", "/api/", "/static/", "/media/")
SKIP_SUFFIXES = (".pdf", ".json", ".csv", ".yaml", "/file/", "/export/")
PER_ROUTE = 1  # pages visited per URL pattern: the templates are what is checked, not the data
MAX_PAGES = 50
# htmx marks what it is loading (the app dims it): wait until the page's own loads have landed.
HTMX_IDLE = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"

ROLES = ("ada", "linus", "mia", "audrey", "ivan", "admin")


def _route(path: str) -> str | None:
    try:
        return resolve(path).route
    except Resolver404:
        return None


def _sign_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/")


def _links(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    out = []
    for href in hrefs:
        url = urljoin(page.url, href)
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != base:
            continue
        path = parts.path
        if path.startswith(SKIP_PREFIXES) or path.endswith(SKIP_SUFFIXES):
            continue
        out.append(path)
    return out


def _axe(page) -> list[dict]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))",
        WCAG,
    )
    return [v for v in result if v["impact"] in SERIOUS]


def _keyboard_walk(page, steps: int = 25) -> list[str]:
    """Tab through the page: focus must move forward to visible elements with a visible focus style."""
    problems = []
    page.evaluate("document.activeElement && document.activeElement.blur()")
    seen = []
    for _ in range(steps):
        page.keyboard.press("Tab")
        info = page.evaluate(
            """() => {
              const el = document.activeElement;
              window.walked = window.walked || 0;  // a number per element: equal links differ
              if (!el || el === document.body) return null;
              const r = el.getBoundingClientRect();
              const s = getComputedStyle(el);
              const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
              const ring = s.boxShadow && s.boxShadow !== 'none';
              const segmented = ['date', 'datetime-local', 'time', 'month', 'week'].includes(el.type);
              return {tag: el.tagName, segmented: segmented,
                      text: (el.innerText || el.value || el.name || '').slice(0, 30),
                      visible: r.width > 0 && r.height > 0, focusStyle: outline || ring,
                      key: el.dataset.walk || (el.dataset.walk = String(++window.walked))};
            }"""
        )
        if info is None:
            break  # off the end of the page
        # A date or time input takes a Tab per segment (day, month, year, hour, minute, AM/PM), and
        # Chromium draws their focus on the segment inside, not on the input.
        if seen[-6:] == [info["key"]] * 6 or (not info["segmented"] and seen[-1:] == [info["key"]]):
            problems.append(f"focus stuck on {info['tag']} {info['text']!r}")
            break
        seen.append(info["key"])
        if not info["visible"]:
            problems.append(f"focus on an invisible {info['tag']} {info['text']!r}")
        elif not info["focusStyle"] and not info["segmented"]:
            problems.append(f"no visible focus style on {info['tag']} {info['text']!r}")
    return problems


@pytest.fixture
def demo_world(db):
    call_command("demo", stdout=io.StringIO())
    get_user_model().objects.create_superuser("admin", "admin@example.com", "admin-pw-2026")


def _crawl(browser, base: str, username: str) -> tuple[set, dict, dict]:
    """Every page `username` reaches from the dashboard: (paths, axe violations, keyboard problems)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    password = "admin-pw-2026" if username == "admin" else f"{username}-demo-2026"
    _sign_in(page, base, username, password)
    queue, seen_paths, per_route = ["/"], set(), defaultdict(int)
    violations, keyboard = {}, {}
    while queue and len(seen_paths) < MAX_PAGES:
        path = queue.pop(0)
        route = _route(path)
        if path in seen_paths or route is None or per_route[route] >= PER_ROUTE:
            continue
        seen_paths.add(path)
        per_route[route] += 1
        response = page.goto(f"{base}{path}")
        if response is None or response.status >= 400:
            continue  # a link the role may see but not open is the access matrix's business
        page.wait_for_timeout(300)
        page.wait_for_function(HTMX_IDLE)
        found = _axe(page)
        if found:
            violations[path] = found
        problems = _keyboard_walk(page)
        if problems:
            keyboard[path] = problems
        queue.extend(p for p in _links(page, base) if p not in seen_paths)
    context.close()
    return seen_paths, violations, keyboard


SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots" / "main"
SIZES = ((1440, 900), (1024, 768))


def _main_page_screenshots(browser, base: str) -> list[Path]:
    """The main pages as the demo's chair sees them, at a desktop and a projector's size, for review."""
    from reviews.models import Review

    review = Review.objects.filter(state__in=("draft", "in_meeting")).order_by("pk").first()
    pages = {
        "dashboard": "/",
        "portfolio": "/portfolio/",
        "review": review.get_absolute_url(),
        "meeting-step-1": f"/reviews/{review.pk}/meeting/1/",
        "meeting-step-7": f"/reviews/{review.pk}/meeting/7/",
        "meeting-step-11": f"/reviews/{review.pk}/meeting/11/",
        "meeting-decision": f"/reviews/{review.pk}/meeting/decision/",
        "exceptions": "/exceptions/",
        "audit-trail": "/audit/trail/",
        "guide": "/guide/",
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    saved = []
    for width, height in SIZES:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        _sign_in(page, base, "ada", "ada-demo-2026")
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            page.wait_for_timeout(300)
            page.wait_for_function(HTMX_IDLE)
            out = SCREENSHOTS / f"{name}-{width}x{height}.png"
            page.screenshot(path=str(out), caret="initial")
            saved.append(out)
        context.close()
    return saved


def test_every_page_each_role_reaches_has_no_serious_axe_violation_and_walks_by_keyboard(
    demo_world, browser, live_server
):
    """One test for every role: the demo world is built once."""
    failures = []
    for username in ROLES:
        seen_paths, violations, keyboard = _crawl(browser, live_server.url, username)
        assert len(seen_paths) >= 3, f"{username} reached only {sorted(seen_paths)}"
        failures += [
            f"{username} {path}: {v['id']} ({v['impact']}) {v['help']} at {v['nodes']}"
            for path, found in violations.items()
            for v in found
        ]
        failures += [
            f"{username} {path}: keyboard: {p}" for path, problems in keyboard.items() for p in problems
        ]
    assert not failures, "\n".join(failures)
    shots = _main_page_screenshots(browser, live_server.url)
    assert all(p.stat().st_size > 10_000 for p in shots)


def test_the_sign_in_page_is_accessible_to_anonymous_visitors(page, live_server):
    page.goto(f"{live_server.url}/login/")
    assert _axe(page) == []
    assert _keyboard_walk(page) == []
