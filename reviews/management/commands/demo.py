"""`python manage.py demo`: a realistic demo installation, safe to run again.

Teams, users and memberships are created directly; every change of the review domain (systems, reviews,
evidence, scores, answers, findings, claims, exceptions, decisions) goes through the services with the
person who would really make it, so the audit trail reads like a real history. A second run finds what
the first created (systems by team and name, reviews by system and release scope) and changes nothing.
"""

from __future__ import annotations

import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from evidence import services as evidence_services
from evidence import typed
from evidence.models import Evidence
from probes import conninfo, engine
from probes import services as probe_services
from probes.models import ProbeTarget
from reviews import policy, score_raise, services
from reviews.models import (
    Category,
    CategoryScore,
    ChecklistItem,
    Finding,
    FindingStatus,
    InstallationAuditor,
    Level,
    Membership,
    Review,
    Role,
    System,
    Team,
)

from . import _demo_ledger as ledger_data
from ._demo_ledger import GIT, GRAFANA, WIKI

DEFAULT_URL = "http://127.0.0.1:{port}/"

TEAMS = (("payments", "Payments"), ("identity", "Identity"))

# The Ledger's decisions before this installation existed, oldest first, imported so that its history
# has a shape: (release scope, days ago, schema-changing, scores in catalogue order, P0 left open, notes).
LEDGER_HISTORY = (
    (
        "Ledger 2.0 — first production release",
        330,
        True,
        (2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0),
        "Application connects as superuser",
        "Blocked: the application role is a superuser and nothing is backed up with a tested restore.",
    ),
    (
        "Ledger 2.1 — read replicas",
        240,
        False,
        (3, 2, 2, 2, 2, 2, 1, 2, 2, 2, 1, 1, 2, 1),
        None,
        "Blocked on backup: no restore drill yet.",
    ),
    (
        "Ledger 2.2 — partitioned postings",
        150,
        True,
        (3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2),
        None,
        "Approved after the first restore drill.",
    ),
)

# username, first name, last name, [(team slug, role)]
PEOPLE = (
    ("ada", "Ada", "Lovelace", [("payments", Role.ARCHITECT)]),
    ("linus", "Linus", "Pauling", [("payments", Role.LEAD)]),
    ("mia", "Mia", "Hamm", [("payments", Role.MEMBER)]),
    ("audrey", "Audrey", "Tang", [("payments", Role.AUDITOR), ("identity", Role.AUDITOR)]),
    ("ivan", "Ivan", "Sutherland", [("identity", Role.LEAD)]),
    ("ines", "Ines", "Moreno", [("identity", Role.ARCHITECT)]),
)


def password_for(username: str) -> str:
    return f"{username}-demo-2026"


LEDGER_SOURCE_OF_TRUTH = """\
Authoritative for: accounts (holder, currency, status), journal entries and their postings (append-only; \
a correction is a reversing entry, never an edit), and account balances (maintained in the posting \
transaction; a balance row is the sum of its postings).
Derived, never authoritative: the account search index (fed from the outbox, < 30 s fresh, full reindex \
from the ledger) and the finance warehouse tables (CDC ETL, T+1, reload by date range).
Writes: only the ledger-api service writes; support corrections go through the correction workflow."""

PAYOUTS_SOURCE_OF_TRUTH = """\
Authoritative for: payout instructions, payout batches and their bank submission state.
Derived: the amounts to pay come from Ledger balances (read through the ledger-api, never the ledger \
database); the payout status page is a projection of the bank callbacks."""

DIRECTORY_SOURCE_OF_TRUTH = """\
Authoritative for: user accounts, credentials (password hashes, passkeys), sessions and group membership.
Derived: the HR feed is imported nightly and never edited here; the audit search index is a projection \
of the directory audit log."""

VALIDATION_QUERIES = """\
-- Row counts for critical tables
select 'account' as table_name, count(*) from account
union all
select 'journal_entry', count(*) from journal_entry
union all
select 'posting', count(*) from posting;

-- Business invariant: every journal entry balances, per currency
select journal_entry_id, currency
from posting
group by journal_entry_id, currency
having sum(amount_minor) <> 0;

-- Audit completeness: every journal entry has its audit event
select je.id
from journal_entry je
left join ledger_audit_event ae
  on ae.entity_type = 'journal_entry'
 and ae.entity_id = je.id
where ae.id is null
limit 100;"""


