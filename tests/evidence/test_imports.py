"""Spreadsheet imports (evidence.imports): CSV and YAML files of every importable kind and of runbooks,
read by column name or label, every row checked and every error listed by row, stored whole or not at
all with one audit event; and the import page and its templates, as the owner team, another team and an
auditor see them."""

import csv
import io
from datetime import timedelta

import pytest
import yaml
from django.urls import reverse
from django.utils import timezone

from evidence import imports
from evidence.models import Evidence, Record, Runbook
from reviews.models import AuditEvent, Finding, ReviewState

from .declared_samples import SAMPLES

pytestmark = pytest.mark.django_db

RUNBOOK_SAMPLE = {
    "name": "Lock storm on the ledger",
    "covers": "lock_storm",
    "severity": "SEV2",
    "symptoms": "Write p95 over the SLO",
    "dashboards": "https://grafana.example.com/d/locks",
    "diagnostic_queries": "SELECT pid, pg_blocking_pids(pid) FROM pg_stat_activity",
    "immediate_safe_actions": "Pause the backfill",
    "actions_requiring_approval": "Terminating sessions",
    "actions_forbidden": "Restarting the primary",
    "rollback_recovery": "Resume at half the batch size",
    "communication": "Status page after 15 minutes",
    "evidence_to_capture": "pg_locks snapshots",
    "postmortem_questions": "Which lock order broke?",
    "owner": "dba-team",
    "last_tested": "2026-10-01",
    "url": "https://wiki.example.com/runbooks/lock-storm",
}
KINDS = sorted(imports.SHEETS)


def sample(kind: str) -> dict:
    return dict(RUNBOOK_SAMPLE if kind == "runbook" else SAMPLES[kind])


def second(kind: str) -> dict:
    """Another valid row of the kind, naming a different thing (a file repeating a row is refused)."""
    row = sample(kind)
    key = imports.SHEETS[kind].key[-1 if kind == "concurrency_test" else 0]
    if kind == "concurrency_test":
        row["write_path"] = "ReopenCase"
    elif kind == "signal":
        row["area"] = "storage"
    elif kind == "dashboard":
        row["name"] = "Cases DB: storage"
    else:
        row[key] = f"{row[key]}2"
    return row


def csv_bytes(rows: list[list], delimiter=",", bom=False) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter).writerows(rows)
    return (("\ufeff" if bom else "") + out.getvalue()).encode()


def as_csv(records: list[dict], headers=None, **kwargs) -> bytes:
    names = list(records[0])
    return csv_bytes([headers or names, *[[r.get(n, "") for n in names] for r in records]], **kwargs)


def run(review, actor, kind, name, content):
    return imports.import_file(review=review, actor=actor, kind=kind, file_name=name, content=content)


def refused(review, actor, kind, name, content) -> list[tuple[int, str, str]]:
    before = (Evidence.objects.count(), AuditEvent.objects.count())
    with pytest.raises(imports.ImportRefused) as err:
        run(review, actor, kind, name, content)
    assert (Evidence.objects.count(), AuditEvent.objects.count()) == before, "something was stored"
    return [(e.row, e.column, e.message) for e in err.value.errors]


def stored_values(item: Evidence) -> dict:
    if item.kind == "runbook":
        runbook = Runbook.objects.get(evidence=item)
        return {name: getattr(runbook, name) for name in RUNBOOK_SAMPLE if name != "url"}
    return Record.objects.get(evidence=item).data


# --- Every kind, both formats


