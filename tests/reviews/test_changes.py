"""What changed since the last decision: the pure diff on hand-built record pairs, and where it shows."""

import copy
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from reviews import services
from reviews.changes import changes_since
from reviews.models import Decision, Level

from ..factories import ReviewFactory, answer_critical, category

THEN = datetime(2026, 1, 1, 12, tzinfo=UTC)
NOW = THEN + timedelta(days=60)


def _record(at=THEN) -> dict:
    return {
        "schema": "readiness.decision/2",
        "review": {"id": 1},
        "outcome": "APPROVED_WITH_EXCEPTIONS",
        "recorded_at": at.isoformat(),
        "scorecard": [
            {
                "category": "backup",
                "name": "Backup",
                "score": 2,
                "effective_score": 2,
                "evidence": [
                    {
                        "id": 1,
                        "kind": "restore_drill",
                        "title": "Drill",
                        "url": "",
                        "file": "",
                        "observed_at": (THEN - timedelta(days=10)).isoformat(),
                    },
                ],
            },
            {
                "category": "security",
                "name": "Security",
                "score": 3,
                "effective_score": 3,
                "evidence": [
                    {
                        "id": 2,
                        "kind": "link",
                        "title": "Pen test",
                        "url": "https://x/",
                        "file": "",
                        "observed_at": THEN.isoformat(),
                    },
                ],
            },
        ],
        "findings": [
            {
                "id": 10,
                "category": "security",
                "title": "Weak TLS",
                "level": "P1",
                "status": "open",
                "exceptions": [
                    {
                        "id": 100,
                        "state": "signed",
                        "expires_at": (THEN + timedelta(days=30)).isoformat(),
                        "signer": "linus",
                    }
                ],
            },
            {
                "id": 11,
                "category": "backup",
                "title": "No PITR",
                "level": "P2",
                "status": "open",
                "exceptions": [],
            },
        ],
        "probe_runs": [
            {
                "target": "prod",
                "state": "done",
                "not_passed": [
                    {"probe": "no_pk", "title": "Tables without PK", "category": "schema", "status": "fail"}
                ],
            },
        ],
    }


def _same_later() -> dict:
    """The same state as a new review records it: same things, new ids, an exception still in force."""
    after = copy.deepcopy(_record(NOW))
    after["findings"][0]["exceptions"][0]["expires_at"] = (NOW + timedelta(days=30)).isoformat()
    return after


def _never_stale(kind, observed, at):
    return False


def test_no_change_gives_empty_sections():
    changes = changes_since(_record(), _same_later(), is_stale=_never_stale)
    assert changes["count"] == 0
    assert changes["scores"] == [] and changes["probes"] == []
    assert all(v == [] for v in changes["findings"].values())
    assert all(v == [] for v in changes["exceptions"].values())
    assert all(v == [] for v in changes["evidence"].values())
    assert changes["since"] == {
        "review_id": 1,
        "outcome": "APPROVED_WITH_EXCEPTIONS",
        "recorded_at": THEN.isoformat(),
    }


def test_scores_up_and_down_per_category():
    after = _same_later()
    after["scorecard"][0].update(score=3, effective_score=3)
    after["scorecard"][1].update(score=1, effective_score=1)
    scores = {s["category"]: s for s in changes_since(_record(), after)["scores"]}
    assert scores["backup"]["direction"] == "up" and (
        scores["backup"]["before"],
        scores["backup"]["after"],
    ) == (2, 3)
    assert scores["security"]["direction"] == "down"


def test_a_score_that_stops_counting_is_down():
    after = _same_later()
    after["scorecard"][0].update(effective_score=1)  # still 2, but its evidence no longer counts
    (change,) = changes_since(_record(), after)["scores"]
    assert change["direction"] == "down" and change["before"] == change["after"] == 2


