"""Exceptions for P1 findings: four eyes, a configurable maximum, expiry on time by the beat task,
signatures over exact terms that an edit voids, and the leads' queue."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from readiness.celery import app
from reviews import loosening, services, tasks
from reviews.gate import GateOutcome
from reviews.models import AuditEvent, ExceptionState, Level, RiskException, Role
from reviews.selectors import review_gate
from tests.factories import MembershipFactory, UserFactory, category, score_all

pytestmark = pytest.mark.django_db

FROZEN = "decided and frozen"


def add_p1(review, actor, title="Backfill without batches"):
    return services.add_finding(
        review=review, category=category(review, "migration"), title=title, level=Level.P1, actor=actor
    )


def request(finding, actor, days=30, **terms):
    return services.request_exception(
        finding=finding,
        justification=terms.get("justification", "Low volume until the batch job ships"),
        compensating_control=terms.get("compensating_control", "Pager alert on lock waits"),
        expires_at=timezone.now() + timedelta(days=days),
        actor=actor,
    )


def edit(exc, actor, **changes):
    terms = {
        "justification": exc.justification,
        "compensating_control": exc.compensating_control,
        "expires_at": exc.expires_at,
        **changes,
    }
    return services.edit_exception(exception=exc, actor=actor, **terms)


@pytest.fixture
def second_lead(team):
    user = UserFactory(username="lena")
    MembershipFactory(user=user, team=team, role=Role.LEAD)
    return user


def lapse(exc, minutes=1):
    """Time passes: the exception's expiry is now behind us (only the clock changes, not the terms)."""
    RiskException.objects.filter(pk=exc.pk).update(expires_at=timezone.now() - timedelta(minutes=minutes))


# --- four eyes --------------------------------------------------------------------------------------


def test_four_eyes_the_requester_cannot_sign_and_another_lead_can(review, lead, second_lead):
    exc = request(add_p1(review, lead), lead)
    with pytest.raises(services.ServiceError, match="Four eyes"):
        services.sign_exception(exception=exc, actor=lead)
    with pytest.raises(services.ServiceError, match="Four eyes"):
        services.reject_exception(exception=exc, actor=lead)
    signed = services.sign_exception(exception=exc, actor=second_lead)
    assert signed.state == ExceptionState.SIGNED and signed.signer == second_lead


def test_only_a_lead_of_the_systems_team_signs(review, member, architect, auditor, outsider):
    exc = request(add_p1(review, member), member)
    for person in (architect, auditor, outsider):
        with pytest.raises(PermissionDenied):
            services.sign_exception(exception=exc, actor=person)
    exc.refresh_from_db()
    assert exc.state == ExceptionState.REQUESTED and exc.signer is None


@pytest.mark.parametrize("column", ["requested_by_id", "edited_by_id"])
def test_the_database_refuses_a_signer_who_wrote_the_terms(review, member, lead, column):
    exc = request(add_p1(review, member), member)
    RiskException.objects.filter(pk=exc.pk).update(edited_by=lead)
    author = member if column == "requested_by_id" else lead
    with pytest.raises(IntegrityError), transaction.atomic():
        RiskException.objects.filter(pk=exc.pk).update(
            state=ExceptionState.SIGNED, signer=author, signed_at=timezone.now()
        )


def test_whoever_edited_the_terms_cannot_sign_them(review, member, lead, second_lead):
    exc = request(add_p1(review, member), member)
    exc = edit(exc, lead, compensating_control="Pager alert on lock waits and a kill switch")
    with pytest.raises(services.ServiceError, match="you edited these terms"):
        services.sign_exception(exception=exc, actor=lead)
    assert services.sign_exception(exception=exc, actor=second_lead).state == ExceptionState.SIGNED


# --- the maximum expiry is a setting ----------------------------------------------------------------


