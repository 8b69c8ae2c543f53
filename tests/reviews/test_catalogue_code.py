"""The catalogue as code: export a version as YAML, edit it, import it as a new version that new reviews
use (old reviews keep theirs), every problem of a bad file listed with nothing stored, the diff, the JSON
Schema, an organisation's own categories, admins only."""

import io

import jsonschema
import pytest
import yaml
from django.core.management import CommandError, call_command
from django.urls import reverse

from reviews import gate as gate_rules
from reviews import selectors, services
from reviews.catalogue import as_code
from reviews.catalogue import services as catalogue_services
from reviews.models import AuditEvent, CatalogueVersion, Category, ChecklistItem
from tests.factories import UserFactory, answer_critical, attach, score_all

pytestmark = pytest.mark.django_db

NEW_ITEM = {
    "code": "backup.restore-to-other-region",
    "text": "A restore into another region has been rehearsed.",
    "guidance": "A region outage must not take the backups with it.",
    "critical": None,
}
MADE_CRITICAL = "ownership.derived-entities-listed"  # ordinary in version 1


@pytest.fixture
def admin(db):
    return UserFactory(username="root", is_staff=True)


def v1():
    return CatalogueVersion.objects.get(number=1)


def exported(version=None) -> dict:
    return yaml.safe_load(as_code.export_yaml(version or v1()))


def dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def edited() -> dict:
    """Version 1 exported, with an item added and an ordinary item made critical (P0)."""
    data = exported()
    data["label"] = "2027.1 (our edits)"
    by_code = {c["code"]: c for c in data["categories"]}
    by_code["backup"]["items"].append(dict(NEW_ITEM))
    for item in by_code["ownership"]["items"]:
        if item["code"] == MADE_CRITICAL:
            assert item["critical"] is None
            item["critical"] = "P0"
    return data


def start(system, actor, scope):
    return services.start_review(
        system=system, release_scope=scope, actor=actor, schema_changing=True, production_traffic=True
    )


# --- Export, schema, round trip


def test_the_exported_file_validates_against_the_published_schema_and_reads_back_the_same(client):
    response = client.get(reverse("catalogue_schema"))  # public: an editor fetches it without signing in
    assert response.status_code == 200 and response["Content-Type"] == "application/schema+json"
    schema = response.json()
    text = as_code.export_yaml(v1())
    data = yaml.safe_load(text)
    jsonschema.Draft202012Validator(schema).validate(data)
    assert as_code.read(text) == (data, [])
    assert data == as_code.version_data(v1())
    assert len(data["categories"]) == 14
    minimums = {c["code"]: c["minimum"] for c in data["categories"] if c["minimum"]}
    assert minimums == {
        "backup": {"score": 2, "when": "always"},
        "security": {"score": 2, "when": "always"},
        "migration": {"score": 2, "when": "schema_changing"},
        "observability": {"score": 2, "when": "production_traffic"},
    }


def test_an_unchanged_export_imports_as_an_identical_version(admin):
    v2 = catalogue_services.import_catalogue(text=as_code.export_yaml(v1()), publish=True, actor=admin)
    assert v2.number == 2
    assert as_code.version_data(v2) == as_code.version_data(v1())
    assert as_code.diff(as_code.version_data(v1()), as_code.version_data(v2)) == []
    # The engineers' section references are carried by code.
    assert list(v2.categories.order_by("number").values_list("code", "number", "section")) == list(
        v1().categories.order_by("number").values_list("code", "number", "section")
    )


# --- The judged scenario