@pytest.mark.parametrize("kind", KINDS)
def test_a_csv_of_each_kind_imports_every_row(kind, review, member):
    items = run(review, member, kind, f"{kind}.csv", as_csv([sample(kind), second(kind)]))
    assert [i.kind for i in items] == [kind, kind]
    assert Evidence.objects.filter(review=review, kind=kind).count() == 2
    values = stored_values(items[0])
    if kind == "runbook":
        assert values["name"] == RUNBOOK_SAMPLE["name"] and values["covers"] == "lock_storm"
        assert str(values["last_tested"]) == "2026-10-01" and items[0].url == RUNBOOK_SAMPLE["url"]
    else:
        assert values == imports.kinds.KINDS[kind].clean(SAMPLES[kind])[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_yaml_list_of_each_kind_imports_every_row(kind, review, member):
    content = yaml.safe_dump([sample(kind), second(kind)], allow_unicode=True).encode()
    items = run(review, member, kind, f"{kind}.yaml", content)
    assert len(items) == 2 and Evidence.objects.filter(review=review, kind=kind).count() == 2


def test_yaml_may_wrap_its_rows_and_uses_its_own_types(review, member):
    """`yes` and dates are YAML's own booleans and dates; a number in a text column reads as written."""
    content = b"""rows:
  - scenario: retried_10x
    write_path: CloseCase
    result: passed
    ran_on: 2026-11-20
  - scenario: other
    description: 42
    result: Not run yet
"""
    items = run(review, member, "concurrency_test", "tests.yml", content)
    assert [stored_values(i).get("ran_on") for i in items] == ["2026-11-20", None]
    assert stored_values(items[1])["description"] == "42"
    privacy = {**SAMPLES["privacy_field"], "contains_pii": True}
    [item] = run(review, member, "privacy_field", "p.yaml", yaml.safe_dump([privacy]).encode())
    assert stored_values(item)["contains_pii"] == "yes"


def test_headers_may_be_labels_in_any_case_with_a_bom_and_semicolons(review, member):
    spec = imports.kinds.KINDS["invariant"]
    labels = [spec.by_name[n].label.upper() for n in SAMPLES["invariant"]]
    content = as_csv([SAMPLES["invariant"]], headers=labels, delimiter=";", bom=True)
    [item] = run(review, member, "invariant", "Invariants.CSV", content)
    assert stored_values(item)["rule_type"] == "transition"
    runbook_labels = ["Name", "required runbook it covers", "Owner", "Last tested", "Link to the runbook"]
    row = ["Failover drill", "Failover or promotion", "dba-team", "2026-09-30", "https://wiki.example.com/f"]
    [runbook] = run(review, member, "runbook", "r.csv", csv_bytes([runbook_labels, row]))
    assert Runbook.objects.get(evidence=runbook).covers == "failover"


def test_choices_read_by_their_labels_and_names_with_underscores_or_spaces(review, member):
    row = {**SAMPLES["write_path"], "isolation": "Serializable"}
    headers = [n.replace("_", " ") for n in row]
    [item] = run(review, member, "write_path", "w.csv", as_csv([row], headers=headers))
    assert stored_values(item)["isolation"] == "serializable"


# --- Errors: every one, by row, and nothing stored


def test_three_bad_rows_are_all_listed_with_their_rows_and_nothing_is_stored(review, member):
    good = SAMPLES["invariant"]
    rows = [
        good,
        {**good, "invariant": "Rule two", "rule_type": "telepathy"},
        {**good, "invariant": "Rule three"},
        {**good, "invariant": "Rule four", "in_database": "maybe", "enforced_by": ""},
        {**good, "invariant": "", "test": "x"},
    ]
    errors = refused(review, member, "invariant", "inv.csv", as_csv(rows))
    assert [(row, column) for row, column, _ in errors] == [
        (3, "rule_type"),
        (5, "enforced_by"),
        (5, "in_database"),
        (6, "invariant"),
    ]
    assert {row for row, _, _ in errors} == {3, 5, 6}  # the header is row 1, the first invariant row 2
    assert "Choose one of" in errors[0][2] and errors[1][2] == "Required."
    assert errors[2][2] == "Answer yes or no."


def test_yaml_rows_count_from_one(review, member):
    rows = [SAMPLES["signal"], {**SAMPLES["signal"], "area": "storage", "owner": ""}, "not a row"]
    errors = refused(review, member, "signal", "s.yaml", yaml.safe_dump(rows).encode())
    assert errors == [(2, "owner", "Required."), (3, "", "Give the row as a mapping of column: value.")]


def test_a_row_the_service_refuses_rolls_back_the_rows_before_it(review, member):
    """The spec's checks pass; the service's own (no record from the future) refuses the last row."""
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    rows = [RUNBOOK_SAMPLE, {**RUNBOOK_SAMPLE, "name": "Second", "last_tested": future}]
    errors = refused(review, member, "runbook", "r.csv", as_csv(rows))
    assert errors == [(3, "last_tested", "The last test cannot be in the future.")]
    tests = [
        SAMPLES["concurrency_test"],
        {**SAMPLES["concurrency_test"], "write_path": "X", "ran_on": future},
    ]
    errors = refused(review, member, "concurrency_test", "c.csv", as_csv(tests))
    assert errors == [(3, "ran_on", "Evidence cannot come from the future.")]


def test_a_csv_with_an_unknown_column_is_refused_naming_it(review, member):
    content = as_csv([{**SAMPLES["signal"], "Colour": "red"}])
    errors = refused(review, member, "signal", "s.csv", content)
    assert len(errors) == 1
    row, column, message = errors[0]
    assert (row, column) == (1, "Colour") and message.startswith(
        "Not a column of signals. The columns are: Area,"
    )


def test_a_yaml_row_with_an_unknown_column_is_refused_naming_it(review, member):
    errors = refused(
        review, member, "signal", "s.yaml", yaml.safe_dump([{**SAMPLES["signal"], "x": 1}]).encode()
    )
    assert [(r, c) for r, c, _ in errors] == [(1, "x")]


def test_a_missing_required_column_is_said_once_not_on_every_row(review, member):
    rows = [{k: v for k, v in SAMPLES["dashboard"].items() if k != "owner"}] * 3
    rows = [{**r, "name": f"D{i}"} for i, r in enumerate(rows)]
    errors = refused(review, member, "dashboard", "d.csv", as_csv(rows))
    assert errors == [(1, "Owner", "This column is missing: every dashboard needs it.")]


def test_a_repeated_column_and_a_repeated_row_are_refused(review, member):
    row = SAMPLES["alert_rule"]
    content = csv_bytes([[*row, "Runbook link"], [*row.values(), "https://x.example.com"]])
    assert refused(review, member, "alert_rule", "a.csv", content) == [
        (1, "Runbook link", "Repeats the column “runbook_link”.")
    ]
    errors = refused(review, member, "alert_rule", "a.csv", as_csv([row, second("alert_rule"), row]))
    assert errors == [(4, "name", "Repeats row 2.")]


def test_a_row_with_more_cells_than_the_header_is_refused(review, member):
    row = SAMPLES["signal"]
    content = csv_bytes([list(row), [*row.values(), "stray"]])
    assert refused(review, member, "signal", "s.csv", content) == [
        (2, "", "This row has 6 cells; the header names 5.")
    ]


def test_rows_are_counted_as_a_spreadsheet_shows_them(review, member):
    """A cell over several lines is one row; empty rows keep their numbers (header 1, the invariant 2,
    an empty line 3, a row of empty cells 4)."""
    good = {**SAMPLES["invariant"], "failure": "One\nTwo\nThree"}
    bad = {**SAMPLES["invariant"], "invariant": "Other", "rule_type": "?"}
    content = as_csv([good]) + b"\r\n,,,,,,,\r\n" + as_csv([bad]).split(b"\r\n", 1)[1]
    errors = refused(review, member, "invariant", "i.csv", content)
    assert [(r, c) for r, c, _ in errors] == [(5, "rule_type")]


def test_a_file_over_the_size_limit_is_refused(review, member):
    row = SAMPLES["signal"]
    content = as_csv([row]) + b"x" * imports.MAX_BYTES
    assert refused(review, member, "signal", "s.csv", content) == [
        (0, "", "The file is larger than 1 MB: split it into smaller files and import each.")
    ]


def test_a_file_over_the_row_limit_is_refused(review, member):
    rows = [{**SAMPLES["dashboard"], "name": f"D{i}"} for i in range(imports.MAX_ROWS + 1)]
    [(row, _, message)] = refused(review, member, "dashboard", "d.csv", as_csv(rows))
    assert row == 0 and message.startswith("The file has more than 2,000 rows")
    [(row, _, message)] = refused(review, member, "dashboard", "d.yaml", yaml.safe_dump(rows).encode())
    assert message.startswith("The file has more than 2,000 rows")


def test_a_yaml_bomb_is_refused_before_it_expands(review, member):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    bomb += "rows:\n  - {area: locking, signals: *i, source: s, owner: o}\n"
    [(row, _, message)] = refused(review, member, "signal", "bomb.yaml", bomb.encode())
    assert row == 0 and "alias" in message and "line 2" in message


def test_deeply_nested_or_shapeless_yaml_is_refused(review, member):
    [(_, _, message)] = refused(review, member, "signal", "deep.yaml", b"[" * 5000 + b"]" * 5000)
    assert "YAML" in message
    for content in (b"area: locking\n", b"just text", b"rows: 3\n", b"{rows: [], more: 1}"):
        [(_, _, message)] = refused(review, member, "signal", "s.yaml", content)
        assert message.startswith("Give a list of rows"), content
    [(_, _, message)] = refused(review, member, "signal", "s.yaml", b"- [unclosed\n")
    assert message.startswith("The file cannot be read as YAML (line 2)")


def test_a_nested_value_is_refused_in_its_cell(review, member):
    content = yaml.safe_dump([{**SAMPLES["signal"], "owner": {"name": "x"}, "signals": [["a"]]}]).encode()
    errors = refused(review, member, "signal", "s.yaml", content)
    assert [(r, c) for r, c, _ in errors] == [(1, "owner"), (1, "signals")]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("s.xlsx", b"PK\x03\x04", "Give a .csv, .yaml or .yml file."),
        ("s.csv", "Área;Señal\n".encode("latin-1"), "The file is not UTF-8 text"),
        ("s.csv", b"", "The file has no rows."),
        ("s.yaml", b"", "The file has no rows."),
        ("noname", b"a,b", "Give a .csv, .yaml or .yml file."),
    ],
)
def test_files_that_cannot_be_read_say_why(review, member, name, content, words):
    [(row, _, message)] = refused(review, member, "signal", name, content)
    assert row == 0 and message.startswith(words)