def test_the_maximum_expiry_is_configurable(review, member, settings):
    settings.EXCEPTION_MAX_DAYS = 30
    finding = add_p1(review, member)
    with pytest.raises(services.ServiceError) as err:
        request(finding, member, days=31)
    assert err.value.message_dict["expires_at"] == ["An exception lasts at most 30 days."]
    exc = request(finding, member, days=29)
    with pytest.raises(services.ServiceError, match="30 days"):
        edit(exc, member, expires_at=timezone.now() + timedelta(days=45))
    settings.EXCEPTION_MAX_DAYS = 60
    assert edit(exc, member, expires_at=timezone.now() + timedelta(days=45)).state == ExceptionState.REQUESTED


def test_the_default_maximum_is_90_days():
    assert django_settings.EXCEPTION_MAX_DAYS == 90


# --- the signature ----------------------------------------------------------------------------------


def test_a_signature_records_who_when_and_the_digest_of_exactly_the_signed_terms(review, member, lead):
    finding = add_p1(review, member)
    exc = request(finding, member, justification="Ünïcode — on purpose")
    before = timezone.now()
    signed = services.sign_exception(exception=exc, actor=lead)
    assert signed.signer == lead and before <= signed.signed_at <= timezone.now()
    terms = {
        "finding": finding.pk,
        "finding_title": finding.title,
        "level": "P1",
        "justification": "Ünïcode — on purpose",
        "compensating_control": exc.compensating_control,
        "expires_at": exc.expires_at.isoformat(),
        "requested_by": member.pk,
    }
    canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert signed.signed_digest == hashlib.sha256(canonical).hexdigest()
    assert services.signature_matches(signed) is True
    event = AuditEvent.objects.get(action="exception.sign", object_id=str(exc.pk))
    assert event.actor == lead and event.after["signed_digest"] == signed.signed_digest


def test_editing_a_signed_exception_voids_the_signature_and_the_gate_blocks_again(
    review, architect, member, lead
):
    score_all(review, architect)
    exc = request(add_p1(review, member), member)
    services.sign_exception(exception=exc, actor=lead)
    assert review_gate(review).outcome == GateOutcome.APPROVED_WITH_EXCEPTIONS
    signed_digest = RiskException.objects.get(pk=exc.pk).signed_digest

    edited = edit(RiskException.objects.get(pk=exc.pk), member, justification="A different reason")

    assert edited.state == ExceptionState.REQUESTED
    assert (edited.signer, edited.signed_at, edited.signed_digest) == (None, None, "")
    assert edited.edited_by == member and edited.edited_at is not None
    assert review_gate(review).outcome == GateOutcome.BLOCKED
    void = AuditEvent.objects.get(action="exception.void", object_id=str(exc.pk))
    assert void.actor == member
    assert void.before["state"] == "signed" and void.before["signer"] == lead.pk
    assert void.before["signed_digest"] == signed_digest
    assert void.after["state"] == "requested" and void.after["signer"] is None
    change = AuditEvent.objects.get(action="exception.edit", object_id=str(exc.pk))
    assert change.before["justification"] != change.after["justification"] == "A different reason"


def test_editing_a_requested_exception_keeps_it_awaiting_and_an_unchanged_edit_writes_nothing(
    review, member, lead
):
    exc = request(add_p1(review, member), member)
    events = AuditEvent.objects.count()
    same = edit(exc, member)
    assert same.version == exc.version and AuditEvent.objects.count() == events
    changed = edit(exc, lead, compensating_control="Two people on call")
    assert changed.state == ExceptionState.REQUESTED and changed.version == exc.version + 1
    assert not AuditEvent.objects.filter(action="exception.void").exists()


@pytest.mark.parametrize("end", ["reject", "revoke", "expire"])
def test_a_rejected_revoked_or_expired_exception_cannot_be_edited(review, member, lead, end):
    exc = request(add_p1(review, member), member)
    if end == "reject":
        services.reject_exception(exception=exc, actor=lead)
    else:
        services.sign_exception(exception=exc, actor=lead)
        if end == "revoke":
            services.revoke_exception(exception=exc, actor=lead)
        else:
            lapse(exc)
            services.expire_exceptions()
    with pytest.raises(services.ServiceError, match="request a new one"):
        edit(RiskException.objects.get(pk=exc.pk), member, justification="Again")