def test_an_edited_catalogue_becomes_a_new_version_used_by_new_reviews_only(admin, system, architect):
    old_review = start(system, architect, "Before the edit")
    score_all(old_review, architect)
    gate_before = selectors.review_gate(old_review)

    version = catalogue_services.import_catalogue(text=dump(edited()), publish=True, actor=admin)

    assert (version.number, version.label, version.published) == (2, "2027.1 (our edits)", True)
    assert services.current_catalogue() == version
    added = ChecklistItem.objects.get(category__version=version, code=NEW_ITEM["code"])
    assert (added.category.code, added.text, added.critical_level) == ("backup", NEW_ITEM["text"], None)
    assert added.position == ChecklistItem.objects.filter(category=added.category).count()  # at the end
    assert ChecklistItem.objects.get(category__version=version, code=MADE_CRITICAL).critical_level == "P0"
    # Version 1 is untouched.
    assert ChecklistItem.objects.get(category__version=v1(), code=MADE_CRITICAL).critical_level is None
    assert not ChecklistItem.objects.filter(category__version=v1(), code=NEW_ITEM["code"]).exists()

    new_review = start(system, architect, "After the edit")
    old_review.refresh_from_db()
    assert new_review.catalogue == version
    assert old_review.catalogue == v1()
    gate_after = selectors.review_gate(old_review)
    assert (gate_after.outcome, gate_after.reasons, gate_after.notes) == (
        gate_before.outcome,
        gate_before.reasons,
        gate_before.notes,
    )
    # The new review is held to the new critical item; the old one is not.
    row = {r.category.code: r for r in selectors.scorecard(new_review)}["ownership"]
    assert MADE_CRITICAL in [c.code for c in row.critical]
    old_row = {r.category.code: r for r in selectors.scorecard(old_review)}["ownership"]
    assert MADE_CRITICAL not in [c.code for c in old_row.critical]
    # Its checklist shows the added item.
    assert NEW_ITEM["code"] in list(
        ChecklistItem.objects.filter(category__version=new_review.catalogue).values_list("code", flat=True)
    )


def test_the_new_critical_item_caps_its_category_in_new_reviews(admin, system, architect):
    catalogue_services.import_catalogue(text=dump(edited()), publish=True, actor=admin)
    review = start(system, architect, "After the edit")
    answer_critical(review, architect)  # every critical item Yes …
    item = ChecklistItem.objects.get(category__version=review.catalogue, code=MADE_CRITICAL)
    services.answer_item(review=review, item=item, answer="no", actor=architect)  # … but the new one No
    attach(review, "ownership", architect)
    ownership = Category.objects.get(version=review.catalogue, code="ownership")
    services.set_score(review=review, category=ownership, score=3, actor=architect, owner=architect)
    row = {r.category.code: r for r in selectors.scorecard(review)}["ownership"]
    assert row.effective == 1
    assert "critical checklist item" in " ".join(row.counted_down)


def test_a_draft_import_is_not_used_until_it_is_published(admin, system, architect):
    draft = catalogue_services.import_catalogue(text=dump(edited()), publish=False, actor=admin)
    assert start(system, architect, "While a draft").catalogue == v1()
    catalogue_services.publish_catalogue(version=draft, actor=admin)
    assert start(system, architect, "Once published").catalogue == draft
    assert AuditEvent.objects.filter(action="catalogue.publish", object_id=str(draft.pk)).exists()


def test_the_import_is_audited_with_the_version(admin):
    version = catalogue_services.import_catalogue(text=dump(edited()), publish=True, actor=admin)
    event = AuditEvent.objects.get(action="catalogue.import")
    assert event.actor == admin and event.object_id == str(version.pk)
    assert event.after == {
        "number": 2,
        "label": "2027.1 (our edits)",
        "published": True,
        "categories": 14,
        "items": ChecklistItem.objects.filter(category__version=version).count(),
    }


# --- Gate minimums in the file


def test_a_changed_minimum_holds_new_reviews_and_leaves_old_ones(admin, system, architect):
    old_review = start(system, architect, "Before")
    data = exported()
    for category in data["categories"]:
        if category["code"] == "backup":
            category["minimum"] = {"score": 3, "when": "always"}
        if category["code"] == "observability":
            category["minimum"] = None
    catalogue_services.import_catalogue(text=dump(data), publish=True, actor=admin)
    new_review = start(system, architect, "After")
    for review in (old_review, new_review):
        score_all(review, architect, value=2)
    old_rules = {r.rule: r for r in selectors.review_gate(old_review).reasons}
    new_rules = {r.rule: r for r in selectors.review_gate(new_review).reasons}
    assert old_rules["minimum:backup"].status == gate_rules.ReasonStatus.MET
    assert "minimum:observability" in old_rules
    assert new_rules["minimum:backup"].status == gate_rules.ReasonStatus.BLOCKS
    assert "it needs at least 3" in new_rules["minimum:backup"].message
    assert "minimum:observability" not in new_rules