def test_a_kind_that_is_not_importable_is_refused(review, member):
    [(_, _, message)] = refused(review, member, "recovery_objectives", "r.csv", b"a\n1\n")
    assert message.startswith("Choose what the file holds")


def test_a_decided_review_imports_nothing(review, member):
    review.state = ReviewState.DECIDED
    review.save()
    [(row, _, message)] = refused(review, member, "signal", "s.csv", as_csv([SAMPLES["signal"]]))
    assert row == 0 and message.startswith("This review is decided and frozen")


# --- Success


def test_an_import_is_audited_once_beside_each_record(review, member):
    items = run(review, member, "privacy_field", "privacy.csv", as_csv([sample("privacy_field")] * 1))
    [event] = AuditEvent.objects.filter(action="evidence.import")
    assert event.after == {"kind": "privacy_field", "rows": 1, "file": "privacy.csv"}
    assert event.review_id == review.pk and event.actor_id == member.pk
    assert AuditEvent.objects.filter(action="evidence.record", object_id=str(items[0].pk)).count() == 1


def test_an_imported_failing_record_opens_its_finding_as_one_added_by_hand(review, member):
    public = {**SAMPLES["privacy_field"], "classification": "public"}
    [item] = run(review, member, "privacy_field", "p.csv", as_csv([public]))
    assert Finding.objects.get(evidence=item).level == "P1"