def test_findings_opened_resolved_and_regraded():
    after = _same_later()
    after["findings"][0]["level"] = "P0"  # regraded
    after["findings"][1]["status"] = "resolved"  # resolved
    after["findings"].append(
        {
            "id": 12,
            "category": "query-index",
            "title": "Seq scan",
            "level": "P2",
            "status": "open",
            "exceptions": [],
        }
    )
    findings = changes_since(_record(), after)["findings"]
    assert [f["title"] for f in findings["opened"]] == ["Seq scan"]
    assert [f["title"] for f in findings["resolved"]] == ["No PITR"]
    assert findings["regraded"] == [
        {"category": "security", "title": "Weak TLS", "level": "P0", "level_before": "P1"}
    ]


def test_a_finding_no_longer_present_counts_as_resolved():
    after = _same_later()
    del after["findings"][1]
    (gone,) = changes_since(_record(), after)["findings"]["resolved"]
    assert gone["title"] == "No PITR" and gone["gone"] is True


def test_exceptions_added_expired_and_revoked():
    before = _record()
    before["findings"][1]["exceptions"] = [
        {
            "id": 101,
            "state": "signed",
            "signer": "linus",
            "expires_at": (THEN + timedelta(days=90)).isoformat(),
        }
    ]
    after = _same_later()
    after["findings"][0]["exceptions"][0].update(
        state="expired", expires_at=(THEN + timedelta(days=30)).isoformat()
    )
    after["findings"][1]["exceptions"] = [
        {
            "id": 101,
            "state": "revoked",
            "signer": "linus",
            "expires_at": (THEN + timedelta(days=90)).isoformat(),
        }
    ]
    after["findings"].append(
        {
            "id": 12,
            "category": "query-index",
            "title": "Seq scan",
            "level": "P1",
            "status": "open",
            "exceptions": [
                {
                    "id": 102,
                    "state": "signed",
                    "signer": "linus",
                    "expires_at": (NOW + timedelta(days=5)).isoformat(),
                }
            ],
        }
    )
    exceptions = changes_since(_record() | {"findings": before["findings"]}, after)["exceptions"]
    assert [e["id"] for e in exceptions["added"]] == [102]
    assert [e["id"] for e in exceptions["expired"]] == [100]
    assert [e["id"] for e in exceptions["revoked"]] == [101]


def test_an_exception_of_the_old_review_that_lapsed_is_expired():
    after = _same_later()
    after["findings"][0]["exceptions"] = []  # the new review's finding has no exception of its own
    exceptions = changes_since(_record(), after)["exceptions"]
    assert [e["id"] for e in exceptions["expired"]] == [100]  # it lapsed 30 days after THEN, before NOW


def test_evidence_added_removed_and_gone_stale():
    after = _same_later()
    after["scorecard"][1]["evidence"] = [
        {
            "id": 3,
            "kind": "link",
            "title": "New pen test",
            "url": "https://y/",
            "file": "",
            "observed_at": NOW.isoformat(),
        }
    ]

    def drills_stale_after_30_days(kind, observed, at):
        return kind == "restore_drill" and at - observed > timedelta(days=30)

    evidence = changes_since(_record(), after, is_stale=drills_stale_after_30_days)["evidence"]
    assert [e["title"] for e in evidence["added"]] == ["New pen test"]
    assert [e["title"] for e in evidence["removed"]] == ["Pen test"]
    assert [e["title"] for e in evidence["stale"]] == ["Drill"]  # 10 days old then, 70 now


def test_probe_results_that_changed_status():
    after = _same_later()
    after["probe_runs"] = [
        {
            "target": "prod",
            "state": "done",
            "not_passed": [
                {
                    "probe": "fk_no_index",
                    "title": "FK without index",
                    "category": "query-index",
                    "status": "warn",
                }
            ],
        },
    ]
    probes = changes_since(_record(), after)["probes"]
    assert {(p["probe"], p["before"], p["after"]) for p in probes} == {
        ("no_pk", "fail", "pass"),
        ("fk_no_index", "pass", "warn"),
    }