# --- An organisation's own categories


def test_an_organisation_category_is_numbered_after_the_built_in_ones_and_scored(
    admin, system, architect, client
):
    data = exported()
    data["categories"].insert(
        0,  # anywhere in the file: numbered after the built-in ones
        {
            "code": "vendor-risk",
            "name": "Vendor risk",
            "description": "Third-party database services we depend on.",
            "minimum": {"score": 2, "when": "always"},
            "items": [
                {
                    "code": "vendor-risk.exit-plan",
                    "text": "An exit plan from the vendor exists.",
                    "critical": "P1",
                }
            ],
        },
    )
    data["categories"].append(
        {
            "code": "cost",
            "name": "Cost",
            "items": [{"code": "cost.budget", "text": "A monthly budget is set."}],
        }
    )
    version = catalogue_services.import_catalogue(text=dump(data), publish=True, actor=admin)
    numbers = dict(version.categories.values_list("code", "number"))
    assert (numbers["vendor-risk"], numbers["cost"], numbers["ownership"], numbers["runbooks"]) == (
        15,
        16,
        1,
        14,
    )

    review = start(system, architect, "With our categories")
    client.force_login(architect)
    page = client.get(reverse("review_checklist", args=[review.pk, "vendor-risk"]))
    assert page.status_code == 200 and "An exit plan from the vendor exists." in page.content.decode()
    assert "Vendor risk" in client.get(review.get_absolute_url()).content.decode()
    scoring_step = client.get(reverse("meeting_step", args=[review.pk, 11]))
    assert scoring_step.status_code == 200 and "Vendor risk" in scoring_step.content.decode()

    gate = selectors.review_gate(review)
    assert "16 categories unscored" in " ".join(r.message for r in gate.reasons)
    vendor = {r.rule: r for r in gate.reasons}["minimum:vendor-risk"]
    assert vendor.status == gate_rules.ReasonStatus.PENDING and "Vendor risk is not scored" in vendor.message

    score_all(review, architect, value=2)
    rules = {r.rule: r for r in selectors.review_gate(review).reasons}
    assert rules["minimum:vendor-risk"].status == gate_rules.ReasonStatus.MET
    assert not any(r.rule == "minimum:cost" for r in rules.values())  # no minimum: scored like the others
    scorecard = {r.category.code: r for r in selectors.scorecard(review)}
    assert scorecard["cost"].effective == 2


# --- Every problem listed, nothing stored


