"""Reminders by email through a real SMTP server: who gets what, once, and not after opting out."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from reminders import services
from reminders.models import Digest, Reminder, ReminderKind
from reviews.models import Decision, ExceptionState, Finding, Level, RiskException, Role

from ..factories import (
    MembershipFactory,
    ReviewFactory,
    SystemFactory,
    TeamFactory,
    UserFactory,
    catalogue,
    category,
)


def _emails(*users):
    for u in users:
        u.email = f"{u.username}@example.com"
        u.save(update_fields=["email"])


def _p1(review, user, title="Replication lag unmonitored"):
    return Finding.objects.create(
        review=review,
        category=category(review, "observability"),
        title=title,
        level=Level.P1,
        created_by=user,
    )


def _exception(
    finding, *, requested_by, state=ExceptionState.REQUESTED, signer=None, expires_in=timedelta(days=60)
):
    now = timezone.now()
    return RiskException.objects.create(
        finding=finding,
        justification="Needed for launch",
        compensating_control="Manual check daily",
        expires_at=now + expires_in,
        state=state,
        requested_by=requested_by,
        signer=signer,
        signed_at=now if signer else None,
    )


@pytest.fixture
def people(architect, lead, member, auditor, outsider):
    _emails(architect, lead, member, auditor, outsider)
    return {"alice": architect, "linus": lead, "mia": member, "charlie": auditor, "bob": outsider}


@pytest.mark.django_db
def test_the_lead_is_reminded_of_a_signature_once_and_not_the_requester(smtp, review, people):
    _exception(_p1(review, people["mia"]), requested_by=people["mia"])
    assert services.send_reminders() == {"digests": 1, "reminders": 1}
    (mail,) = smtp.messages
    assert mail["to"] == ["linus@example.com"]
    assert "awaits your signature" in mail["data"] and "Replication lag unmonitored" in mail["data"]
    assert services.send_reminders() == {"digests": 0, "reminders": 0}
    # Another day, the same reminder is still not sent twice.
    assert services.send_reminders(now=timezone.now() + timedelta(days=1)) == {"digests": 0, "reminders": 0}
    assert len(smtp.messages) == 1
    assert Reminder.objects.get().kind == ReminderKind.SIGNATURE_AWAITED
    assert Digest.objects.get().email == "linus@example.com"


@pytest.mark.django_db
def test_requester_and_signer_at_14_days_3_days_and_expiry(smtp, review, people):
    mia, linus = people["mia"], people["linus"]
    exc = _exception(
        _p1(review, mia),
        requested_by=mia,
        state=ExceptionState.SIGNED,
        signer=linus,
        expires_in=timedelta(days=10),
    )
    now = timezone.now()
    services.send_reminders(now=now)
    assert sorted(m["to"][0] for m in smtp.messages) == ["linus@example.com", "mia@example.com"]
    assert all("within 14 days" in m["data"] for m in smtp.messages)
    services.send_reminders(now=now + timedelta(days=8))  # 2 days left
    assert len(smtp.messages) == 4 and all("within 3 days" in m["data"] for m in smtp.messages[2:])
    services.send_reminders(now=now + timedelta(days=9, hours=1))  # same threshold, next day: nothing
    assert len(smtp.messages) == 4
    services.send_reminders(now=now + timedelta(days=11))
    assert len(smtp.messages) == 6 and all("expired on" in m["data"] for m in smtp.messages[4:])
    thresholds = sorted(
        Reminder.objects.filter(recipient=mia, item=f"exception:{exc.pk}").values_list("threshold", flat=True)
    )
    assert thresholds == ["14d", "3d", "expired"]


@pytest.mark.django_db
def test_the_team_hears_of_an_overdue_review_and_a_late_p2_but_not_the_auditor_or_other_teams(
    smtp, review, people
):
    alice, mia = people["alice"], people["mia"]
    old = ReviewFactory(
        system=review.system,
        created_by=alice,
        state="decided",
        created_at=timezone.now() - timedelta(days=100),
    )
    Decision.objects.create(
        review=old,
        system=review.system,
        outcome="APPROVED",
        next_review=timezone.localdate() - timedelta(days=2),
        approver=alice,
        recorded_at=timezone.now() - timedelta(days=99),
        record={},
        digest="a" * 64,
    )
    Finding.objects.create(
        review=review,
        category=category(review, "query-index"),
        title="Slow report query",
        level=Level.P2,
        owner=mia,
        due_date=timezone.localdate() - timedelta(days=1),
        created_by=alice,
    )
    services.send_reminders()
    assert sorted(m["to"][0] for m in smtp.messages) == [
        "alice@example.com",
        "linus@example.com",
        "mia@example.com",
    ]
    body = smtp.to("mia@example.com")[0]["data"]
    assert "the next review was due on" in body and "Slow report query" in body
    assert not smtp.to("charlie@example.com") and not smtp.to("bob@example.com")


@pytest.mark.django_db
def test_an_opted_out_user_gets_only_reminders_about_their_own_signature(smtp, client, review, people):
    mia, linus = people["mia"], people["linus"]
    for user in (mia, linus):
        client.force_login(user)
        assert client.post(reverse("reminder_preferences"), {}).status_code == 302  # unchecked: opt out
    _exception(_p1(review, mia, "Awaiting"), requested_by=mia)
    _exception(
        _p1(review, mia, "Signed"),
        requested_by=mia,
        state=ExceptionState.SIGNED,
        signer=linus,
        expires_in=timedelta(days=2),
    )
    services.send_reminders()
    assert not smtp.to("mia@example.com")  # her requests' expiry is not about her signature
    (mail,) = smtp.to("linus@example.com")
    assert "Awaiting" in mail["data"] and "Signed" in mail["data"]  # awaiting and carrying his signature


@pytest.mark.django_db
def test_a_failed_delivery_records_nothing_and_the_next_run_sends(smtp, settings, review, people):
    _exception(_p1(review, people["mia"]), requested_by=people["mia"])
    port = settings.EMAIL_PORT
    settings.EMAIL_PORT = 1  # nothing listens there
    assert services.send_reminders() == {"digests": 0, "reminders": 0}
    assert not Reminder.objects.exists() and not Digest.objects.exists()
    settings.EMAIL_PORT = port
    assert services.send_reminders()["digests"] == 1 and len(smtp.messages) == 1


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_digest_exactly_once(smtp):
    catalogue()
    team = TeamFactory()
    lead = UserFactory(username="lead", email="lead@example.com")
    member = UserFactory(username="member", email="member@example.com")
    MembershipFactory(user=lead, team=team, role=Role.LEAD)
    MembershipFactory(user=member, team=team, role=Role.MEMBER)
    review = ReviewFactory(system=SystemFactory(team=team), created_by=lead)
    for i in range(3):
        _exception(_p1(review, member, f"Finding {i}"), requested_by=member)
    _exception(
        _p1(review, member, "Soon"),
        requested_by=member,
        state=ExceptionState.SIGNED,
        signer=lead,
        expires_in=timedelta(days=5),
    )
    barrier = threading.Barrier(2)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(services.send_reminders())
        except Exception as err:  # noqa: BLE001 — reported below
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(m["to"][0] for m in smtp.messages) == ["lead@example.com", "member@example.com"]
    assert len(smtp.to("lead@example.com")[0]["data"].split("awaits your signature")) == 4  # 3 in one digest
    assert sum(r["digests"] for r in results) == 2
    assert Reminder.objects.count() == 5 and Digest.objects.count() == 2


@pytest.mark.django_db
def test_open_actions_count_is_on_every_page_and_the_page_lists_them(
    client, review, people, django_assert_num_queries
):
    mia, linus = people["mia"], people["linus"]
    _exception(_p1(review, mia), requested_by=mia)
    Finding.objects.create(
        review=review,
        category=category(review, "query-index"),
        title="Late P2",
        level=Level.P2,
        owner=linus,
        due_date=timezone.localdate() - timedelta(days=1),
        created_by=mia,
    )
    client.force_login(linus)
    html = client.get(reverse("dashboard")).content.decode()
    assert f'hx-get="{reverse("open_action_count")}"' in html  # the top bar loads the count
    client.get(reverse("open_action_count"))  # warm the session
    with django_assert_num_queries(3):  # session, user, and the count in one query
        fragment = client.get(reverse("open_action_count")).content.decode()
    assert 'id="open-action-count"' in fragment and ">2<" in fragment
    page = client.get(reverse("open_actions")).content.decode()
    assert "Replication lag unmonitored" in page and "Late P2" in page
    client.force_login(mia)  # the requester has nothing to sign
    assert "open-action-count" not in client.get(reverse("open_action_count")).content.decode()


@pytest.mark.django_db
def test_the_actions_page_needs_sign_in(client):
    assert client.get(reverse("open_actions")).status_code == 302
    assert client.post(reverse("reminder_preferences")).status_code == 302


def test_the_signature_count_leaves_out_what_can_no_longer_be_signed(review, member, lead):
    """A lapsed request, or one on a decided review, is not waiting for anyone: the badge and the digest
    count as the menu and the queue do."""
    from datetime import timedelta

    from django.utils import timezone

    from reminders import selectors
    from reviews import services
    from reviews.models import Level, RiskException
    from tests.factories import category

    finding = services.add_finding(
        review=review, category=category(review, "backup"), title="No drill", level=Level.P1, actor=member
    )
    exc = services.request_exception(
        finding=finding,
        justification="Booked",
        compensating_control="Snapshot",
        expires_at=timezone.now() + timedelta(days=5),
        actor=member,
    )
    assert list(selectors.awaiting_signature(lead)) == [exc]
    RiskException.objects.filter(pk=exc.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert list(selectors.awaiting_signature(lead)) == []