def test_a_target_probed_only_on_one_side_is_not_compared():
    after = _same_later()
    after["probe_runs"][0]["target"] = "staging"
    assert changes_since(_record(), after)["probes"] == []


# --- Where it shows: the decision record, the review page and the meeting's first step


@pytest.fixture
def decided(review, architect):
    """A decided review (all categories 3 with evidence) and a new review of the same system."""
    from evidence.models import Evidence
    from reviews.models import CategoryScore

    answer_critical(review, architect)
    for cat in review.catalogue.categories.all():
        CategoryScore.objects.create(review=review, category=cat, score=3, updated_by=architect)
        Evidence.objects.create(
            review=review,
            category=cat,
            kind="link",
            title=f"Doc {cat.code}",
            url="https://example.com/",
            added_by=architect,
        )
    first = services.record_decision(
        review=review, actor=architect, next_review=(datetime.now(UTC) + timedelta(days=90)).date()
    )
    new = ReviewFactory(
        system=review.system, created_by=architect, chair=architect, release_scope="Ledger 4.0"
    )
    answer_critical(new, architect)
    for cat in new.catalogue.categories.all():
        CategoryScore.objects.create(
            review=new, category=cat, score=3 if cat.code != "query-index" else 1, updated_by=architect
        )
        Evidence.objects.create(
            review=new,
            category=cat,
            kind="link",
            title=f"Doc {cat.code}",
            url="https://example.com/",
            added_by=architect,
        )
    services.add_finding(
        review=new,
        category=category(new, "query-index"),
        title="Seq scan on orders",
        level=Level.P3,
        actor=architect,
    )
    return first, new


@pytest.mark.django_db
def test_first_decision_has_no_changes_and_the_next_one_records_them(decided, architect):
    first, new = decided
    assert first.record["schema"] == "readiness.decision/7" and first.record["changes"] is None
    second = services.record_decision(
        review=new, actor=architect, next_review=(datetime.now(UTC) + timedelta(days=90)).date()
    )
    changes = second.record["changes"]
    assert changes["since"]["review_id"] == first.review_id
    assert [(s["category"], s["direction"]) for s in changes["scores"]] == [("query-index", "down")]
    assert [f["title"] for f in changes["findings"]["opened"]] == ["Seq scan on orders"]
    from reviews.records import verify_stored

    assert verify_stored(Decision.objects.get(pk=second.pk)).problems == []


@pytest.mark.django_db
def test_review_page_and_meeting_step_1_load_the_changes(client, decided, architect, outsider):
    first, new = decided
    client.force_login(architect)
    url = reverse("review_changes", args=[new.pk])
    page = client.get(reverse("review_detail", args=[new.pk])).content.decode()
    assert f'hx-get="{url}"' in page
    step = client.get(reverse("meeting_step", args=[new.pk, 1])).content.decode()
    assert f'hx-get="{url}"' in step
    panel = client.get(url).content.decode()
    assert "Changes since the last decision" in panel and "Seq scan on orders" in panel
    assert "Query &amp; index" in panel and "query-index" not in panel  # the category by its name
    # The decided review shows what its own record froze: nothing to compare for the first decision.
    assert (
        "No earlier decision"
        in client.get(reverse("review_changes", args=[first.review_id])).content.decode()
    )
    client.force_login(outsider)
    assert client.get(url).status_code == 404


@pytest.mark.django_db
def test_the_pdf_has_a_changes_section(decided, architect):
    from django.template.loader import render_to_string

    from reviews.records import pdf_context

    first, new = decided
    second = services.record_decision(
        review=new, actor=architect, next_review=(datetime.now(UTC) + timedelta(days=90)).date()
    )
    html = render_to_string("records/decision.html", pdf_context(second.record, digest=second.digest))
    assert "Changes since the last decision" in html
    assert "Finding opened: P3 Seq scan on orders" in html
    first_html = render_to_string("records/decision.html", pdf_context(first.record, digest=first.digest))
    assert "None: the first decision of this system." in first_html
