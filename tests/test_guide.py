"""The review guide: its pages (contents, a section per anchor and per page, search, print), the links
into it by name, and the rule that no user-facing text cites the specification ("seed", "§"): every
reference points to the guide instead."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.http import HttpRequest
from django.template import Context, Template
from django.urls import reverse

from evidence.models import EvidenceKind
from guide import content, links, search, sections
from reviews import agenda
from reviews.models import Decision, Review

ROOT = Path(settings.BASE_DIR)
APPS = ("readiness", "reviews", "evidence", "probes", "api", "schedules", "reminders", "guide")
CITES_SPEC = re.compile(r"seed|§", re.IGNORECASE)
CATALOGUE = ROOT / "reviews" / "catalogue" / "v1.json"


# --- The sections and the links into them (no database)


def test_slugs_and_anchors_are_unique_across_the_whole_guide():
    ids = [s.slug for s in sections.SECTIONS] + [a for s in sections.SECTIONS for a, _ in s.anchors]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)


def test_every_category_of_the_catalogue_has_a_section_of_its_own():
    codes = [c["code"] for c in json.loads(CATALOGUE.read_text())["categories"]]
    assert len(codes) == 14
    assert sorted(codes) == sorted(sections.BY_CATEGORY)
    assert [s.category for s in sections.SECTIONS if s.part == sections.CATEGORIES] == codes


def test_ref_gives_the_text_and_the_url_of_a_section_by_name():
    backup = links.ref("backup")
    assert (backup.text, backup.url) == ("Guide: Backup and restore", "/guide/#backup-and-restore")
    assert str(backup) == "Guide: Backup and restore"
    assert backup.section_url == "/guide/backup-and-restore/"
    assert links.ref("backup-and-restore") == backup
    drill = links.ref("restore_drill")
    assert (drill.text, drill.url) == ("Guide: Restore drill", "/guide/#restore-drill")
    assert drill.section_url == "/guide/evidence-records/#restore-drill"
    assert links.ref("query-index").url == "/guide/#query-and-index"


def test_an_unknown_name_fails_loudly_in_code_and_links_the_guide_itself_on_a_page():
    with pytest.raises(KeyError):
        links.ref("backup-and-restor")
    assert links.resolve("a-category-added-later").url == "/guide/"
    assert links.resolve("a-category-added-later").text == "Guide"


def test_every_evidence_kind_and_every_agenda_step_has_a_place_in_the_guide():
    for kind in EvidenceKind.values:
        links.ref(kind)
    for step in agenda.STEPS:
        assert links.ref(step.guide).text == f"Guide: The meeting, step {step.number}"


def test_guide_link_renders_a_link_named_after_the_section():
    html = Template('{% load guide %}{% guide_link "backup" %}').render(Context())
    assert html == '<a class="guide-link" href="/guide/#backup-and-restore">Guide: Backup and restore</a>'
    html = Template('{% load guide %}{% guide_link code "its section" %}').render(
        Context({"code": "runbooks"})
    )
    assert html == '<a class="guide-link" href="/guide/#runbooks-and-incident-response">its section</a>'


def test_text_that_names_a_section_gets_a_link_and_stays_escaped():
    html = links.linkify("Required (Guide: Restore drill) <b>")
    assert html == (
        'Required (<a class="guide-link" href="/guide/#restore-drill">Guide: Restore drill</a>) &lt;b&gt;'
    )


def _guide_refs_in(text: str) -> list[str]:
    return re.findall(r"Guide: ([A-Z][^\n]{0,60})", re.sub(r"\s+", " ", text))


def _names_a_section(after: str) -> bool:
    return any(after.startswith(title) for title in links.TITLES)


# --- Search (pure functions)


def test_search_needs_every_word_and_ranks_title_matches_first():
    docs = [
        (sections.get("backup-and-restore"), "Backup and restore", "Restore drills measure the restore."),
        (sections.get("evidence-records"), "Evidence records", "A restore drill asks for an RPO target."),
        (sections.get("claims"), "Claims", "Nothing about it here."),
    ]
    hits = search.search("Restore", docs)
    assert [h.section.slug for h in hits] == ["backup-and-restore", "evidence-records"]
    assert [h.section.slug for h in search.search("restore rpo", docs)] == ["evidence-records"]
    assert search.search("restore zebra", docs) == []
    assert search.search("   ", docs) == []


def test_a_snippet_marks_the_words_and_escapes_everything_else():
    text = "Before <b>tags</b> come the restore drill & then " + "more words " * 40
    snippet = search.snippet(text, ["restore"])
    assert "<mark>restore</mark>" in snippet
    assert "&lt;b&gt;" in snippet and "<b>" not in snippet
    assert snippet.endswith("…")


def test_marking_a_rendered_section_never_touches_its_tags():
    html = '<p class="restore">A <a href="/guide/#restore-drill">restore drill</a></p>'
    marked = search.mark_html(html, ["restore"])
    assert marked == '<p class="restore">A <a href="/guide/#restore-drill"><mark>restore</mark> drill</a></p>'


# --- The pages


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


def _ids(html: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', html))


@pytest.mark.django_db
def test_the_index_shows_the_contents_and_every_section_under_its_anchor(signed_in):
    response = signed_in.get("/guide/")
    assert response.status_code == 200
    html = response.content.decode()
    ids = _ids(html)
    for section in sections.SECTIONS:
        assert section.slug in ids, section.slug
        assert f'href="#{section.slug}"' in html  # the contents
        for anchor, _title in section.anchors:
            assert anchor in ids, anchor
    assert 'href="/static/css/guide.css"' in html or "guide.css" in html


@pytest.mark.django_db
def test_the_index_reads_no_more_than_the_session_and_the_user(signed_in, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        assert signed_in.get("/guide/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("slug", [s.slug for s in sections.SECTIONS])
def test_every_section_has_a_page_of_its_own(signed_in, slug):
    response = signed_in.get(f"/guide/{slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="{slug}"' in html
    assert f"<title>{sections.get(slug).title} · Guide · Readiness</title>" in html
    assert 'aria-current="page"' in html


@pytest.mark.django_db
def test_a_section_that_does_not_exist_is_not_found(signed_in):
    assert signed_in.get("/guide/no-such-section/").status_code == 404


@pytest.mark.django_db
def test_a_search_lists_the_matching_sections_with_the_words_marked(signed_in):
    html = signed_in.get("/guide/", {"q": "restore drill"}).content.decode()
    assert "Backup and restore" in html and "Evidence records" in html
    assert "<mark>restore</mark>" in html.lower() or "<mark>Restore</mark>" in html
    assert 'href="/guide/backup-and-restore/?q=restore%20drill"' in html
    assert 'id="ownership-and-authority"' not in html  # results instead of the whole guide
    assert 'href="/guide/ownership-and-authority/"' in html  # so the contents link the sections' pages


@pytest.mark.django_db
def test_a_search_that_finds_nothing_says_so(signed_in):
    html = signed_in.get("/guide/", {"q": "zebra crossing"}).content.decode()
    assert "Nothing in the guide mentions “zebra crossing”" in html
    assert "<mark>" not in html


@pytest.mark.django_db
def test_a_search_for_markup_is_escaped(signed_in):
    html = signed_in.get("/guide/", {"q": "<script>alert(1)</script>"}).content.decode()
    assert "<script>alert(1)" not in html


@pytest.mark.django_db
def test_a_section_opened_from_the_results_marks_the_words(signed_in):
    html = signed_in.get("/guide/backup-and-restore/", {"q": "drill"}).content.decode()
    assert "<mark>drill</mark>" in html


@pytest.mark.django_db
def test_the_print_view_is_the_whole_guide_without_the_apps_menu(signed_in):
    html = signed_in.get("/guide/", {"print": "1"}).content.decode()
    assert 'aria-label="Main"' not in html and "Sign out" not in html
    ids = _ids(html)
    assert all(s.slug in ids for s in sections.SECTIONS)
    assert "guide.css" in html
    assert 'href="#restore-drill"' in html  # links between sections stay on the printed page
    css = (ROOT / "static" / "css" / "guide.css").read_text()
    assert "@media print" in css and ".topbar" in css.split("@media print", 1)[1]


@pytest.mark.django_db
def test_the_guide_is_for_signed_in_users(client):
    for url in ("/guide/", "/guide/backup-and-restore/", "/guide/?print=1"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/login/")


@pytest.mark.django_db
def test_every_role_and_every_team_reads_the_same_guide(client, architect, lead, member, auditor, outsider):
    for user in (architect, lead, member, auditor, outsider):
        client.force_login(user)
        assert client.get("/guide/gate/").status_code == 200


@pytest.mark.django_db
def test_the_main_menu_links_the_guide(signed_in):
    html = signed_in.get(reverse("dashboard")).content.decode()
    assert '<a href="/guide/">Guide</a>' in html


@pytest.mark.django_db
def test_the_guide_states_the_numbers_the_installation_runs_on(signed_in, settings):
    settings.EXCEPTION_MAX_DAYS = 45
    settings.EVIDENCE_MAX_AGE_DAYS = {**settings.EVIDENCE_MAX_AGE_DAYS, "restore_drill": 60}
    exceptions = signed_in.get("/guide/exceptions/").content.decode()
    assert "at most 45 days ahead" in exceptions
    evidence = signed_in.get("/guide/evidence/").content.decode()
    assert re.search(r"Restore drill</th><td>60 days</td>", evidence)


def test_every_guide_link_in_the_templates_names_a_place_the_guide_has():
    used = set()
    for path in _template_files():
        for key in re.findall(r"{%\s*guide_(?:link|url|text)\s+\"([^\"]+)\"", path.read_text()):
            used.add(key)
            links.ref(key)  # raises KeyError for a name the guide does not have
    assert {"gate", "scorecard", "claims", "category-minimums"} <= used


def test_every_guide_reference_written_as_text_names_a_section_the_guide_has():
    texts = [p.read_text() for p in _template_files()] + [(ROOT / "README.md").read_text()]
    texts += [value for _path, _line, value in _python_strings()]
    named = [after for text in texts for after in _guide_refs_in(text)]
    wrong = [after for after in named if not _names_a_section(after)]
    assert named and not wrong, wrong


def test_the_guide_itself_is_written_without_the_specification():
    for section, html in content.render_all():
        assert not CITES_SPEC.search(search.plain_text(html)), section.slug


# --- No user-facing text cites the specification


def _template_files() -> list[Path]:
    roots = [ROOT / "templates"] + [ROOT / app / "templates" for app in APPS]
    return sorted(
        p for root in roots if root.exists() for p in root.rglob("*") if p.suffix in (".html", ".txt", ".css")
    )


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _python_strings() -> list[tuple[Path, int, str]]:
    """Every string literal of the apps' Python that is not a docstring (comments are not in the AST),
    migrations aside: they are history."""
    out = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            docstrings = _docstrings(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                ):
                    out.append((path, node.lineno, node.value))
    return out


def test_no_template_cites_the_specification():
    files = _template_files()
    assert len(files) > 50
    offending = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
        for p in files
        for n, line in enumerate(p.read_text().splitlines(), start=1)
        if CITES_SPEC.search(line)
    ]
    assert not offending, "\n".join(offending)


def test_no_string_in_the_apps_python_cites_the_specification():
    offending = [
        f"{p.relative_to(ROOT)}:{n}: {value[:100]!r}"
        for p, n, value in _python_strings()
        if CITES_SPEC.search(value)
    ]
    assert not offending, "\n".join(offending)


def test_the_scan_sees_strings_but_not_docstrings_or_comments():
    tree = ast.parse(
        '"""Doc seed §4."""\nx = "shown §4"  # seed §4\ndef f():\n    """seed"""\n    return "ok"\n'
    )
    docstrings = _docstrings(tree)
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in docstrings]
    assert strings == ["shown §4", "ok"]


def test_the_readme_does_not_cite_the_specification():
    readme = (ROOT / "README.md").read_text()
    assert not CITES_SPEC.search(readme), CITES_SPEC.search(readme)
    assert "/guide/" in readme


def _visible(html: str) -> str:
    """The page without long random tokens (CSRF tokens, digests), which could spell anything."""
    return re.sub(r"[A-Za-z0-9_\-]{32,}", "", html)


@pytest.mark.django_db
def test_the_pages_of_a_real_review_cite_no_specification_and_link_the_guide(client, capsys):
    call_command("demo")
    capsys.readouterr()
    assert client.login(request=HttpRequest(), username="ada", password="ada-demo-2026")
    review = Review.objects.filter(system__slug="ledger").exclude(state="decided").first()
    decision = Decision.objects.filter(system__slug="ledger").order_by("-recorded_at").first()
    pages = {
        "review": reverse("review_detail", args=[review.pk]),
        "checklist": reverse("review_checklist", args=[review.pk, "backup"]),
        "decision form": reverse("decision_create", args=[review.pk]),
        "finding form": reverse("finding_create", args=[review.pk]),
        "claim form": reverse("claim_create", args=[review.pk]),
        "import": reverse("evidence_import", args=[review.pk]),
        "review form": reverse("review_edit", args=[review.pk]),
        "system form": reverse("system_edit", args=[review.system.slug]),
        "portfolio": reverse("portfolio"),
        "decision": reverse("decision_detail", args=[decision.pk]),
        "verify": reverse("verify_decision"),
        "openapi": "/api/openapi.json",
    }
    pages.update({f"step {n}": reverse("meeting_step", args=[review.pk, n]) for n in range(1, 14)})
    pages.update(
        {
            f"evidence {k}": reverse("evidence_create", args=[review.pk, k])
            for k in EvidenceKind.values
            if k != "probe_result"
        }
    )
    for name, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.status_code)
        text = _visible(response.content.decode())
        assert not CITES_SPEC.search(text), (name, text[max(0, CITES_SPEC.search(text).start() - 80) :][:200])
    review_page = client.get(pages["review"]).content.decode()
    assert '<a class="guide-link" href="/guide/#gate">Guide: The gate</a>' in review_page  # the gate panel
    assert 'href="/guide/#scorecard"' in review_page
    step7 = client.get(pages["step 7"]).content.decode()
    assert 'href="/guide/#backup-and-restore">Guide: Backup and restore</a>' in step7
    assert 'href="/guide/#step-7"' in step7
    checklist = client.get(pages["checklist"]).content.decode()
    assert not re.search(r">§?\d+\.\d+<", checklist)  # no section numbers beside the items


@pytest.mark.django_db
def test_the_decision_pdf_names_the_guide_not_the_specification(client, capsys):
    from django.template.loader import render_to_string

    from reviews import records

    call_command("demo")
    capsys.readouterr()
    decision = Decision.objects.filter(system__slug="ledger").order_by("-recorded_at").first()
    html = render_to_string(
        "records/decision.html", records.pdf_context(decision.record, digest=decision.digest)
    )
    text = _visible(html)
    assert not CITES_SPEC.search(text)
    assert "Guide: Verifying a decision record" in text


@pytest.mark.django_db
def test_errors_point_to_the_guide_by_name(client, architect, review):
    client.force_login(architect)
    response = client.post(
        reverse("finding_create", args=[review.pk]), {"title": "x", "level": "P2", "category": ""}
    )
    html = response.content.decode()
    assert not CITES_SPEC.search(_visible(html))
    from reviews import services

    with pytest.raises(services.ServiceError) as err:
        services.set_score(
            review=review, category=review.catalogue.categories.first(), score=7, actor=architect
        )
    assert "Guide: The scorecard" in str(err.value)


@pytest.mark.django_db
def test_a_guide_reference_in_a_findings_text_is_a_link_on_the_review_page(client, review, member):
    from reviews import services
    from tests.factories import category

    services.add_finding(
        review=review,
        category=category(review, "privacy"),
        title="Card numbers stored in clear",
        description="A column holds card numbers <b>unmasked</b> (Guide: Severity levels).",
        level="P1",
        actor=member,
    )
    client.force_login(member)
    body = client.get(review.get_absolute_url()).content.decode()
    assert "/guide/#severity-levels" in body
    assert "&lt;b&gt;unmasked&lt;/b&gt;" in body  # the rest of the text stays escaped