# --- Templates


@pytest.mark.parametrize("kind", KINDS)
def test_every_column_is_reachable_by_its_template_header(kind):
    sheet = imports.SHEETS[kind]
    assert [sheet.column(h) for h in sheet.header()] == [c.name for c in sheet.columns]


@pytest.mark.parametrize("kind", KINDS)
def test_the_downloaded_template_imports_cleanly(kind, client, review, member):
    client.force_login(member)
    response = client.get(reverse("evidence_import_template", args=[review.pk, kind]))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{imports.SHEETS[kind].template_name}"'
    content = response.content
    assert content.startswith("\ufeff".encode())
    header = next(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert header == imports.SHEETS[kind].header()
    [item] = run(review, member, kind, imports.SHEETS[kind].template_name, content)
    assert item.kind == kind


# --- The page


def post_file(client, review, kind, name, content):
    upload = io.BytesIO(content)
    upload.name = name
    return client.post(reverse("evidence_import", args=[review.pk]), {"kind": kind, "file": upload})


def test_the_owner_team_imports_through_the_page(client, review, member, django_assert_max_num_queries):
    client.force_login(member)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("evidence_import", args=[review.pk]) + "?kind=signal")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Import from a spreadsheet" in html and 'value="signal" selected' in html
    for sheet in imports.SHEETS.values():
        assert reverse("evidence_import_template", args=[review.pk, sheet.kind]) in html
    rows = [SAMPLES["invariant"], second("invariant"), {**SAMPLES["invariant"], "invariant": "Third"}]
    response = post_file(client, review, "invariant", "inv.csv", as_csv(rows))
    assert response.status_code == 302 and response["Location"].endswith(f"/reviews/{review.pk}/#evidence")
    assert Evidence.objects.filter(review=review, kind="invariant").count() == 3
    detail = client.get(response["Location"]).content.decode()
    assert "Imported 3 invariants" in detail
    assert reverse("evidence_import", args=[review.pk]) in detail


