"""The Catalogue page in a real browser: an admin imports an edited file with mistakes, reads every problem,
fixes them, imports again and lands on the differences; new reviews then start on the new version."""

from pathlib import Path

import pytest
import yaml
from playwright.sync_api import expect

from reviews.catalogue import as_code
from reviews.models import CatalogueVersion
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"


def sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("pw")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_an_admin_imports_an_edited_catalogue_after_fixing_every_problem(page, live_server):
    UserFactory(username="root", is_staff=True)
    data = yaml.safe_load(as_code.export_yaml(CatalogueVersion.objects.get(number=1)))
    data["label"] = "2027.1 (our edits)"
    backup = next(c for c in data["categories"] if c["code"] == "backup")
    backup["items"].append({"code": "backup.other-region", "text": "A restore into another region works."})
    ownership = data["categories"][0]
    ownership["items"][1]["critical"] = "P0"
    good = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    bad_data = yaml.safe_load(good)
    bad_data["categories"][0]["items"][1]["critical"] = "P5"
    bad_data["categories"][1]["items"][0]["code"] = bad_data["categories"][0]["items"][0]["code"]
    bad = yaml.safe_dump(bad_data, sort_keys=False, allow_unicode=True)

    sign_in(page, live_server, "root")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalogue").click()
    expect(page.get_by_role("heading", name="Checklist catalogue")).to_be_visible()
    page.get_by_label("Or paste the YAML").fill(bad)
    page.get_by_role("button", name="Import as a new version").click()

    problems = page.locator("#catalogue-problems")
    expect(problems).to_contain_text("Not imported: the file has 2 problems.")
    expect(problems).to_contain_text("categories[0].items[1].critical: must be one of P0, P1, null, not 'P5'")
    expect(problems).to_contain_text("categories[1].items[0].code: the item code")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "catalogue-import-problems.png"), full_page=True)
    assert CatalogueVersion.objects.count() == 1

    page.get_by_label("Or paste the YAML").fill(good)
    page.get_by_role("button", name="Import as a new version").click()
    page.wait_for_url("**/catalogue/diff/?from=1&to=2")
    expect(page.locator(".messages")).to_contain_text("Imported as version 2 (2027.1 (our edits)), published")
    expect(page.get_by_role("cell", name="backup.other-region")).to_be_visible()
    expect(page.get_by_text("ordinary → critical (P0)")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "catalogue-diff.png"), full_page=True)

    page.get_by_role("link", name="← Checklist catalogue").click()
    expect(page.get_by_role("row", name="v2").get_by_text("current")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "catalogue-versions.png"), full_page=True)