def test_every_problem_of_a_bad_file_is_listed_with_its_place_and_nothing_is_stored(admin):
    data = exported()
    data["colour"] = "blue"
    cats = data["categories"]
    cats[0]["items"][1]["critical"] = "P2"
    cats[0]["items"][2]["code"] = cats[0]["items"][0]["code"]
    cats[1]["code"] = "ownership"  # a duplicate, and data-model goes missing
    cats[2]["minimum"] = {"score": 5, "when": "sometimes"}
    cats[3]["items"][0]["text"] = ""
    cats[4]["code"] = "Not A Code"
    del cats[5]["name"]
    del cats[13]  # runbooks
    before = (CatalogueVersion.objects.count(), Category.objects.count(), ChecklistItem.objects.count())
    events = AuditEvent.objects.count()

    with pytest.raises(catalogue_services.CatalogueProblems) as caught:
        catalogue_services.import_catalogue(text=dump(data), publish=True, actor=admin)

    said = [str(p) for p in caught.value.problems]
    expected = [
        "unknown key ('colour' was unexpected)",
        "categories[0].items[1].critical: must be one of P0, P1, null, not 'P2'",
        "categories[1].code: the category code “ownership” is already used by categories[0]",
        "categories[0].items[2].code: the item code “ownership.source-of-truth-declared” is already used by "
        "categories[0].items[0]",
        "categories[2].minimum.score: must be from 1 to 3, not 5",
        "categories[2].minimum.when: must be one of always, schema_changing, production_traffic, "
        "not 'sometimes'",
        "categories[3].items[0].text: must not be empty",
        "categories[4].code: “Not A Code” is not a valid code: use lower-case letters, digits and hyphens",
        "categories[5]: “name” is missing",
    ]
    for line in expected:
        assert line in said, (line, said)
    missing = [s for s in said if s.startswith("categories: ")]
    assert len(missing) == 1
    for code in ("data-model", "transaction", "runbooks"):
        assert f"“{code}”" in missing[0]
    assert len(said) == len(expected) + 1, said
    assert (
        CatalogueVersion.objects.count(),
        Category.objects.count(),
        ChecklistItem.objects.count(),
    ) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    "text, says",
    [
        ("format: readiness-catalogue/1\nlabel: [unclosed\n", "line 3, column 1: not valid YAML"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("a: &x [1]\nb: *x\n", "anchors and aliases"),
        ("format: readiness-catalogue/1\nlabel: 2027.1\ncategories: []\n", "label: must be text"),
        (
            "format: readiness-catalogue/1\nlabel: x\ncategories: []\n",
            "categories: must not be an empty list",
        ),
    ],
)
def test_a_file_that_is_not_a_catalogue_is_refused_with_a_clear_message(admin, text, says):
    with pytest.raises(catalogue_services.CatalogueProblems) as caught:
        catalogue_services.import_catalogue(text=text, publish=True, actor=admin)
    assert says in " | ".join(str(p) for p in caught.value.problems)
    assert CatalogueVersion.objects.count() == 1


# --- Diff


def test_the_diff_names_what_was_added_removed_and_changed():
    old = exported()
    new = edited()
    by_code = {c["code"]: c for c in new["categories"]}
    by_code["security"]["name"] = "Security"
    by_code["migration"]["minimum"] = {"score": 3, "when": "schema_changing"}
    removed = by_code["capacity"]["items"].pop()
    new["categories"].append({"code": "cost", "name": "Cost", "minimum": None, "items": []})
    changes = as_code.diff(old, new)
    lines = {(c.kind, c.what, c.code): c for c in changes}
    assert lines[("changed", "label", "")].details == (
        "label “2026.1 (built-in checklist)” → “2027.1 (our edits)”",
    )
    assert ("added", "category", "cost") in lines
    assert lines[("changed", "category", "security")].details == (
        "name “Security & access control” → “Security”",
    )
    assert lines[("changed", "category", "migration")].details == (
        "gate minimum: at least 2 on schema-changing releases → at least 3 on schema-changing releases",
    )
    added = lines[("added", "item", NEW_ITEM["code"])]
    assert added.details[0] == "in backup" and not added.critical
    made = lines[("changed", "item", MADE_CRITICAL)]
    assert made.critical and made.details == ("ordinary → critical (P0)",)
    assert ("removed", "item", removed["code"]) in lines
    assert len(changes) == 7


def test_the_diff_page_shows_the_changes(admin, client):
    catalogue_services.import_catalogue(text=dump(edited()), publish=True, actor=admin)
    client.force_login(admin)
    page = client.get(reverse("catalogue_diff"), {"from": 1, "to": 2}).content.decode()
    assert NEW_ITEM["code"] in page and MADE_CRITICAL in page and "ordinary → critical (P0)" in page
    assert client.get(reverse("catalogue_diff"), {"from": 1, "to": 9}).status_code == 404
    assert client.get(reverse("catalogue_diff"), {"from": "x"}).status_code == 302


# --- Pages and who may use them


