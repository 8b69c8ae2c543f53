"""The decision record: what it holds, its canonical form and digest, the chain of a system's decisions,
rows that PostgreSQL refuses to change, and verification (page-independent: records, the command)."""

import hashlib
import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.utils import InternalError, ProgrammingError
from django.utils import timezone

from evidence import services as evidence_services
from reviews import charts, records, services
from reviews.models import Decision, DecisionDocument, Level
from tests.factories import ReviewFactory, SystemFactory, answer_critical, attach, category, score_all

pytestmark = pytest.mark.django_db


def decide(review, actor, days=90, notes=""):
    return services.record_decision(
        review=review, actor=actor, next_review=timezone.localdate() + timedelta(days=days), notes=notes
    )


def build_decided(review, *, architect, member, lead):
    """A review with everything a record holds: scores with evidence and owners, a restore drill and a
    runbook, a P0 (a blocker), a P1 on a signed exception, a P2 with a dated owner, a P3, a probe run."""
    score_all(review, member, owner=member)
    now = timezone.now()
    evidence_services.add_restore_drill(
        review=review,
        actor=member,
        title="Q4 restore drill",
        database="ledger",
        backup_source="pgBackRest S3",
        target_environment="staging",
        requested_recovery_point=now - timedelta(hours=2),
        actual_recovery_point=now - timedelta(hours=2, minutes=3),
        started_at=now - timedelta(minutes=50),
        ended_at=now - timedelta(minutes=7),
        rpo_target_minutes=5,
        rto_target_minutes=60,
        validation_queries="select count(*) from posting",
        validation_passed=True,
    )
    evidence_services.add_runbook(
        review=review, actor=member, name="Failover runbook", owner="mia", last_tested=timezone.localdate()
    )
    p0 = services.add_finding(
        review=review,
        category=category(review, "security"),
        title="Application connects as superuser",
        level=Level.P0,
        actor=member,
    )
    p1 = services.add_finding(
        review=review,
        category=category(review, "migration"),
        title="Backfill without batches",
        level=Level.P1,
        actor=member,
        owner=member,
        due_date=timezone.localdate() + timedelta(days=14),
    )
    exc = services.request_exception(
        finding=p1,
        justification="Low volume: ≤ 10k rows",
        compensating_control="Pager alert on lock waits",
        expires_at=now + timedelta(days=20),
        actor=member,
    )
    exc = services.sign_exception(exception=exc, actor=lead)
    p2 = services.add_finding(
        review=review,
        category=category(review, "observability"),
        title="No replication lag alert",
        level=Level.P2,
        actor=member,
        owner=member,
        due_date=timezone.localdate() + timedelta(days=30),
    )
    services.add_finding(
        review=review,
        category=category(review, "runbooks"),
        title="No forbidden actions",
        level="P3",
        actor=member,
    )
    run = probe_run(review, member)
    decision = decide(review, architect, notes="Fix the superuser first.")
    return SimpleNamespace(review=review, decision=decision, p0=p0, p1=p1, p2=p2, exception=exc, run=run)


def probe_run(review, actor):
    """A finished probe run of the review, with one passing and one failing result (the probes app's
    models, created directly: the engine is tested in tests/probes)."""
    from probes.models import ProbeResult, ProbeRun, ProbeTarget

    target = ProbeTarget.objects.create(
        system=review.system,
        name="ledger-prod",
        host="db.internal",
        dbname="ledger",
        db_user="probe",
        password_encrypted="gAAAA-not-a-real-token",
    )
    now = timezone.now()
    run = ProbeRun.objects.create(
        target=target,
        review=review,
        state="done",
        started_by=actor,
        started_at=now - timedelta(minutes=2),
        finished_at=now - timedelta(minutes=1),
        progress_done=2,
        progress_total=2,
        applied_to_review=True,
    )
    ProbeResult.objects.create(
        run=run,
        probe_id="security.app-superuser",
        title="App role is superuser",
        category="security",
        severity="P0",
        status="fail",
        summary="Role app is a superuser",
        duration_ms=3.25,
    )
    ProbeResult.objects.create(
        run=run,
        probe_id="schema.no-pk",
        title="Tables without primary key",
        category="schema",
        severity="P1",
        status="pass",
        summary="Every table has a primary key",
        duration_ms=1.5,
    )
    return run


