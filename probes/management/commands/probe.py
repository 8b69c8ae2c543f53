"""`manage.py probe`: run the probes against a DSN for a pipeline, print the results, save nothing.

Exit codes: 0 when no P0/P1 probe failed, 1 when one did, 2 for a connection error or bad arguments.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from probes.engine import ProbeConnectionError, iter_probes
from probes.registry import Result, Status, all_probes

EXIT_OK, EXIT_BLOCKING, EXIT_ERROR = 0, 1, 2
BLOCKING_SEVERITIES = ("P0", "P1")
_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skipped": "SKIP", "error": "ERR "}


def blocking(results: list[Result]) -> list[Result]:
    """The failed probes that make the pipeline fail: P0 and P1."""
    return [r for r in results if r.status is Status.FAIL and r.severity in BLOCKING_SEVERITIES]


class Command(BaseCommand):
    help = (
        "Run the read-only probes against a PostgreSQL DSN and print the results (nothing is saved). "
        "Exit 0 when no P0/P1 probe failed, 1 when one did, 2 on a connection error or bad arguments."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--dsn", help="postgres://user:password@host:5432/db or key=value form")
        parser.add_argument("--format", choices=("text", "json"), default="text")
        parser.add_argument("--only", default="", help="comma-separated probe ids or category codes")
        parser.add_argument("--list", action="store_true", help="list the registered probes and exit")
        parser.add_argument(
            "--params",
            default="",
            help='JSON of per-probe parameters, e.g. {"*": {"app_roles": ["app"]}, '
            '"transaction.long-transactions": {"warn_seconds": 60}}',
        )
        parser.add_argument("--statement-timeout-ms", type=int, default=None)
        parser.add_argument("--connect-timeout-s", type=int, default=None)

    def handle(self, *args, **options):
        if options["list"]:
            self._list(options["format"])
            return
        if not options["dsn"]:
            raise CommandError("--dsn is required (or use --list)", returncode=EXIT_ERROR)
        params = self._params(options["params"])
        only = [o for o in options["only"].split(",") if o.strip()] or None
        try:
            results = list(
                iter_probes(
                    options["dsn"],
                    only=only,
                    params=params,
                    statement_timeout_ms=options["statement_timeout_ms"],
                    connect_timeout_s=options["connect_timeout_s"],
                )
            )
        except ProbeConnectionError as exc:
            raise CommandError(str(exc), returncode=EXIT_ERROR) from None
        except ValueError as exc:
            raise CommandError(str(exc), returncode=EXIT_ERROR) from None
        if options["format"] == "json":
            self.stdout.write(json.dumps([r.as_json() for r in results], indent=2))
        else:
            self.stdout.write(self._text(results))
        if blocking(results):
            sys.exit(EXIT_BLOCKING)

    def _params(self, raw: str) -> dict[str, dict]:
        if not raw:
            return {}
        try:
            params = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--params is not valid JSON: {exc}", returncode=EXIT_ERROR) from None
        if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
            raise CommandError('--params must map probe ids (or "*") to objects', returncode=EXIT_ERROR)
        return params

    def _list(self, fmt: str) -> None:
        probes = all_probes()
        if fmt == "json":
            rows = [
                {
                    "id": p.id,
                    "category": p.category,
                    "severity": p.severity,
                    "title": p.title,
                    "params": p.params,
                }
                for p in probes
            ]
            self.stdout.write(json.dumps(rows, indent=2))
            return
        width = max(len(p.id) for p in probes)
        for p in probes:
            self.stdout.write(f"{p.id:<{width}}  {p.category:<13}  {p.severity}  {p.title}")
        self.stdout.write(f"{len(probes)} probes")

    def _text(self, results: list[Result]) -> str:
        lines: list[str] = []
        width = max((len(r.probe_id) for r in results), default=10)
        for category in sorted({r.category for r in results}):
            lines.append(f"\n{category}")
            for r in (r for r in results if r.category == category):
                lines.append(f"  {_MARK[r.status.value]}  {r.severity}  {r.probe_id:<{width}}  {r.summary}")
                for item in r.items[:5]:
                    lines.append(f"          - {item.object}: {item.message}")
                if len(r.items) > 5:
                    lines.append(f"          ... and {len(r.items) - 5} more")
                if r.status is Status.SKIPPED and r.fix:
                    lines.append(f"          fix: {r.fix}")
        tally = Counter(r.status.value for r in results)
        counts = ", ".join(f"{tally.get(s.value, 0)} {s.value}" for s in Status)
        blockers = blocking(results)
        verdict = f"{len(blockers)} P0/P1 probe(s) failed" if blockers else "no P0/P1 probe failed"
        lines.append(f"\n{len(results)} probes: {counts}; {verdict}")
        return "\n".join(lines)