def test_the_page_lists_every_error_and_stores_nothing(client, review, member):
    client.force_login(member)
    rows = [{**SAMPLES["signal"], "area": "weather"}, {**SAMPLES["signal"], "area": "storage", "owner": ""}]
    response = post_file(client, review, "signal", "signals.csv", as_csv(rows))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Nothing was imported" in html and "“signals.csv” has 2 errors" in html
    assert '<th scope="row">2</th><td>area</td>' in html and '<th scope="row">3</th><td>owner</td>' in html
    assert not Evidence.objects.filter(review=review).exists()


def test_the_page_refuses_a_missing_file_or_kind_as_a_form(client, review, member):
    client.force_login(member)
    response = client.post(reverse("evidence_import", args=[review.pk]), {"kind": "nonsense"})
    assert response.status_code == 200 and response.context["form"].errors.keys() == {"kind", "file"}


def test_another_team_sees_no_import_page_or_template(client, review, outsider):
    client.force_login(outsider)
    assert client.get(reverse("evidence_import", args=[review.pk])).status_code == 404
    assert post_file(client, review, "signal", "s.csv", as_csv([SAMPLES["signal"]])).status_code == 404
    assert client.get(reverse("evidence_import_template", args=[review.pk, "signal"])).status_code == 404
    assert not Evidence.objects.exists()


def test_an_auditor_may_not_import(client, review, auditor):
    client.force_login(auditor)
    assert client.get(reverse("evidence_import", args=[review.pk])).status_code == 403
    assert post_file(client, review, "signal", "s.csv", as_csv([SAMPLES["signal"]])).status_code == 403
    assert client.get(reverse("evidence_import_template", args=[review.pk, "signal"])).status_code == 403
    assert not Evidence.objects.exists()
    detail = client.get(review.get_absolute_url()).content.decode()
    assert reverse("evidence_import", args=[review.pk]) not in detail


def test_a_template_of_a_kind_that_is_not_importable_is_not_found(client, review, member):
    client.force_login(member)
    url = reverse("evidence_import_template", args=[review.pk, "recovery_objectives"])
    assert client.get(url).status_code == 404


# --- In a real browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_error_table_in_a_browser(page, live_server, review, member, tmp_path):
    from tests.test_browser import ARTIFACTS, sign_in

    rows = [
        SAMPLES["invariant"],
        {**SAMPLES["invariant"], "invariant": "Rule two", "rule_type": "telepathy"},
        {**SAMPLES["invariant"], "invariant": "Rule three", "in_database": "maybe", "enforced_by": ""},
    ]
    path = tmp_path / "invariants.csv"
    path.write_bytes(as_csv([{**r, "Colour": "red"} for r in rows]))
    sign_in(page, live_server, "mia")
    page.goto(f"{live_server.url}{review.get_absolute_url()}")
    page.locator("#evidence summary").first.click()
    page.get_by_role("link", name="Import from a spreadsheet").click()
    page.get_by_label("The file holds").select_option("invariant")
    page.locator("input#id_file").set_input_files(str(path))
    page.get_by_role("button", name="Import").click()
    table = page.locator("#import-errors table")
    assert table.locator("tbody tr").count() == 4
    assert table.locator("tbody tr").first.inner_text().split("\t")[:2] == ["1", "Colour"]
    assert "Nothing was imported" in page.locator("#import-errors").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.screenshot(path=str(ARTIFACTS / "evidence-import-errors.png"), full_page=True)
    assert not Evidence.objects.exists()