@pytest.fixture
def decided(review, architect, member, lead):
    return build_decided(review, architect=architect, member=member, lead=lead)


def walk(value, path=""):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from walk(item, f"{path}.{i}")


# --- what the record holds --------------------------------------------------------------------------


def test_the_record_holds_everything_the_seed_asks_of_a_decision(decided, architect, member, lead):
    record = decided.decision.record
    assert record["schema"] == "readiness.decision/7"
    assert record["system"] == {
        "slug": "ledger",
        "name": "Ledger",
        "team": "Payments",
        "source_of_truth": decided.review.system.source_of_truth,
    }
    assert record["review"]["release_scope"] == "Ledger 3.0" and record["review"]["chair"] == "alice"
    assert record["outcome"] == "BLOCKED"
    assert record["blockers"] == ["Open P0 blocker: Application connects as superuser"]
    assert record["approver"] == "alice" and record["notes"] == "Fix the superuser first."
    assert record["next_review"] == decided.decision.next_review.isoformat()
    assert record["recorded_at"] == decided.decision.recorded_at.isoformat()

    people = {p["username"]: p for p in record["participants"]}
    assert set(people) == {"alice", "mia", "linus"}
    assert people["alice"]["took_part_as"] == ["chair", "approver"]
    assert people["linus"]["team_role"] == "lead" and people["linus"]["actions"] == 1  # the signature
    assert people["mia"]["name"] == member.get_full_name()

    (exc,) = record["exceptions"]
    assert exc["finding"] == "Backfill without batches" and exc["signer"] == "linus"
    assert exc["requested_by"] == "mia" and exc["expires_at"] == decided.exception.expires_at.isoformat()
    assert exc["signed_at"] == decided.exception.signed_at.isoformat()
    assert exc["signed_digest"] == decided.exception.signed_digest

    follow = {f["title"]: f for f in record["follow_up"]}
    assert set(follow) == {"Backfill without batches", "No replication lag alert", "No forbidden actions"}
    assert follow["No replication lag alert"]["owner"] == "mia"
    assert follow["No replication lag alert"]["due_date"] == decided.p2.due_date.isoformat()
    assert [f["level"] for f in record["findings"]] == ["P0", "P1", "P2", "P3"]
    assert record["findings"][1]["exceptions"][0]["state"] == "signed"

    backup = next(row for row in record["scorecard"] if row["category"] == "backup")
    assert backup["score"] == 2 and backup["owner"] == "mia"
    kinds = {e["kind"]: e for e in backup["evidence"]}
    assert kinds["restore_drill"]["restore_drill"]["rpo_achieved_seconds"] == 180
    assert kinds["restore_drill"]["restore_drill"]["passed"] is True
    assert len(record["scorecard"]) == 14
    assert record["evidence_count"] == 16

    (run,) = record["probe_runs"]
    assert run["target"] == "ledger-prod" and run["state"] == "done" and run["applied_to_review"] is True
    assert run["counts"] == {"fail": 1, "pass": 1}
    assert [r["probe"] for r in run["not_passed"]] == ["security.app-superuser"]


def test_the_record_never_carries_a_probe_targets_connection_string(decided):
    text = services.canonical_json(decided.decision.record).decode()
    assert "gAAAA" not in text and "probe@db.internal" not in text and "db.internal" not in text


def test_the_record_is_plain_json_without_floats(decided):
    for path, value in walk(decided.decision.record):
        assert type(value) in (dict, list, str, int, bool, type(None)), path


