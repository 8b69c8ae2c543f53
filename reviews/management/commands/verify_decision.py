"""Recompute a decision record's digest and say "matches" or exactly which fields differ."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from reviews import records
from reviews.models import Decision


class Command(BaseCommand):
    help = (
        "Verify a stored decision: recompute the SHA-256 of its record, check its columns and its link to "
        "the system's previous decision. With --file, compare a record file (the JSON download, or the bare "
        "record) with the stored decision, field by field. Exits 1 when anything differs."
    )

    def add_arguments(self, parser):
        parser.add_argument("decision_id", type=int, help="The decision's number.")
        parser.add_argument("--file", type=Path, help="A record file to compare with the stored decision.")

    def handle(self, *args, decision_id: int, file: Path | None = None, **options):
        decision = Decision.objects.select_related("system").filter(pk=decision_id).first()
        if decision is None:
            raise CommandError(f"There is no decision {decision_id}.")
        when = f"{decision.recorded_at:%Y-%m-%d %H:%M %Z}"
        self.stdout.write(f"Decision {decision.pk} of {decision.system.name}, recorded {when}")
        results = [("stored record", records.verify_stored(decision))]
        if file is not None:
            try:
                record, claimed = records.parse_record_file(file.read_bytes())
            except OSError as err:
                raise CommandError(f"Cannot read {file}: {err}") from None
            except records.RecordError as err:
                raise CommandError(f"{file}: {err}") from None
            results.append((str(file), records.verify_given(record, claimed=claimed, decision=decision)))
        for label, result in results:
            self.stdout.write(f"{label}:")
            style = self.style.SUCCESS if result.matches else self.style.ERROR
            for line in result.lines():
                self.stdout.write(style(f"  {line}") if line == result.lines()[0] else f"  {line}")
        if not all(result.matches for _, result in results):
            raise CommandError("the record does not match", returncode=1)