def test_an_auditor_cannot_edit_an_exception(review, member, auditor):
    exc = request(add_p1(review, member), member)
    with pytest.raises(PermissionDenied):
        edit(exc, auditor, justification="Not theirs to change")


def test_a_stale_edit_gets_a_conflict(review, member, architect):
    exc = request(add_p1(review, member), member)
    edit(exc, architect, justification="First change")
    with pytest.raises(services.ConflictError):
        services.edit_exception(
            exception=exc,
            actor=member,
            justification="Second change",
            compensating_control=exc.compensating_control,
            expires_at=exc.expires_at,
            version=exc.version,
        )


def test_retitling_the_finding_voids_the_signature_over_its_title(review, member, lead):
    finding = add_p1(review, member)
    exc = services.sign_exception(exception=request(finding, member), actor=lead)
    services.update_finding(
        finding=finding,
        actor=member,
        version=finding.version,
        title="Backfill in one transaction",
        description="",
        level=Level.P1,
        status="open",
    )
    exc.refresh_from_db()
    assert exc.state == ExceptionState.REQUESTED and exc.signed_digest == ""
    assert AuditEvent.objects.get(action="exception.void").after["why"] == "finding changed after signing"


def test_a_status_change_of_the_finding_keeps_the_signature(review, member, lead, architect):
    finding = add_p1(review, member)
    exc = services.sign_exception(exception=request(finding, member), actor=lead)
    services.update_finding(
        finding=finding,
        actor=member,
        version=finding.version,
        title=finding.title,
        description=finding.description,  # a new description voids it (test_signed_terms)
        level=Level.P1,
        status="open",
        due_date=timezone.localdate() + timedelta(days=10),
    )
    # Accepting a P1 is a loosening: proposed, and confirmed by someone else.
    proposal = loosening.propose(
        finding=finding, actor=member, level=Level.P1, status="accepted", reason="Owned"
    )
    loosening.confirm(loosening=proposal, actor=architect)
    exc.refresh_from_db()
    assert exc.state == ExceptionState.SIGNED and services.signature_matches(exc)


# --- expiry on time, by the beat task ---------------------------------------------------------------


def test_expire_exceptions_is_on_the_beat_schedule_and_registered():
    schedule = {entry["task"]: entry for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["reviews.tasks.expire_exceptions"]["schedule"] <= 60
    assert "reviews.tasks.expire_exceptions" in app.tasks
    assert "reviews.tasks.render_decision_pdf" in app.tasks


def test_an_exception_expiring_flips_the_gate_to_blocked(review, architect, member, lead):
    score_all(review, architect)
    exc = request(add_p1(review, member), member)
    services.sign_exception(exception=exc, actor=lead)
    assert review_gate(review).outcome == GateOutcome.APPROVED_WITH_EXCEPTIONS

    lapse(exc)
    assert tasks.expire_exceptions.delay().get() == 1  # eager in tests: what beat would run

    exc.refresh_from_db()
    assert exc.state == ExceptionState.EXPIRED
    gate = review_gate(review)
    assert gate.outcome == GateOutcome.BLOCKED
    assert any("expired" in r.message for r in gate.blockers)
    event = AuditEvent.objects.get(action="exception.expire", object_id=str(exc.pk))
    assert event.actor is None and event.review == review
    assert (event.before["state"], event.after["state"]) == ("signed", "expired")


def test_expiry_is_idempotent(review, member, lead):
    exc = services.sign_exception(exception=request(add_p1(review, member), member), actor=lead)
    lapse(exc)
    assert tasks.expire_exceptions() == 1
    assert tasks.expire_exceptions() == 0
    assert AuditEvent.objects.filter(action="exception.expire").count() == 1


def test_expiry_touches_only_signed_exceptions_past_their_time(review, member, lead):
    signed_future = services.sign_exception(
        exception=request(add_p1(review, member, "A"), member), actor=lead
    )
    requested_past = request(add_p1(review, member, "B"), member)
    lapse(requested_past)
    revoked = services.sign_exception(exception=request(add_p1(review, member, "C"), member), actor=lead)
    services.revoke_exception(exception=revoked, actor=lead)
    lapse(revoked)
    assert services.expire_exceptions() == 0
    states = dict(RiskException.objects.values_list("pk", "state"))
    assert states == {signed_future.pk: "signed", requested_past.pk: "requested", revoked.pk: "revoked"}


def test_expiry_happens_on_decided_reviews_too(review, architect, member, lead):
    score_all(review, architect)
    exc = services.sign_exception(exception=request(add_p1(review, member), member), actor=lead)
    services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
    )
    lapse(exc)
    assert services.expire_exceptions() == 1
    exc.refresh_from_db()
    assert exc.state == ExceptionState.EXPIRED


