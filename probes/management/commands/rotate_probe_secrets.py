"""`python manage.py rotate_probe_secrets`: re-encrypt every probe target's password with the first key."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from probes import crypto
from probes.models import ProbeTarget
from reviews import audit


class Command(BaseCommand):
    help = (
        "Re-encrypt every probe target's password with the first key of PROBE_ENCRYPTION_KEYS "
        "(key rotation). To rotate: generate a key (python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'), put it FIRST in PROBE_ENCRYPTION_KEYS and keep the old "
        "keys after it (comma-separated), restart the web app and workers, run this command, then remove "
        "the old keys. Targets saved before any key was set (under the key derived from SECRET_KEY) are "
        "moved to the first key the same way. Secrets are never printed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Check that every secret decrypts; change nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        rotated, unreadable = 0, []
        for pk in (
            ProbeTarget.objects.exclude(password_encrypted="").order_by("pk").values_list("pk", flat=True)
        ):
            with transaction.atomic():
                target = ProbeTarget.objects.select_for_update().get(pk=pk)
                try:
                    token = crypto.rotate(target.password_encrypted)
                except crypto.InvalidToken:
                    unreadable.append(f"#{target.pk} {target}")
                    continue
                if dry_run:
                    continue
                ProbeTarget.objects.filter(pk=pk).update(password_encrypted=token)
                audit.record(actor=None, action="probe_target.rotate_secret", obj=target)
                rotated += 1
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        count = (
            ProbeTarget.objects.exclude(password_encrypted="").count() - len(unreadable)
            if dry_run
            else rotated
        )
        self.stdout.write(f"{verb} {count} probe target secret(s) with the first key.")
        if unreadable:
            raise CommandError(
                "No configured key decrypts these targets (was an old key removed too early?); "
                "put the old key back, or enter their connections again: " + "; ".join(unreadable)
            )