def test_the_digest_is_sha256_of_canonical_json_and_survives_the_database(decided):
    stored = Decision.objects.get(pk=decided.decision.pk)  # the record back from jsonb
    canonical = json.dumps(stored.record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(canonical).hexdigest() == stored.digest
    assert "≤ 10k rows".encode() in canonical  # UTF-8, not \u escapes


def test_canonical_json_is_sorted_compact_utf8():
    assert services.canonical_json({"b": [1, {"d": None, "c": True}], "a": "é"}) == (
        '{"a":"é","b":[1,{"c":true,"d":null}]}'.encode()
    )


def test_the_decision_columns_repeat_the_record(decided):
    d = decided.decision
    assert d.blockers == d.record["blockers"] and d.exceptions == d.record["exceptions"]
    assert d.follow_up == d.record["follow_up"] and d.outcome == d.record["outcome"]


def test_probe_runs_are_empty_without_the_probes_app(review, monkeypatch):
    from reviews import selectors

    def missing(app_label, model_name):
        raise LookupError(app_label)

    monkeypatch.setattr(selectors.apps, "get_model", missing)
    assert selectors.probe_runs(review, until=timezone.now()) == []


def test_recording_a_decision_takes_a_fixed_number_of_queries(
    review, architect, member, lead, django_assert_max_num_queries
):
    score_all(review, member)
    for i in range(6):
        f = services.add_finding(
            review=review, category=category(review, "migration"), title=f"P1 {i}", level="P1", actor=member
        )
        services.sign_exception(
            exception=services.request_exception(
                finding=f,
                justification="j",
                compensating_control="c",
                expires_at=timezone.now() + timedelta(days=5),
                actor=member,
            ),
            actor=lead,
        )
        attach(review, "backup", member, title=f"extra {i}")
    probe_run(review, member)
    # 40, + the /5 sections: loosening chain, carried findings, exceptions and evidence, runbooks' tests
    with django_assert_max_num_queries(45):
        decide(review, architect)


# --- the chain --------------------------------------------------------------------------------------


def test_each_decision_links_to_its_systems_previous_one(review, system, architect, member):
    score_all(review, architect)
    first = decide(review, architect)
    chain = [first]
    for n in range(2):
        nxt = services.start_review(
            system=system,
            release_scope=f"Ledger 3.{n + 1}",
            actor=architect,
            schema_changing=True,
            production_traffic=True,
        )
        score_all(nxt, architect, value=3)
        chain.append(decide(nxt, architect))
    other_system = SystemFactory(team=system.team, name="Search", slug="search")
    elsewhere = ReviewFactory(system=other_system, created_by=architect, chair=architect)
    score_all(elsewhere, architect)
    unrelated = decide(elsewhere, architect)

    assert first.previous_digest == "" and first.record["supersedes"] is None
    for before, after in zip(chain, chain[1:], strict=False):
        assert after.previous_digest == after.record["previous_digest"] == before.digest
        assert after.record["supersedes"]["decision_id"] == before.pk
        assert records.previous_decision(after) == before
    assert unrelated.previous_digest == ""  # a chain per system
    for decision in [*chain, unrelated]:
        assert records.verify_stored(decision).matches


def test_a_record_freezes_the_scores_and_outcome_of_the_systems_earlier_decisions(review, system, architect):
    score_all(review, architect)
    first = decide(review, architect)
    second_review = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    score_all(second_review, architect, value=3)
    services.set_score(
        review=second_review, category=category(second_review, "capacity"), score=1, actor=architect
    )
    second = decide(second_review, architect)
    third_review = services.start_review(
        system=system,
        release_scope="Ledger 3.2",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    score_all(third_review, architect)
    third = decide(third_review, architect)

    assert first.record["history"] == []
    history = third.record["history"]
    assert [h["decision_id"] for h in history] == [first.pk, second.pk]  # oldest first, not itself
    assert [h["digest"] for h in history] == [first.digest, second.digest]
    assert [h["outcome"] for h in history] == [first.outcome, second.outcome]
    scores = {row["category"]: row["score"] for row in history[1]["scorecard"]}
    assert len(scores) == 14 and scores["capacity"] == 1 and scores["backup"] == 3
    assert set(history[1]["scorecard"][0]) == {"category", "number", "name", "score", "effective_score"}
    # Frozen: the digest covers it, and a changed earlier score is caught.
    assert records.verify_stored(third).matches
    lowered = [
        {**row, "score": 0} if row["category"] == "capacity" else row for row in history[1]["scorecard"]
    ]
    forged = {**third.record, "history": [history[0], {**history[1], "scorecard": lowered}]}
    assert records.record_digest(forged) != third.digest


def test_the_database_refuses_a_fork_in_the_chain(review, system, architect):
    score_all(review, architect)
    first = decide(review, architect)
    second = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            review=second,
            system=system,
            outcome="APPROVED",
            next_review=first.next_review,
            approver=architect,
            record={},
            digest="f" * 64,
            previous_digest=first.previous_digest,
        )


# --- rows cannot be changed, even with raw SQL ------------------------------------------------------


@pytest.mark.parametrize("table", ["reviews_decision", "reviews_auditevent", "reviews_decisiondocument"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}"])
def test_postgres_refuses_raw_changes_to_records(review, architect, table, statement):
    score_all(review, architect)
    decision = decide(review, architect)
    DecisionDocument.objects.create(
        decision=decision, pdf=b"%PDF-1.7", sha256="0" * 64, size=8, pages=1, renderer="test", render_ms=1
    )
    with (
        pytest.raises((InternalError, ProgrammingError)) as err,
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute(statement.format(t=table))
    assert "append-only" in str(err.value)


def test_a_stored_pdf_refuses_change_in_the_model_layer(review, architect):
    from reviews.models import AppendOnlyError

    score_all(review, architect)
    document = DecisionDocument.objects.create(
        decision=decide(review, architect),
        pdf=b"%PDF",
        sha256="0" * 64,
        size=4,
        pages=1,
        renderer="t",
        render_ms=1,
    )
    document.pdf = b"%PDF-other"
    with pytest.raises(AppendOnlyError):
        document.save()
    with pytest.raises(AppendOnlyError):
        DecisionDocument.objects.all().delete()


# --- verification -----------------------------------------------------------------------------------


def download(decision) -> dict:
    """The JSON file as the download gives it."""
    return json.loads(
        json.dumps({"digest": decision.digest, "record": decision.record}, sort_keys=True, indent=2)
    )


def test_an_intact_record_matches(decided):
    body = download(decided.decision)
    result = records.verify_given(body["record"], claimed=body["digest"], decision=decided.decision)
    assert result.matches and result.differences == [] and result.chain_ok
    assert result.lines()[0] == f"matches: SHA-256 {decided.decision.digest}"


def test_verification_detects_a_one_character_change_and_names_the_field(decided):
    body = download(decided.decision)
    index = next(i for i, row in enumerate(body["record"]["scorecard"]) if row["category"] == "backup")
    evidence = body["record"]["scorecard"][index]["evidence"]
    j = next(k for k, e in enumerate(evidence) if e["kind"] == "link")
    evidence[j]["title"] = "backup prooF"  # one character

    result = records.verify_given(body["record"], claimed=body["digest"], decision=decided.decision)

    assert not result.matches
    assert [(d.path, d.stored, d.given) for d in result.differences] == [
        (f"scorecard.{index}.evidence.{j}.title", "backup proof", "backup prooF")
    ]
    assert "the digest written in the file is not the digest of the record in it" in result.problems
    assert f'  scorecard.{index}.evidence.{j}.title: "backup proof" → "backup prooF"' in result.lines()


def test_a_forger_who_recomputes_the_digest_is_still_caught(decided, review):
    record = download(decided.decision)["record"]
    record["outcome"] = "APPROVED"
    record["blockers"] = []
    forged = records.record_digest(record)
    found = records.find_stored(record, forged, Decision.objects.all())
    assert found == decided.decision  # found by the review it claims to decide
    result = records.verify_given(record, claimed=forged, decision=found)
    assert not result.matches
    assert {d.path for d in result.differences} == {"outcome", "blockers.0"}
    blockers = next(d for d in result.differences if d.path == "blockers.0")
    assert blockers.given is records.MISSING and blockers.given_text == "(absent)"


def test_diff_reports_types_missing_keys_and_list_lengths():
    stored = {"a": 1, "b": [1, 2], "c": {"d": "x"}, "e": True}
    given = {"a": 1.0, "b": [1], "c": {"d": "x", "f": None}, "e": 1}
    assert [str(d) for d in records.diff(stored, given)] == [
        "a: 1 → 1.0",
        "b.1: 2 → (absent)",
        "c.f: (absent) → null",
        "e: true → 1",
    ]
    assert records.diff(stored, json.loads(json.dumps(stored))) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe", "not a JSON file"),
        (b"[1, 2]", "JSON object"),
        (b'{"hello": "world"}', "not a decision record"),
        (b'{"record": {}, "digest": 5}', "not a string"),
    ],
)
def test_files_that_are_not_records_are_refused_with_a_reason(content, message):
    with pytest.raises(records.RecordError, match=message):
        records.parse_record_file(content)


def test_a_bare_record_is_accepted(decided):
    record, claimed = records.parse_record_file(json.dumps(decided.decision.record).encode())
    assert claimed is None and records.verify_given(record, claimed=None, decision=decided.decision).matches


# --- the command ------------------------------------------------------------------------------------


def run_command(*args) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("verify_decision", *args, stdout=out)
    except CommandError as err:
        return err.returncode, out.getvalue() + str(err)
    return 0, out.getvalue()


def test_the_command_says_matches_for_a_stored_decision_and_an_intact_file(decided, tmp_path):
    code, out = run_command(str(decided.decision.pk))
    assert code == 0 and f"matches: SHA-256 {decided.decision.digest}" in out
    assert "chain: links to the previous decision" in out
    path = tmp_path / "record.json"
    path.write_text(json.dumps(download(decided.decision), ensure_ascii=False), encoding="utf-8")
    code, out = run_command(str(decided.decision.pk), "--file", str(path))
    assert code == 0 and out.count("matches: SHA-256") == 2


def test_the_command_lists_exactly_which_fields_differ(decided, tmp_path):
    body = download(decided.decision)
    body["record"]["next_review"] = body["record"]["next_review"][:-1] + "9"
    body["record"]["exceptions"][0]["signer"] = "mallory"
    path = tmp_path / "record.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    code, out = run_command(str(decided.decision.pk), "--file", str(path))
    assert code == 1 and "DOES NOT MATCH" in out
    assert '  exceptions.0.signer: "linus" → "mallory"' in out
    assert (
        f'  next_review: "{decided.decision.record["next_review"]}" → "{body["record"]["next_review"]}"'
        in out
    )
    assert "2 field(s) differ" in out


def test_the_command_catches_a_record_changed_in_the_database_behind_the_triggers(decided):
    """A superuser of the database can disable the trigger; the digest still tells."""
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")  # triggers off, as a superuser may
        cur.execute(
            "UPDATE reviews_decision SET record = jsonb_set(record, '{outcome}', %s::jsonb) WHERE id = %s",
            ['"APPROVED"', decided.decision.pk],
        )
        cur.execute("SET LOCAL session_replication_role = origin")
    code, out = run_command(str(decided.decision.pk))
    assert code == 1 and "DOES NOT MATCH" in out
    assert "the record was altered" in out
    assert 'column outcome is "BLOCKED" but the record says "APPROVED"' in out


# --- the three places a decision is written: the record, its audit event, its PDF -------------------


FAKE_PDF = b"%PDF-1.7 the stored rendering"


def stored_pdf(decision) -> DecisionDocument:
    """A stored PDF with its decision.pdf audit event, as store_decision_pdf leaves them (without the
    rendering, which these tests do not need: they compare hashes)."""
    from reviews import audit

    sha = hashlib.sha256(FAKE_PDF).hexdigest()
    document = DecisionDocument.objects.create(
        decision=decision, pdf=FAKE_PDF, sha256=sha, size=len(FAKE_PDF), pages=1, renderer="test", render_ms=1
    )
    audit.record(
        actor=None, action="decision.pdf", obj=decision, review=decision.review, after={"sha256": sha}
    )
    return document


def behind_the_triggers(sql: str, params: list) -> None:
    """Change an append-only row as a database owner may: with its trigger disabled."""
    table = next(word for word in sql.split() if word.startswith("reviews_"))
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks: ALTER needs none
        cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        cur.execute(sql, params)
        cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")


def said(result) -> str:
    return " ".join(result.problems + [source.detail for source in result.sources])


def verdicts(result) -> dict:
    return {source.name: source.agrees for source in result.sources}


def test_an_intact_decision_agrees_in_record_audit_trail_and_pdf(decided):
    stored_pdf(decided.decision)
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert result.matches and verdicts(result) == {"record": True, "audit trail": True, "PDF": True}
    assert result.disagreeing == ""
    code, out = run_command(str(decided.decision.pk))
    assert code == 0 and "record: agrees" in out and "audit trail: agrees" in out and "PDF: agrees" in out


def test_a_pdf_not_yet_rendered_is_not_a_disagreement(decided):
    result = records.verify_stored(decided.decision)
    assert result.matches and verdicts(result)["PDF"] is None


def test_an_altered_record_is_named_as_the_one_that_disagrees(decided):
    stored_pdf(decided.decision)
    behind_the_triggers(
        "UPDATE reviews_decision SET record = jsonb_set(record, '{notes}', %s::jsonb) WHERE id = %s",
        ['"changed later"', decided.decision.pk],
    )
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert not result.matches
    assert verdicts(result) == {"record": False, "audit trail": True, "PDF": True}
    assert result.disagreeing == "record disagrees with audit trail and PDF."
    code, out = run_command(str(decided.decision.pk))
    assert code == 1 and "record: DISAGREES" in out and "the record was altered" in out


def test_a_record_and_digest_forged_together_are_caught_by_the_audit_trail(decided):
    record = dict(decided.decision.record, notes="forged with its digest")
    behind_the_triggers(
        "UPDATE reviews_decision SET record = %s::jsonb, digest = %s WHERE id = %s",
        [json.dumps(record), records.record_digest(record), decided.decision.pk],
    )
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert not result.matches
    assert verdicts(result) == {"record": True, "audit trail": False, "PDF": None}
    assert "the record and its digest were replaced together" in said(result)


def test_an_altered_digest_column_is_named(decided):
    behind_the_triggers(
        "UPDATE reviews_decision SET digest = %s WHERE id = %s", ["0" * 64, decided.decision.pk]
    )
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert verdicts(result)["record"] is False and verdicts(result)["audit trail"] is True
    assert "the record's digest column was altered" in said(result)


def test_an_altered_audit_event_is_named_as_the_one_that_disagrees(decided):
    stored_pdf(decided.decision)
    behind_the_triggers(
        "UPDATE reviews_auditevent SET after = jsonb_set(after, '{digest}', %s::jsonb) "
        "WHERE action = 'decision.record' AND object_id = %s",
        [json.dumps("f" * 64), str(decided.decision.pk)],
    )
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert verdicts(result) == {"record": True, "audit trail": False, "PDF": True}
    assert result.disagreeing == "audit trail disagrees with record and PDF."
    code, out = run_command(str(decided.decision.pk))
    assert code == 1 and "audit trail: DISAGREES" in out


def test_a_deleted_audit_event_is_named(decided):
    behind_the_triggers(
        "DELETE FROM reviews_auditevent WHERE action = 'decision.record' AND object_id = %s",
        [str(decided.decision.pk)],
    )
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert verdicts(result)["audit trail"] is False and not result.matches
    assert "has no decision.record event" in said(result)


def test_an_altered_pdf_is_named_as_the_one_that_disagrees(decided):
    document = stored_pdf(decided.decision)
    behind_the_triggers(
        "UPDATE reviews_decisiondocument SET pdf = %s WHERE id = %s", [b"%PDF-1.7 swapped", document.pk]
    )
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert verdicts(result) == {"record": True, "audit trail": True, "PDF": False}
    assert result.disagreeing == "PDF disagrees with record and audit trail."
    assert "the PDF file was altered" in said(result)


def test_a_pdf_replaced_with_its_hash_is_caught_by_the_audit_trail(decided):
    document = stored_pdf(decided.decision)
    swapped = b"%PDF-1.7 swapped"
    behind_the_triggers(
        "UPDATE reviews_decisiondocument SET pdf = %s, sha256 = %s WHERE id = %s",
        [swapped, hashlib.sha256(swapped).hexdigest(), document.pk],
    )
    result = records.verify_stored(Decision.objects.get(pk=decided.decision.pk))
    assert verdicts(result)["PDF"] is False
    assert "the PDF and its hash were replaced together" in said(result)


def test_the_command_refuses_an_unknown_decision_and_an_unreadable_file(decided, tmp_path):
    code, out = run_command("999999")
    assert code == 1 and "There is no decision 999999" in out
    code, out = run_command(str(decided.decision.pk), "--file", str(tmp_path / "missing.json"))
    assert code == 1 and "Cannot read" in out


def test_the_command_runs_from_the_shell_and_exits_1_on_a_difference(decided, tmp_path):
    body = download(decided.decision)
    body["record"]["notes"] = "Fix the superuser first!"
    path = tmp_path / "record.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    env = {"DJANGO_SETTINGS_MODULE": "readiness.settings_test", "PATH": "/usr/bin:/bin"}
    from django.conf import settings

    db = settings.DATABASES["default"]
    env["DATABASE_URL"] = (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{connection.settings_dict['NAME']}"
    )
    # The test's rows are in an open transaction: the subprocess sees only what is committed, so this
    # asks about a decision it cannot see and checks the exit status and message of the real command.
    done = subprocess.run(
        [sys.executable, "manage.py", "verify_decision", str(decided.decision.pk), "--file", str(path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"There is no decision {decided.decision.pk}" in done.stderr


# --- the chart --------------------------------------------------------------------------------------


def test_the_score_chart_is_svg_with_one_bar_per_category(decided):
    svg = charts.score_chart_svg(
        decided.decision.record["scorecard"],
        minimums=charts.minimums_from_reasons(decided.decision.record["reasons"]),
    )
    root = ElementTree.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert sum(1 for t in texts if t and t[0].isdigit() and ". " in t) == 14
    assert "1. Ownership & authority" in texts
    ticks = [
        line for line in root.iter("{http://www.w3.org/2000/svg}line") if line.get("stroke-width") == "2.5"
    ]
    assert len(ticks) == 1 + 4  # the legend, backup, security, migration (schema-changing), observability


def test_the_chart_escapes_text_and_shows_uncounted_scores():
    svg = charts.bar_chart_svg(
        [
            charts.Bar("<script>alert(1)</script>", 3, counted=1),
            charts.Bar("Unscored & proud", None),
            charts.Bar("Zero", 0),
        ],
        title='Say "hi"',
    )
    ElementTree.fromstring(svg)  # well-formed
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "3→1" in svg and "not scored" in svg and "&amp; proud" in svg


def test_the_charts_default_colours_are_the_apps_palette():
    assert dict(charts.SCORE_COLOURS) == records.score_colours(records.palette())


def test_history_is_carried_from_the_previous_record_and_kept_to_its_limit(review, system, architect):
    from reviews.selectors import decision_history

    chain = []
    for n in range(3):
        nxt = (
            review
            if n == 0
            else services.start_review(
                system=system,
                release_scope=f"3.{n}",
                actor=architect,
                schema_changing=True,
                production_traffic=True,
            )
        )
        score_all(nxt, architect, value=2 + n % 2)
        chain.append(decide(nxt, architect))
    now = timezone.now()
    carried = decision_history(system.pk, before=now, previous=chain[-1])
    assert carried == decision_history(system.pk, before=now)  # the same as reading every record
    assert [h["decision_id"] for h in carried] == [d.pk for d in chain]
    trimmed = decision_history(system.pk, before=now, previous=chain[-1], limit=2)
    assert [h["decision_id"] for h in trimmed] == [chain[1].pk, chain[2].pk]


# --- decisions taken before the installation (the demo's history) ------------------------------------


def test_imported_decisions_are_judged_and_chained_as_of_their_time(review, system, architect):
    score_all(review, architect)
    when = timezone.now() - timedelta(days=200)
    first = services.import_decision(
        review=review, actor=architect, next_review=(when + timedelta(days=90)).date(), recorded_at=when
    )
    later = services.start_review(
        system=system,
        release_scope="Ledger 3.1",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    score_all(later, architect, value=3)
    second = decide(later, architect)

    assert first.recorded_at == when and first.record["recorded_at"] == when.isoformat()
    assert second.previous_digest == first.digest and second.record["history"][0]["decision_id"] == first.pk
    assert records.verify_stored(first).matches and records.verify_stored(second).matches
    actions = list(
        review.audit_events.filter(action__startswith="decision.").values_list("action", flat=True)
    )
    assert actions == ["decision.import"]


def test_an_import_in_the_future_or_before_the_newest_decision_changes_nothing(review, system, architect):
    score_all(review, architect)
    newest = decide(review, architect)
    older = services.start_review(
        system=system,
        release_scope="Ledger 2.9",
        actor=architect,
        schema_changing=True,
        production_traffic=True,
    )
    score_all(older, architect)
    for when, field in (
        (timezone.now() + timedelta(hours=1), "recorded_at"),
        (newest.recorded_at - timedelta(days=1), "recorded_at"),
    ):
        with pytest.raises(services.ServiceError) as refused:
            services.import_decision(
                review=older,
                actor=architect,
                next_review=timezone.localdate() + timedelta(days=9),
                recorded_at=when,
            )
        assert field in refused.value.message_dict
    older.refresh_from_db()
    assert older.state != "decided" and Decision.objects.filter(system=system).count() == 1


def test_an_imported_decision_judges_evidence_freshness_as_of_its_time(review, architect, member):
    from evidence.models import Evidence
    from reviews.selectors import review_gate

    answer_critical(review, member)
    for cat in review.catalogue.categories.exclude(code="backup"):
        attach(review, cat.code, member)
        services.set_score(review=review, category=cat, score=2, actor=member)
    Evidence.objects.create(
        review=review,
        category=category(review, "backup"),
        kind="restore_drill",
        title="Q2 restore drill",
        observed_at=timezone.now() - timedelta(days=120),  # restore drills go stale after 90 days
        added_by=member,
    )
    services.set_score(review=review, category=category(review, "backup"), score=2, actor=member)
    assert review_gate(review).outcome == "BLOCKED"  # today the drill is stale: backup counts as 1
    decision = services.import_decision(
        review=review,
        actor=architect,
        next_review=timezone.localdate() + timedelta(days=30),
        recorded_at=timezone.now() - timedelta(days=100),  # the drill was 20 days old
    )
    assert decision.outcome == "APPROVED"


def test_a_score_counted_lower_says_why_in_the_record_and_its_pdf(review, architect):
    """A 3 whose evidence shows no runbook nor test counts as 2: the record and the PDF give that reason,
    not "no evidence"."""
    from django.template.loader import render_to_string

    score_all(review, architect, value=2)
    current = review.scores.get(category__code="ownership")
    services.set_score(
        review=review,
        category=category(review, "ownership"),
        score=3,
        actor=architect,
        owner=architect,
        version=current.version,
    )
    decision = services.record_decision(
        review=review, actor=architect, next_review=timezone.localdate() + timedelta(days=90)
    )
    row = next(r for r in decision.record["scorecard"] if r["category"] == "ownership")
    assert (row["score"], row["effective_score"]) == (3, 2)
    assert row["counted_down"] and "runbook" in " ".join(row["counted_down"])
    html = render_to_string(
        "records/decision.html", records.pdf_context(decision.record, digest=decision.digest)
    )
    assert "Counts as 2: " + row["counted_down"][0] in html