def test_expiry_works_through_many_batches(review, member, lead, monkeypatch):
    monkeypatch.setattr(services, "EXPIRY_BATCH", 2)
    for i in range(5):
        exc = services.sign_exception(
            exception=request(add_p1(review, member, f"P1 {i}"), member), actor=lead
        )
        lapse(exc)
    assert services.expire_exceptions() == 5
    assert set(RiskException.objects.values_list("state", flat=True)) == {"expired"}


# --- pages: edit, detail, queue ---------------------------------------------------------------------


def local_minute(delta: timedelta) -> str:
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


def edit_data(exc, **changes):
    return {
        "justification": exc.justification,
        "compensating_control": exc.compensating_control,
        "expires_at": local_minute(timedelta(days=20)),
        "version": exc.version,
        **changes,
    }


@pytest.fixture
def signed(review, member, lead):
    return services.sign_exception(exception=request(add_p1(review, member), member), actor=lead)


def test_editing_a_signed_exception_through_the_page_warns_then_voids(client, signed, member, lead):
    client.force_login(member)
    page = client.get(reverse("exception_edit", args=[signed.pk]))
    assert page.status_code == 200
    assert b"This exception is signed" in page.content and b"Save and void the signature" in page.content
    response = client.post(
        reverse("exception_edit", args=[signed.pk]), edit_data(signed, justification="New")
    )
    assert response.status_code == 302 and response.url == reverse("exception_detail", args=[signed.pk])
    signed.refresh_from_db()
    assert signed.state == ExceptionState.REQUESTED and signed.justification == "New"
    body = client.get(response.url).content.decode()
    assert "another lead must sign it again" in body
    assert "Not signed." in body and "exception.void" in body


def test_saving_the_edit_page_unchanged_keeps_the_signature(client, signed, member):
    client.force_login(member)
    expiry = timezone.localtime(signed.expires_at).strftime("%Y-%m-%dT%H:%M")  # as the form shows it
    response = client.post(reverse("exception_edit", args=[signed.pk]), edit_data(signed, expires_at=expiry))
    assert response.status_code == 302
    signed.refresh_from_db()
    assert signed.state == ExceptionState.SIGNED and services.signature_matches(signed)
    assert not AuditEvent.objects.filter(action__in=["exception.edit", "exception.void"]).exists()


def test_the_edit_page_refuses_bad_terms_and_changes_nothing(client, signed, member, settings):
    settings.EXCEPTION_MAX_DAYS = 10
    client.force_login(member)
    data = edit_data(signed, justification="")
    response = client.post(reverse("exception_edit", args=[signed.pk]), data)
    assert response.status_code == 200 and b"This field is required" in response.content
    response = client.post(reverse("exception_edit", args=[signed.pk]), edit_data(signed))
    assert response.status_code == 200 and b"at most 10 days" in response.content
    signed.refresh_from_db()
    assert signed.state == ExceptionState.SIGNED


def test_a_decided_reviews_exception_cannot_be_edited(client, review, architect, member, lead, signed):
    score_all(review, architect)
    services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=30)
    )
    client.force_login(member)
    response = client.post(
        reverse("exception_edit", args=[signed.pk]), edit_data(signed, justification="Late")
    )
    assert response.status_code == 200 and FROZEN in response.content.decode()
    signed.refresh_from_db()
    assert signed.state == ExceptionState.SIGNED