class Command(BaseCommand):
    help = (
        "Create a realistic demo (teams, people, systems, reviews). Safe to run again: it changes nothing. "
        "It connects to no database server but the app's own unless given --probe-target."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--probe-target",
            metavar="SERVER",
            help=(
                "A PostgreSQL server the demo may probe: postgresql://USER@HOST:PORT/DBNAME, a key=value "
                "conninfo, or HOST[:PORT][/DBNAME] (as postgres). The demo connects once with it to create "
                f"its own least-privilege role {self.PROBE_ROLE}, registers a target on Payouts that "
                "connects as that role, and starts a probe run. Its host and port must be in "
                "PROBE_ALLOWED_HOSTS."
            ),
        )
        parser.add_argument(
            "--url",
            default=DEFAULT_URL.format(port=os.environ.get("PORT") or 8000),
            help="Where the app is served, for the lines printed at the end (default: port $PORT or 8000).",
        )

    def handle(self, *args, **options):
        server = options.get("probe_target")
        if server:
            try:
                conninfo.parse(server)
            except ValueError as exc:
                raise CommandError(f"--probe-target: {exc}") from exc
        self.url = options.get("url") or DEFAULT_URL.format(port=8000)
        if not self.url.endswith("/"):
            self.url += "/"
        self.now = timezone.now()
        self.today = timezone.localdate()
        try:
            with transaction.atomic():
                self.teams = self._teams()
                self.users = self._people()
                catalogue = services.current_catalogue()
                self.categories = {c.code: c for c in Category.objects.filter(version=catalogue)}
                self.items = {
                    i.code: i
                    for i in ChecklistItem.objects.filter(category__version=catalogue).select_related(
                        "category"
                    )
                }
                self._ledger()
                self._payouts()
                self._accounts_directory()
                self._probe_target(server)
        except (services.ServiceError, PermissionDenied) as exc:
            raise CommandError(f"The demo could not be created, nothing was changed: {exc}") from exc
        self._print_credentials()

    # --- Helpers

    def say(self, message: str) -> None:
        self.stdout.write(message)

    def ago(self, days: float, hours: float = 0) -> datetime:
        return self.now - timedelta(days=days, hours=hours)

    def in_days(self, days: int) -> date:
        return self.today + timedelta(days=days)

    def cat(self, code: str) -> Category:
        return self.categories[code]

    def link(self, review: Review, code: str, title: str, url: str, actor, days_ago: float, notes: str = ""):
        carried = Evidence.objects.filter(
            review=review, category=self.cat(code), url=url, carried_from__isnull=False
        ).first()
        if carried is not None:  # carried from the last decision and still fresh: no second copy
            return carried
        return evidence_services.add_link(
            review=review,
            category=self.cat(code),
            title=title,
            url=url,
            actor=actor,
            notes=notes,
            observed_at=self.ago(days_ago),
        )

    def score(self, review: Review, code: str, score: int, actor, owner=None, notes: str = ""):
        category = self.cat(code)
        current = CategoryScore.objects.filter(review=review, category=category).first()
        if current is not None and score_raise.is_guarded(review, category, current.score, score):
            # Carried below its minimum from the last decision: the raise is proposed and confirmed by
            # another architect or lead of the team, as the app asks of everyone.
            proposal = score_raise.propose(
                review=review, category=category, actor=actor, score=score, reason=notes or "Fixed since."
            )
            second = (
                get_user_model()
                .objects.filter(
                    memberships__team_id=review.system.team_id, memberships__role__in=policy.CHAIR_ROLES
                )
                .exclude(pk=actor.pk)
                .order_by("pk")
                .first()
            )
            current = score_raise.confirm(raise_=proposal, actor=second, note="Checked for the demo.")
            return services.set_score(
                review=review,
                category=category,
                score=score,
                actor=actor,
                owner=owner,
                notes=notes,
                version=current.version,
            )
        return services.set_score(
            review=review, category=category, score=score, actor=actor, owner=owner, notes=notes
        )

    def answer(self, review: Review, code: str, answer: str, actor, note: str = "", evidence=None):
        return services.answer_item(
            review=review, item=self.items[code], answer=answer, actor=actor, note=note, evidence=evidence
        )

    def answer_critical(self, review: Review, actor) -> None:
        """The critical checklist items (those whose No is a blocker or serious finding) answered Yes:
        the demo's teams have checked them. Unanswered, each would cap its category at 1."""
        for item in self.items.values():
            if item.critical_level and item.category.version_id == review.catalogue_id:
                services.answer_item(review=review, item=item, answer="yes", actor=actor)

    def resolve(self, finding, actor, description: str, fix_url: str = ""):
        """Resolved as fixed; a P0/P1 with its note and the evidence of the fix (a link observed now)."""
        if fix_url:
            evidence_services.add_link(
                review=finding.review,
                category=finding.category,
                title=f"Fix: {finding.title}"[:200],
                url=fix_url,
                actor=actor,
            )
        return services.update_finding(
            finding=finding,
            actor=actor,
            version=finding.version,
            title=finding.title,
            description=description,
            level=finding.level,
            status=FindingStatus.RESOLVED,
            owner=finding.owner,
            due_date=finding.due_date,
            note=description,
        )

    def _system(self, team_slug: str, name: str, actor, description: str, source_of_truth: str) -> System:
        team = self.teams[team_slug]
        system = System.objects.filter(team=team, name__iexact=name).first()
        if system is not None:
            self.say(f"System {name}: already present")
            return system
        system = services.create_system(
            team=team, name=name, description=description, source_of_truth=source_of_truth, actor=actor
        )
        self.say(f"System {name}: created")
        return system

    def _existing_review(self, system: System, scope: str) -> Review | None:
        review = Review.objects.filter(system=system, release_scope=scope).first()
        if review is not None:
            self.say(f"  Review {scope!r}: already present, left as it is")
        return review

    # --- Teams and people (created directly: they are not part of the review domain)

    def _teams(self) -> dict[str, Team]:
        teams = {}
        for slug, name in TEAMS:
            team = Team.objects.filter(slug=slug).first() or Team.objects.filter(name=name).first()
            if team is None:
                team = Team.objects.create(slug=slug, name=name)
                self.say(f"Team {name}: created")
            teams[slug] = team
        return teams

    def _people(self) -> dict:
        User = get_user_model()
        users = {}
        self.password_changed = set()
        for username, first, last, memberships in PEOPLE:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = User.objects.create_user(
                    username=username,
                    password=password_for(username),
                    first_name=first,
                    last_name=last,
                    email=f"{username}@example.com",
                )
                self.say(f"User {username}: created")
            elif not check_password(password_for(username), user.password):
                self.password_changed.add(username)  # somebody changed it; the demo does not reset it
            for team_slug, role in memberships:
                team = self.teams[team_slug]
                membership, created = Membership.objects.get_or_create(
                    user=user, team=team, defaults={"role": role}
                )
                if not created and membership.role != role:
                    raise CommandError(
                        f"{username} is already {membership.get_role_display()} of {team}, "
                        "but the demo needs "
                        f"{Role(role).label}; change or remove that membership first."
                    )
            users[username] = user
        # Audrey audits the whole installation, not only the two demo teams.
        InstallationAuditor.objects.get_or_create(user=users["audrey"])
        return users

    # --- Payments: Ledger

    def _ledger(self) -> None:
        ada, linus, mia = self.users["ada"], self.users["linus"], self.users["mia"]
        ledger = self._system(
            "payments",
            "Ledger",
            ada,
            description="Double-entry ledger of customer and merchant accounts (PostgreSQL 16, ledger-api).",
            source_of_truth=LEDGER_SOURCE_OF_TRUTH,
        )
        self._ledger_history(ledger, ada)
        self._ledger_previous(ledger, ada, linus, mia)
        self._ledger_current(ledger, ada, linus, mia)

    def _ledger_history(self, ledger: System, ada) -> None:
        """Three earlier releases and their decisions, imported as of their dates (import_decision)."""
        if ledger.decisions.exists():
            return  # history is imported only before the first decision, to keep the chain in time order
        codes = list(self.categories)
        codes.sort(key=lambda code: self.categories[code].number)
        for scope, days, schema_changing, scores, open_p0, notes in LEDGER_HISTORY:
            review = services.start_review(
                system=ledger,
                release_scope=scope,
                actor=ada,
                schema_changing=schema_changing,
                production_traffic=True,
            )
            self.answer_critical(review, ada)
            Review.objects.filter(pk=review.pk).update(created_at=self.ago(days + 21))
            # What the previous release's decision left open was fixed in this one: closing the carried
            # copies records it on the decided review as "resolved later".
            for carried in Finding.objects.filter(review=review, carried_from__isnull=False).exclude(
                status=FindingStatus.RESOLVED
            ):
                release = scope.split(" —")[0]
                self.resolve(
                    carried,
                    ada,
                    f"Fixed in {release}.",
                    fix_url=f"https://git.example.com/ledger/-/merge_requests?search={carried.pk}",
                )
            for code, value in zip(codes, scores, strict=True):
                if value >= 2:
                    self.link(
                        review,
                        code,
                        f"{scope.split(' —')[0]}: {self.cat(code).name}",
                        f"{WIKI}/payments/ledger/{code}",
                        ada,
                        days + 7,
                    )
                self.score(review, code, value, ada)
            if open_p0:
                services.add_finding(
                    review=review, category=self.cat("security"), level=Level.P0, actor=ada, title=open_p0
                )
            decided_at = self.ago(days)
            decision = services.import_decision(
                review=review,
                actor=ada,
                next_review=(decided_at + timedelta(days=90)).date(),
                recorded_at=decided_at,
                notes=notes,
            )
            self.say(f"  Review {scope!r}: imported as decided {decision.outcome} {days} days ago")

    def _ledger_previous(self, ledger: System, ada, linus, mia) -> None:
        scope = "Ledger 2.3 — idempotent postings"
        if self._existing_review(ledger, scope):
            return
        review = services.start_review(
            system=ledger,
            release_scope=scope,
            actor=ada,
            schema_changing=True,
            production_traffic=True,
            scope_notes="Adds an idempotency key to the posting API: a unique (client_id, idempotency_key) "
            "constraint on journal_entry and replay of the stored response on retry.",
        )
        self.answer_critical(review, ada)
        # One piece of evidence per category, observed months ago, then the score it supports.
        evidence = (
            (
                "ownership",
                3,
                linus,
                "Source-of-truth declaration and data ownership map",
                f"{WIKI}/payments/ledger/source-of-truth",
                140,
            ),
            (
                "data-model",
                3,
                mia,
                "Invariant inventory: balanced journal entries, append-only postings",
                f"{WIKI}/payments/ledger/invariants",
                135,
            ),
            (
                "schema",
                2,
                mia,
                "Schema review of journal_entry and posting",
                f"{GIT}/payments/ledger/-/merge_requests/812",
                133,
            ),
            (
                "query-index",
                2,
                mia,
                "EXPLAIN ANALYZE: journal entry lookup by idempotency key",
                f"{GIT}/payments/ledger/-/snippets/77",
                131,
            ),
            (
                "transaction",
                3,
                mia,
                "Chaos retry test: same posting retried 10x gives one effect",
                f"{GIT}/payments/ledger/-/pipelines/40211",
                130,
            ),
            (
                "migration",
                2,
                linus,
                "Staging migration replay on 2x production data",
                f"{WIKI}/payments/ledger/migrations/2.3-replay",
                129,
            ),
            (
                "backup",
                2,
                linus,
                "Restore drill report, PITR to staging",
                f"{WIKI}/payments/ledger/restore-drills/2025-q4",
                150,
            ),
            (
                "replication",
                2,
                linus,
                "Failover game day notes",
                f"{WIKI}/payments/ledger/game-days/failover",
                145,
            ),
            (
                "observability",
                2,
                mia,
                "Ledger database workload dashboard",
                f"{GRAFANA}/d/ledger-db/ledger-database-workload",
                128,
            ),
            (
                "security",
                2,
                linus,
                "Grant review of ledger_runtime and ledger_migration",
                f"{GIT}/payments/ledger-infra/-/blob/main/roles.sql",
                132,
            ),
            (
                "privacy",
                2,
                ada,
                "PII inventory of account holders",
                f"{WIKI}/payments/ledger/pii-inventory",
                138,
            ),
            (
                "integration",
                2,
                ada,
                "Derived store inventory: search index and warehouse",
                f"{WIKI}/payments/ledger/derived-stores",
                137,
            ),
            (
                "capacity",
                2,
                mia,
                "Load test at 3x peak posting TPS",
                f"{GIT}/payments/ledger/-/pipelines/40388",
                127,
            ),
            ("runbooks", 2, mia, "Ledger on-call runbook index", f"{WIKI}/payments/ledger/runbooks", 126),
        )
        for code, value, by, title, url, days in evidence:
            self.link(review, code, title, url, by, days)
            self.score(review, code, value, ada, owner=by)
        duplicates = services.add_finding(
            review=review,
            category=self.cat("transaction"),
            level=Level.P1,
            actor=ada,
            title="Posting retries can create duplicate journal entries",
            description="Clients retry on timeout; without an idempotency key a retried posting "
            "is booked twice.",
        )
        self.resolve(
            duplicates,
            ada,
            "Fixed in 2.3: unique (client_id, idempotency_key) and response replay; "
            "covered by the chaos retry test.",
            fix_url=f"{GIT}/payments/ledger/-/merge_requests/812",
        )
        retention = services.add_finding(
            review=review,
            category=self.cat("data-model"),
            level=Level.P2,
            actor=ada,
            owner=mia,
            due_date=self.today - timedelta(days=100),
            title="Idempotency keys are never purged",
            description="The idempotency_key table grows without bound; keys are only needed for 7 days.",
        )
        self.resolve(
            retention, mia, "Nightly purge of keys older than 7 days, chunked, with an alert on failure."
        )
        services.add_finding(
            review=review,
            category=self.cat("integration"),
            level=Level.P3,
            actor=ada,
            owner=ada,
            due_date=self.in_days(45),
            title="Warehouse load lag not shown on the ledger dashboard",
        )
        decision = services.record_decision(
            review=review,
            actor=ada,
            next_review=self.in_days(90),
            notes="Idempotent postings approved; next review before 3.0.",
        )
        self.say(f"  Review {scope!r}: created and decided {decision.outcome}")

    def _ledger_current(self, ledger: System, ada, linus, mia) -> None:
        scope = "Ledger 3.0 — multi-currency balances"
        if self._existing_review(ledger, scope):
            return
        review = services.start_review(
            system=ledger,
            release_scope=scope,
            actor=ada,
            schema_changing=True,
            production_traffic=True,
            scope_notes="Adds a currency to accounts and postings; balances are re-keyed by "
            "(account_id, currency) "
            "and existing balances are backfilled in the account's base currency. FX rates come "
            "from a versioned reference table.",
        )
        self.answer_critical(review, ada)

        # Ownership: the declaration is updated for multi-currency.
        sot = self.link(
            review,
            "ownership",
            "Source-of-truth declaration v3 (multi-currency)",
            f"{WIKI}/payments/ledger/source-of-truth?version=3",
            ada,
            6,
        )
        self.score(
            review,
            "ownership",
            3,
            ada,
            owner=ada,
            notes="Declaration, ownership map and correction policy updated for currencies.",
        )
        self.answer(review, "ownership.source-of-truth-declared", "yes", ada, evidence=sot)
        self.answer(
            review,
            "ownership.derived-entities-listed",
            "yes",
            ada,
            evidence=sot,
            note="Search index and warehouse are listed as derived.",
        )

        # Data model: the balancing invariant now holds per currency.
        invariant = self.link(
            review,
            "data-model",
            "Invariant: postings of an entry sum to zero per currency",
            f"{GIT}/payments/ledger/-/merge_requests/1044",
            mia,
            4,
            notes="Deferred constraint trigger plus negative SQL test.",
        )
        self.score(review, "data-model", 2, mia, owner=mia)
        self.answer(review, "data-model.invariant-enforcement-location", "yes", mia, evidence=invariant)

        # Transaction: designed, not yet tested.
        self.score(
            review,
            "transaction",
            1,
            mia,
            owner=mia,
            notes="FX conversion postings reuse the idempotency key design; retry test not written yet.",
        )

        # Migration: expand phase rehearsed on production-sized data.
        replay = self.link(
            review,
            "migration",
            "Staging migration replay: expand phase on 2x production data",
            f"{WIKI}/payments/ledger/migrations/3.0-replay",
            linus,
            3,
            notes="Concurrent index builds; lock_timeout 2s; 41 min in total.",
        )
        self.score(review, "migration", 2, linus, owner=linus)
        self.answer(review, "migration.concurrent-index-build", "yes", linus, evidence=replay)
        self.answer(
            review,
            "migration.backfill-chunked-resumable",
            "no",
            linus,
            note="The balance backfill is a single UPDATE; see the P1 finding.",
        )

        # Backup: a measured restore drill (seed §11.3).
        drill_start = self.ago(12).replace(hour=9, minute=0, second=0, microsecond=0)
        requested = drill_start - timedelta(minutes=10)
        drill = evidence_services.add_restore_drill(
            review=review,
            actor=linus,
            title=f"Restore drill {drill_start:%Y-%m-%d}: ledger PITR to restore-staging",
            database="ledger (PostgreSQL 16, primary ledger-db-1)",
            backup_source="pgBackRest repository ledger-backups (weekly full, daily diff, WAL archive)",
            target_environment="restore-staging (isolated network, no application traffic)",
            requested_recovery_point=requested,
            actual_recovery_point=requested - timedelta(minutes=2),
            started_at=drill_start,
            ended_at=drill_start + timedelta(minutes=43),
            rpo_target_minutes=5,
            rto_target_minutes=60,
            validation_queries=VALIDATION_QUERIES,
            validation_passed=True,
            validation_result="Row counts match the source at the recovery point (account 412,903; "
            "journal_entry 18,204,551; posting 36,409,102). 0 unbalanced entries. "
            "0 journal entries without an audit event. Balance checksums per currency match.",
            issues_found="WAL fetch from the archive was throttled to 40 MB/s: "
            "replay took 31 of the 43 minutes.",
            follow_up_owner="Linus Pauling",
            next_drill_date=self.in_days(80),
            url=f"{WIKI}/payments/ledger/restore-drills/{drill_start:%Y-%m-%d}",
        )
        self.score(
            review,
            "backup",
            3,
            linus,
            owner=linus,
            notes="PITR, measured drill (RPO 2 min, RTO 43 min), backup failure alert pages on-call.",
        )
        for code in (
            "backup.restore-drill-recent",
            "backup.restore-time-measured",
            "backup.restored-data-validated",
        ):
            self.answer(review, code, "yes", linus, evidence=drill)

        # Observability.
        dashboard = self.link(
            review,
            "observability",
            "Ledger workload dashboard and p95 write latency alert",
            f"{GRAFANA}/d/ledger-db/ledger-database-workload?var-release=3.0",
            mia,
            2,
        )
        self.score(
            review,
            "observability",
            2,
            mia,
            owner=mia,
            notes="Impact-based write latency alert; replication slot lag is not alerted yet (P2).",
        )
        self.answer(review, "observability.alerts-impact-based", "yes", mia, evidence=dashboard)

        # Security: designed, but the runtime still connects as the owner.
        self.score(
            review,
            "security",
            1,
            ada,
            owner=linus,
            notes="ledger_runtime / ledger_migration separation is designed; ledger-api still "
            "connects as ledger_owner.",
        )
        self.answer(
            review,
            "security.app-not-superuser",
            "no",
            ada,
            note="ledger-api connects as ledger_owner, which owns every table; see the P0 finding.",
        )

        # Runbooks: most of the required ones, in the whole template, and the game days that tested them.
        runbooks = self._ledger_runbooks(review, drill_start.date())
        self.score(review, "runbooks", 2, mia, owner=mia)
        self.answer(review, "runbooks.lock-storm-deadlock", "yes", mia, evidence=runbooks["lock_storm"])

        # The workload's inventories (seed §8.1, §16.1) and the capacity envelope (§17.3).
        evidence_services.add_access_pattern(
            review=review,
            actor=mia,
            query_name="Account statement",
            actor_name="customer app",
            frequency="1,200/min peak",
            freshness="primary within 1 s of a posting",
            predicate="account_id, currency, booked_at between two dates",
            sort="booked_at desc, id desc",
            pagination="keyset",
            expected_p95_ms=50,
            index="posting (account_id, currency, booked_at desc, id desc)",
            plan_evidence="Index Scan using posting_account_currency_booked_idx "
            "(actual time=0.05..3.1 rows=50)",
            url=f"{GIT}/payments/ledger/-/snippets/91",
        )
        evidence_services.add_derived_store(
            review=review,
            actor=ada,
            store="Warehouse balances table",
            source="CDC from journal_entry and posting (Debezium)",
            freshness="< 15 min",
            rebuild="Reload a date range from the ledger replica; idempotent by journal entry id",
            owner="Data platform",
            failure_action="Mark finance dashboards stale; the ledger keeps writing",
        )
        evidence_services.add_capacity_envelope(
            review=review,
            actor=mia,
            current_data_size="1.8 TB",
            projected_data_size="3.4 TB (multi-currency doubles postings of FX accounts)",
            current_peak_tps=2100,
            projected_peak_tps=3900,
            current_p95_ms=21,
            target_p95_ms=40,
            known_bottleneck="WAL volume on the primary during month-end batches",
            saturation_trigger="Primary CPU above 70% for 15 minutes at month end",
            planned_mitigation="Partition posting by month (ledger 3.2); move statements to a replica",
            owner="Mia Hamm",
            review_date=self.today - timedelta(days=9),
        )

        # The inventories and plans each step of the meeting walks.
        self._ledger_records(review)

        # Links for categories not scored yet.
        self.link(
            review,
            "replication",
            "Replica lag simulation plan",
            f"{WIKI}/payments/ledger/lag-simulation",
            linus,
            1,
        )
        self.link(
            review,
            "integration",
            "Warehouse CDC contract for multi-currency balances",
            f"{GIT}/data/contracts/-/blob/main/ledger/balances.v2.avsc",
            ada,
            5,
        )
        self.answer(
            review,
            "replication.slots-cannot-fill-disk",
            "unknown",
            linus,
            note="Slot lag is visible on the dashboard but nobody is paged; see the P2 finding.",
        )

        # Claims (seed §1).
        claims = (
            (
                "transaction",
                "Write path retry-safe",
                "Duplicate posting created",
                "Idempotency key + unique constraint",
                None,
                "Chaos retry test (Ledger 2.3); not rerun for FX yet",
            ),
            (
                "migration",
                "Migration zero-downtime",
                "DDL lock outage",
                "Expand-contract + timeout + concurrent index",
                replay,
                "",
            ),
            (
                "backup",
                "Backup valid",
                "Restore fails during incident",
                "PITR + restore drill",
                drill,
                "Restore report with checksum",
            ),
            (
                "replication",
                "Read scaling safe",
                "Stale balance shown",
                "Freshness contract + primary routing",
                None,
                "Lag simulation test planned, not run",
            ),
        )
        for code, claim, risk, control, evidence, note in claims:
            services.add_claim(
                review=review,
                category=self.cat(code),
                claim=claim,
                risk=risk,
                control=control,
                evidence=evidence,
                evidence_note=note,
                actor=ada,
            )

        # Findings of every level.
        services.add_finding(
            review=review,
            category=self.cat("security"),
            level=Level.P0,
            actor=ada,
            owner=linus,
            due_date=self.in_days(7),
            title="Application connects as database owner role",
            description="ledger-api uses ledger_owner, which owns the schema: "
            "a SQL injection or a bug can drop "
            "or rewrite postings and audit rows. Switch to ledger_runtime with table grants.",
        )
        backfill = services.add_finding(
            review=review,
            category=self.cat("migration"),
            level=Level.P1,
            actor=ada,
            owner=mia,
            due_date=self.in_days(30),
            title="Backfill of balances runs in one transaction",
            description="The 3.0 backfill updates every balance row in one UPDATE: "
            "not resumable, holds row locks "
            "for minutes and bloats the table. Chunk it by account id range.",
        )
        stale_reads = services.add_finding(
            review=review,
            category=self.cat("replication"),
            level=Level.P1,
            actor=ada,
            owner=linus,
            title="Balance reads routed to a replica without a freshness check",
            description="The new multi-currency balance endpoint reads from the replica; "
            "a payout decision can "
            "use a stale balance after a posting: the claim that read scaling is safe does not hold.",
        )
        services.add_finding(
            review=review,
            category=self.cat("replication"),
            level=Level.P2,
            actor=linus,
            owner=mia,
            due_date=self.in_days(21),
            title="No alert on replication slot lag",
            description="An idle CDC slot can retain WAL until the disk fills; alert on retained WAL bytes.",
        )
        services.add_finding(
            review=review,
            category=self.cat("query-index"),
            level=Level.P3,
            actor=mia,
            title="Index naming convention not documented",
        )

        # Exceptions: one signed (four eyes: mia asks, linus signs), one still awaiting a signature.
        signed = services.request_exception(
            finding=backfill,
            actor=mia,
            expires_at=self.now + timedelta(days=30),
            justification="1.8M balance rows; the staging replay ran the single UPDATE in 4 minutes. "
            "Chunking is "
            "planned for 3.1 and the release cannot wait for it.",
            compensating_control="Run in the 02:00–03:00 UTC low-traffic window with lock_timeout 2s and "
            "statement_timeout 10min; DBA on call watches blocked sessions; abort and retry "
            "plan in the runbook.",
        )
        services.sign_exception(exception=signed, actor=linus)
        services.request_exception(
            finding=stale_reads,
            actor=ada,
            expires_at=self.now + timedelta(days=30),
            justification="Primary routing for the balance endpoint lands in 3.0.1, "
            "two weeks after the release.",
            compensating_control="Payout batches re-read balances from the primary before submission.",
        )
        self.say(f"  Review {scope!r}: created, in progress")

    def _ledger_records(self, review: Review) -> None:
        """A record of every declared kind (evidence.kinds), through the service every page uses."""
        for username, kind, values in ledger_data.records(self.today):
            typed.add_record(review=review, actor=self.users[username], kind=kind, **values)

    def _ledger_runbooks(self, review: Review, drill_day: date) -> dict[str, Evidence]:
        """The Ledger's runbooks and their tests; {required runbook covered: its evidence}."""
        covering = {}
        for runbook in ledger_data.runbooks(self.today, drill_day):
            values = dict(runbook)
            actor = self.users[values.pop("by")]
            item = evidence_services.add_runbook(review=review, actor=actor, **values)
            if values["covers"]:
                covering[values["covers"]] = item
        for test in ledger_data.runbook_tests():
            values = dict(test)
            actor = self.users[values.pop("by")]
            ended = self.ago(values.pop("days_ago")).replace(hour=11, minute=0, second=0, microsecond=0)
            started = ended - timedelta(minutes=values.pop("minutes"))
            evidence_services.add_runbook_test(
                review=review, actor=actor, started_at=started, ended_at=ended, **values
            )
        return covering

    # --- Payments: Payouts

    def _payouts(self) -> None:
        linus, mia = self.users["linus"], self.users["mia"]
        payouts = self._system(
            "payments",
            "Payouts",
            linus,
            description="Schedules merchant payouts and submits them to the bank in batches.",
            source_of_truth=PAYOUTS_SOURCE_OF_TRUTH,
        )
        scope = "Payouts 1.4 — scheduled payout batches"
        if self._existing_review(payouts, scope):
            return
        review = services.start_review(
            system=payouts, release_scope=scope, actor=linus, schema_changing=False, production_traffic=True
        )
        self.answer_critical(review, linus)
        self.link(
            review,
            "ownership",
            "Payouts source-of-truth declaration",
            f"{WIKI}/payments/payouts/source-of-truth",
            mia,
            9,
        )
        self.score(review, "ownership", 2, mia, owner=linus)
        self.score(
            review,
            "transaction",
            1,
            mia,
            owner=mia,
            notes="Batch claiming with FOR UPDATE SKIP LOCKED is designed, not yet tested.",
        )
        self.say(f"  Review {scope!r}: created, draft")

    # --- Identity: Accounts directory

    def _accounts_directory(self) -> None:
        ivan, ines = self.users["ivan"], self.users["ines"]
        directory = self._system(
            "identity",
            "Accounts directory",
            ines,
            description="Users, credentials, sessions and groups for every internal "
            "and customer-facing login.",
            source_of_truth=DIRECTORY_SOURCE_OF_TRUTH,
        )
        scope = "Accounts directory 5.1 — passkey credentials"
        if self._existing_review(directory, scope):
            return
        review = services.start_review(
            system=directory,
            release_scope=scope,
            actor=ines,
            schema_changing=True,
            production_traffic=True,
            scope_notes="Adds a passkey_credential table and a credential_kind column on login_event.",
        )
        self.answer_critical(review, ines)
        scores = (
            (
                "ownership",
                3,
                "Directory source-of-truth declaration",
                f"{WIKI}/identity/directory/source-of-truth",
            ),
            ("data-model", 2, "Credential lifecycle and invariants", f"{WIKI}/identity/directory/invariants"),
            (
                "schema",
                2,
                "Schema review: passkey_credential",
                f"{GIT}/identity/directory/-/merge_requests/530",
            ),
            (
                "query-index",
                2,
                "EXPLAIN ANALYZE of the login lookup",
                f"{GIT}/identity/directory/-/snippets/12",
            ),
            (
                "transaction",
                2,
                "Concurrent passkey registration test",
                f"{GIT}/identity/directory/-/pipelines/9921",
            ),
            ("migration", 2, "Staging migration replay", f"{WIKI}/identity/directory/migrations/5.1-replay"),
            ("backup", 3, "Restore drill report", f"{WIKI}/identity/directory/restore-drills/latest"),
            ("replication", 2, "Failover test notes", f"{WIKI}/identity/directory/failover"),
            (
                "observability",
                2,
                "Directory database dashboard",
                f"{GRAFANA}/d/directory-db/directory-database",
            ),
            (
                "security",
                3,
                "Role separation and grant review",
                f"{GIT}/identity/directory-infra/-/blob/main/roles.sql",
            ),
            ("privacy", 2, "PII inventory and retention jobs", f"{WIKI}/identity/directory/pii"),
            (
                "integration",
                2,
                "Audit search index rebuild procedure",
                f"{WIKI}/identity/directory/audit-index",
            ),
            ("capacity", 2, "Login load test at 2x peak", f"{GIT}/identity/directory/-/pipelines/9950"),
            ("runbooks", 2, "Directory on-call runbooks", f"{WIKI}/identity/directory/runbooks"),
        )
        for n, (code, value, title, url) in enumerate(scores):
            self.link(review, code, title, url, ines, 3 + n)
            self.score(review, code, value, ines, owner=ines)
        purge = services.add_finding(
            review=review,
            category=self.cat("transaction"),
            level=Level.P1,
            actor=ines,
            owner=ivan,
            due_date=self.in_days(40),
            title="Session purge job deletes expired sessions in one transaction",
            description="The nightly purge holds a long transaction on the sessions table "
            "and blocks autovacuum.",
        )
        exception = services.request_exception(
            finding=purge,
            actor=ines,
            expires_at=self.now + timedelta(days=45),
            justification="The purge runs at 03:00 UTC when logins are at 2% of peak; chunking ships in 5.2.",
            compensating_control="statement_timeout 5min on the purge role; "
            "alert on transactions older than 10 min.",
        )
        services.sign_exception(exception=exception, actor=ivan)
        services.add_finding(
            review=review,
            category=self.cat("observability"),
            level=Level.P3,
            actor=ines,
            title="Failed login rate not on the security dashboard",
        )
        decision = services.record_decision(
            review=review,
            actor=ines,
            next_review=self.in_days(60),
            notes="Approved with the session purge exception; revisit with 5.2.",
        )
        self.say(f"  Review {scope!r}: created and decided {decision.outcome}")

    # --- Probes: only on a server the demo was given (--probe-target), as a role of its own

    PROBE_TARGET = "Demo PostgreSQL"

    PROBE_ROLE = "readiness_demo_probe"

    def _demo_probe_dsn(self, server: str) -> str:
        """Connect once with the credentials given to create (or give a fresh random password to) the
        demo's own least-privilege login role (pg_monitor, pg_read_all_data), and return how the target
        connects as that role. The credentials given are never stored."""
        import secrets

        from psycopg import sql

        password = secrets.token_urlsafe(24)
        try:
            with psycopg.connect(conninfo.conninfo(server), connect_timeout=5, autocommit=True) as conn:
                role = sql.Identifier(self.PROBE_ROLE)
                exists = conn.execute(
                    "select 1 from pg_roles where rolname = %s", [self.PROBE_ROLE]
                ).fetchone()
                verb = "alter" if exists else "create"
                conn.execute(
                    sql.SQL(verb + " role {} login nosuperuser nocreaterole nocreatedb password {}").format(
                        role, sql.Literal(password)
                    )
                )
                conn.execute(sql.SQL("grant pg_monitor, pg_read_all_data to {}").format(role))
                info = conn.info
                host, port, dbname = info.host, info.port, info.dbname
        except psycopg.Error as exc:
            raise CommandError(
                f"--probe-target: could not create the demo's probe role {self.PROBE_ROLE} on {server!r} "
                f"(the demo connects once as a role that may create roles): {str(exc).strip()}"
            ) from exc
        return psycopg.conninfo.make_conninfo(
            host=host, port=str(port), dbname=dbname, user=self.PROBE_ROLE, password=password
        )

    def _probe_target(self, server: str | None) -> None:
        payouts = System.objects.get(team=self.teams["payments"], name="Payouts")
        existing = ProbeTarget.objects.filter(system=payouts, name=self.PROBE_TARGET).exists()
        if server is None:
            if existing:
                self.say(f"Probe target {self.PROBE_TARGET}: already present")
            else:
                self.say(
                    "Probe target: none. The demo connects to no database server unless given one: "
                    "`manage.py demo --probe-target postgresql://USER@HOST:5432/postgres` (or "
                    "`bin/quickstart --probe-target ...`) creates a least-privilege role "
                    f"{self.PROBE_ROLE} there and registers it on Payouts; or add a target on the "
                    "Payouts page (Probe targets)."
                )
            return
        if existing:
            self.say(f"Probe target {self.PROBE_TARGET}: already present; {server!r} not touched")
            return
        try:  # before connecting: a server probes may not reach is not touched at all
            engine.check_host(engine.connection_params(conninfo.conninfo(server)))
        except engine.ProbeRefused as exc:
            allowed = ",".join(conninfo.allowed_hosts(server)) or "HOST:PORT"
            raise CommandError(
                f"--probe-target: {exc.headline} Let probes reach it: PROBE_ALLOWED_HOSTS={allowed} "
                "(bin/quickstart --probe-target sets it)."
            ) from exc
        dsn = self._demo_probe_dsn(server)
        linus, mia = self.users["linus"], self.users["mia"]
        try:
            target = probe_services.create_target(
                system=payouts, name=self.PROBE_TARGET, environment="development", dsn=dsn, actor=linus
            )
        except ValidationError as err:
            raise CommandError(f"--probe-target: not registered: {' '.join(err.messages)}") from err
        review = Review.objects.filter(system=payouts).exclude(state="decided").order_by("-created_at")[:1]
        review = review[0] if review else None
        run = probe_services.start_probe_run(target=target, review=review, actor=mia)
        # Runs when the demo's transaction commits: in-process on the quick start, else on a worker.
        self.say(
            f"Probe target {self.PROBE_TARGET}: registered on Payouts, connecting as role {self.PROBE_ROLE}; "
            f"probe run #{run.pk} started"
        )

    # --- Output

    def _print_credentials(self) -> None:
        rows = []
        for username, _first, _last, memberships in PEOPLE:
            roles = sorted({Role(role).label for _team, role in memberships})
            teams = ", ".join(self.teams[slug].name for slug, _role in memberships)
            password = password_for(username)
            if username in self.password_changed:
                password += "  (changed since the demo was created; not reset)"
            rows.append((username, " / ".join(roles), teams, password))
        header = ("username", "role", "team", "password")
        widths = [max(len(r[i]) for r in (*rows, header)) for i in range(3)]
        self.say("")
        self.say(self.style.SUCCESS("Demo ready. Sign in with:"))
        line = "  ".join(h.ljust(w) for h, w in zip(header[:3], widths, strict=True)) + "  " + header[3]
        self.say(line)
        self.say("-" * len(line))
        for row in rows:
            self.say("  ".join(v.ljust(w) for v, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
        self.say("")
        self.say(f"Open {self.url}")
        self._print_admin()

    def _print_admin(self) -> None:
        """How to get into the admin: the demo users are not administrators."""
        admin_url = f"{self.url}admin/"
        if get_user_model().objects.filter(is_superuser=True, is_active=True).exists():
            self.say(f"Admin: {admin_url} (sign in as an administrator; the demo users are not).")
            return
        self.say(f"Admin: {admin_url} needs an administrator (the demo users are not). Create one with:")
        self.say(f"  {self._manage_command('createsuperuser')}")
        if os.environ.get("DATABASE_URL"):
            self.say("  with DATABASE_URL set as for the server.")

    def _manage_command(self, command: str) -> str:
        """A manage.py command to paste: the environment the settings read (DEBUG, settings module, var
        directory; never DATABASE_URL, which may hold a password), this interpreter, this manage.py."""
        env = []
        if settings.DEBUG and os.environ.get("DEBUG"):
            env.append(f"DEBUG={os.environ['DEBUG']}")
        if os.environ.get("DJANGO_SETTINGS_MODULE", "readiness.settings") != "readiness.settings":
            env.append(f"DJANGO_SETTINGS_MODULE={os.environ['DJANGO_SETTINGS_MODULE']}")
        if os.environ.get("READINESS_VAR_DIR"):
            env.append(f"READINESS_VAR_DIR={os.environ['READINESS_VAR_DIR']}")
        cwd = Path.cwd()
        python, manage = Path(sys.executable), Path(settings.BASE_DIR) / "manage.py"
        if python.is_relative_to(cwd):
            python = python.relative_to(cwd)
        if manage.is_relative_to(cwd):
            manage = manage.relative_to(cwd)
        return " ".join([*env, str(python), str(manage), command])
