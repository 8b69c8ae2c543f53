"""The guide explains every kind of record declared in evidence.kinds, the required runbooks, the runbook
template and imports: each kind's place in the guide exists, and what it says there comes from the kind's
own declaration (fields, freshness, the finding a failing one opens)."""

from __future__ import annotations

import re

import pytest

from evidence import kinds
from evidence.kinds.runbooks import REQUIRED_RUNBOOKS
from guide import content, links, search, sections

SECTION = "inventories-and-plans"


def _section_html(single: bool = False) -> str:
    return content.render(sections.get(SECTION), single=single)


def _between(html: str, anchor: str) -> str:
    """The part of the section from `anchor`'s heading to the next heading of the same level."""
    start = html.index(f'id="{anchor}"')
    following = html.find("<h3", start)
    return html[start : following if following != -1 else len(html)]


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_every_kind_names_a_place_the_guide_has(kind):
    spec = kinds.KINDS[kind]
    place = links.ref(spec.guide)  # raises KeyError for a key the guide does not have
    assert place.anchor == spec.guide and place.section == SECTION
    # The kind's own name leads to the same place (forms and messages may use either).
    assert links.ref(kind) == place


def test_a_misspelt_key_fails():
    for spec in kinds.KINDS.values():
        with pytest.raises(KeyError):
            links.ref(spec.guide + "s-typo")


def test_the_runbook_and_import_places_exist():
    assert links.ref("required-runbooks").section == "runbooks-and-incident-response"
    assert links.ref("runbook-template").section == "runbooks-and-incident-response"
    assert links.ref("importing-inventories").section == SECTION
    assert links.ref("required-runbooks").text == "Guide: Required runbooks"


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_each_kind_is_explained_from_its_declaration(kind):
    spec = kinds.KINDS[kind]
    part = search.plain_text(_between(_section_html(), spec.guide))
    for f in spec.fields:
        assert f.label in part, (kind, f.label)
    days = content.records()[kind]["days"]
    assert f"Stale after {days} days" in part
    assert f"step {spec.step}," in part
    if spec.failing_level:
        assert f"A failing one opens a {spec.failing_level}" in part
    else:
        assert "It never fails" in part
    for f in spec.fields:
        if f.wanted:
            assert re.search(re.escape(f.label) + r"\s*\(asked for\)", part), (kind, f.label)


def test_the_guide_states_the_ages_the_installation_runs_on(settings):
    settings.EVIDENCE_MAX_AGE_DAYS = {**settings.EVIDENCE_MAX_AGE_DAYS, "concurrency_test": 45}
    part = search.plain_text(_between(_section_html(), "concurrency-test"))
    assert "Stale after 45 days" in part


def test_the_importable_kinds_are_listed_and_the_others_are_not():
    part = _between(_section_html(), "importing-inventories")
    for spec in kinds.KINDS.values():
        linked = f'href="/guide/#{spec.guide}"' in part
        assert linked == spec.importable, spec.kind


def test_the_runbook_section_lists_the_required_runbooks_and_the_template():
    html = content.render(sections.get("runbooks-and-incident-response"))
    text = search.plain_text(html)
    for _code, name in REQUIRED_RUNBOOKS:
        assert name in text, name
    assert f"each of these {len(REQUIRED_RUNBOOKS)} failures" in text
    assert "Blocked sessions and who blocks them" in text  # a probe that runs a runbook's diagnostics
    template = search.plain_text(_between(html, "runbook-template"))
    fields = re.findall(r"<li><strong>([^<]+)</strong>", _between(html, "runbook-template"))
    assert len(fields) == 14
    for word in ("Actions forbidden", "Postmortem questions", "Last tested", "Owner"):
        assert word in template


@pytest.mark.django_db
def test_the_places_are_on_the_guides_pages(client, member):
    client.force_login(member)
    index = client.get("/guide/").content.decode()
    page = client.get(f"/guide/{SECTION}/").content.decode()
    for spec in kinds.KINDS.values():
        assert f'id="{spec.guide}"' in index and f'id="{spec.guide}"' in page
    for anchor in ("required-runbooks", "runbook-template", "importing-inventories"):
        assert f'id="{anchor}"' in index