def test_the_admin_imports_through_the_page_errors_first_then_success(admin, client):
    client.force_login(admin)
    page = client.get(reverse("catalogue"))
    assert page.status_code == 200 and "v1" in page.content.decode()
    bad = dump(edited()).replace("critical: P0", "critical: P9", 1)
    response = client.post(reverse("catalogue_import"), {"text": bad, "publish": "on"})
    assert response.status_code == 400
    assert "Not imported: the file has 1 problem." in response.content.decode()
    assert "categories[0].items[0].critical" in response.content.decode()
    assert CatalogueVersion.objects.count() == 1
    upload = io.BytesIO(dump(edited()).encode())
    upload.name = "catalogue.yaml"
    response = client.post(reverse("catalogue_import"), {"file": upload, "publish": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("catalogue_diff") + "?from=1&to=2"
    assert services.current_catalogue().number == 2
    export = client.get(reverse("catalogue_export", args=[2]))
    assert export["Content-Disposition"] == 'attachment; filename="catalogue-v2.yaml"'
    assert yaml.safe_load(export.content) == edited()


def test_an_empty_import_form_says_what_is_missing(admin, client):
    client.force_login(admin)
    response = client.post(reverse("catalogue_import"), {})
    assert (
        response.status_code == 400 and "Choose a YAML file or paste its text." in response.content.decode()
    )


@pytest.mark.parametrize("who", ["member", "lead", "architect", "auditor", "outsider"])
def test_only_installation_admins_reach_the_catalogue(request, client, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    assert client.get(reverse("catalogue")).status_code == 403
    assert client.get(reverse("catalogue_export", args=[1])).status_code == 403
    assert client.get(reverse("catalogue_diff"), {"from": 1, "to": 1}).status_code == 403
    response = client.post(reverse("catalogue_import"), {"text": dump(edited()), "publish": "on"})
    assert response.status_code == 403
    assert client.post(reverse("catalogue_publish", args=[1])).status_code == 403
    assert CatalogueVersion.objects.count() == 1
    with pytest.raises(Exception, match="installation admin"):
        catalogue_services.import_catalogue(text=dump(edited()), publish=True, actor=user)
    assert CatalogueVersion.objects.count() == 1
    assert "/catalogue/" not in client.get("/").content.decode()


def test_signed_out_visitors_are_sent_to_sign_in(client):
    assert client.get(reverse("catalogue")).status_code == 302
    assert client.post(reverse("catalogue_import"), {"text": "x"}).status_code == 302


# --- The command line


def test_the_command_line_exports_checks_imports_and_compares(admin, tmp_path):
    path = tmp_path / "catalogue.yaml"
    call_command("catalogue", "export", "--version", "1", "--output", str(path))
    assert yaml.safe_load(path.read_text()) == exported()
    data = yaml.safe_load(path.read_text())
    data["categories"][0]["items"][0]["critical"] = "P7"
    bad = tmp_path / "bad.yaml"
    bad.write_text(dump(data))
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 problem; nothing imported"):
        call_command("catalogue", "import", str(bad), "--as", admin.username, stderr=err)
    assert "categories[0].items[0].critical" in err.getvalue()
    path.write_text(dump(edited()))
    out = io.StringIO()
    call_command("catalogue", "check", str(path), stdout=out)
    call_command("catalogue", "import", str(path), "--as", admin.username, "--draft", stdout=out)
    assert "Imported as version 2 (2027.1 (our edits)), a draft." in out.getvalue()
    assert CatalogueVersion.objects.get(number=2).published is False
    out = io.StringIO()
    call_command("catalogue", "diff", "1", "2", stdout=out)
    assert f"added    item     {NEW_ITEM['code']}" in out.getvalue()
    with pytest.raises(CommandError, match="not an installation admin"):
        call_command("catalogue", "import", str(path), "--as", "nobody")


def test_a_decision_record_and_its_pdf_hold_an_organisation_category(admin, system, architect, client):
    from datetime import timedelta

    from django.utils import timezone
    from pypdf import PdfReader

    from reviews import records

    data = exported()
    data["categories"].append(
        {
            "code": "vendor-risk",
            "name": "Vendor risk",
            "minimum": {"score": 2, "when": "always"},
            "items": [{"code": "vendor-risk.exit-plan", "text": "An exit plan from the vendor exists."}],
        }
    )
    catalogue_services.import_catalogue(text=dump(data), publish=True, actor=admin)
    review = start(system, architect, "Decided with our category")
    score_all(review, architect, value=2)
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    scorecard = {row["category"]: row for row in decision.record["scorecard"]}
    assert len(scorecard) == 15 and scorecard["vendor-risk"]["score"] == 2
    assert any(r["rule"] == "minimum:vendor-risk" for r in decision.record["reasons"])
    document = records.store_decision_pdf(decision.pk)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(document.pdf))).pages)
    assert "Vendor risk" in text
    client.force_login(architect)
    assert "Vendor risk" in client.get(reverse("decision_detail", args=[decision.pk])).content.decode()