def test_the_detail_page_shows_the_signature_and_whether_the_terms_still_match(client, signed, auditor):
    client.force_login(auditor)
    body = client.get(reverse("exception_detail", args=[signed.pk])).content.decode()
    assert signed.signed_digest in body and "match what was signed" in body
    assert "counts for the gate" in body
    assert reverse("exception_edit", args=[signed.pk]) not in body  # the auditor changes nothing
    # Someone with database access changes the terms behind the application's back.
    RiskException.objects.filter(pk=signed.pk).update(justification="Quietly changed")
    body = client.get(reverse("exception_detail", args=[signed.pk])).content.decode()
    assert "differ from what was signed" in body


@pytest.mark.parametrize("name", ["exception_edit", "exception_detail"])
def test_exception_pages_access(client, signed, member, auditor, outsider, name):
    url = reverse(name, args=[signed.pk])
    client.force_login(member)
    assert client.get(url).status_code == 200
    client.force_login(auditor)
    assert client.get(url).status_code == (403 if name == "exception_edit" else 200)
    client.force_login(outsider)
    response = client.get(url)
    assert response.status_code == 404 and b"Backfill" not in response.content
    client.logout()
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


@pytest.mark.parametrize("person", ["auditor", "outsider", "anonymous"])
def test_exception_edit_posts_are_refused_and_change_nothing(client, signed, auditor, outsider, person):
    expected = {"auditor": 403, "outsider": 404, "anonymous": 302}[person]
    if person != "anonymous":
        client.force_login(auditor if person == "auditor" else outsider)
    response = client.post(reverse("exception_edit", args=[signed.pk]), edit_data(signed, justification="X"))
    assert response.status_code == expected
    signed.refresh_from_db()
    assert signed.state == ExceptionState.SIGNED and signed.justification != "X"


def test_the_leads_queue_leaves_out_their_own_edits_and_lapsed_requests(client, review, member, lead):
    theirs = request(add_p1(review, member, "Backfill without batches"), member)
    edited = edit(
        request(add_p1(review, member, "Lock-taking migration"), member), lead, justification="Mine"
    )
    lapsed = request(add_p1(review, member, "Long transaction"), member)
    lapse(lapsed)
    client.force_login(lead)
    body = client.get(reverse("exception_queue")).content.decode()
    assert reverse("exception_decide", args=[theirs.pk, "sign"]) in body
    assert reverse("exception_decide", args=[edited.pk, "sign"]) not in body
    assert "Long transaction" not in body


def test_the_leads_queue_lists_signed_exceptions_expiring_within_14_days(
    client, review, member, lead, second_lead
):
    soon = services.sign_exception(
        exception=request(add_p1(review, member, "Soon"), member, days=5), actor=lead
    )
    services.sign_exception(exception=request(add_p1(review, member, "Later"), member, days=40), actor=lead)
    client.force_login(second_lead)
    body = client.get(reverse("exception_queue")).content.decode()
    assert "lapse within 14 days" in body
    assert reverse("exception_detail", args=[soon.pk]) in body and "Later" not in body


def test_exception_queue_queries_do_not_grow(
    client, review, member, lead, second_lead, django_assert_max_num_queries
):
    for i in range(3):
        request(add_p1(review, member, f"Req {i}"), member)
        services.sign_exception(
            exception=request(add_p1(review, member, f"Sig {i}"), member, days=3), actor=lead
        )
    client.force_login(second_lead)
    with django_assert_max_num_queries(11):  # 8, the loosenings and the score raises awaiting confirmation
        assert client.get(reverse("exception_queue")).status_code == 200


def test_the_review_page_links_each_exception_to_its_detail_and_edit(client, signed, member):
    client.force_login(member)
    body = client.get(signed.finding.review.get_absolute_url()).content.decode()
    assert reverse("exception_detail", args=[signed.pk]) in body
    assert reverse("exception_edit", args=[signed.pk]) in body