def test_the_catalogue_page_reads_the_same_number_of_queries_whatever_the_number_of_versions(admin, client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(admin)
    client.get(reverse("catalogue"))  # warm: the session, the menu
    with CaptureQueriesContext(connection) as one:
        assert client.get(reverse("catalogue")).status_code == 200
    for _ in range(3):
        catalogue_services.import_catalogue(text=dump(edited()), publish=True, actor=admin)
    with CaptureQueriesContext(connection) as four:
        page = client.get(reverse("catalogue")).content.decode()
    assert "v4" in page and "Changes from v3" in page
    assert len(four.captured_queries) == len(one.captured_queries) <= 12


def test_raising_an_organisation_category_above_its_minimum_needs_a_second_person(admin, system, architect):
    data = exported()
    data["categories"].append(
        {
            "code": "vendor-risk",
            "name": "Vendor risk",
            "minimum": {"score": 2, "when": "always"},
            "items": [{"code": "vendor-risk.exit-plan", "text": "An exit plan from the vendor exists."}],
        }
    )
    catalogue_services.import_catalogue(text=dump(data), publish=True, actor=admin)
    review = start(system, architect, "Raise")
    vendor = Category.objects.get(version=review.catalogue, code="vendor-risk")
    no_minimum = Category.objects.get(version=review.catalogue, code="schema")  # no minimum
    for category in (vendor, no_minimum):
        services.set_score(review=review, category=category, score=1, actor=architect)
        attach(review, category.code, architect)
    services.set_score(review=review, category=no_minimum, score=2, actor=architect)  # no minimum: direct
    with pytest.raises(services.ServiceError, match="needs a second person"):
        services.set_score(review=review, category=vendor, score=2, actor=architect)


def test_the_pure_gate_follows_the_minimums_it_is_given_and_version_1s_without_them():
    from datetime import UTC, datetime

    def gate(scores):
        return gate_rules.evaluate(
            gate_rules.GateInput(
                schema_changing=False,
                production_traffic=False,
                scores=scores,
                findings=(),
                now=datetime.now(UTC),
            )
        )

    built_in = (gate_rules.ScoreIn("backup", "Backup", 1), gate_rules.ScoreIn("cost", "Cost", 1))
    assert [r.rule for r in gate(built_in).blockers] == ["minimum:backup"]
    assert "minimum:security" in {r.rule for r in gate(built_in).pending}  # said though not given
    given = (
        gate_rules.ScoreIn("backup", "Backup", 1, minimum=None),
        gate_rules.ScoreIn("cost", "Cost", 1, minimum=gate_rules.MinimumIn(2)),
        gate_rules.ScoreIn("docs", "Docs", 2, minimum=gate_rules.MinimumIn(3, "schema_changing")),
    )
    result = gate(given)
    assert [r.rule for r in result.blockers] == ["minimum:cost"]
    assert "Cost scores 1; it needs at least 2" in result.blockers[0].message
    assert not any(r.rule.startswith("minimum:") and r.rule != "minimum:cost" for r in result.reasons)
