"""The checklist catalogue as code, from the command line (for pipelines that keep the file in git):

    manage.py catalogue export [--version N] [--output FILE]
    manage.py catalogue check FILE
    manage.py catalogue import FILE --as ADMIN_USERNAME [--draft]
    manage.py catalogue diff FROM TO
    manage.py catalogue schema

`check` and `import` print every problem with its place in the file and exit 1; `import` stores nothing
then. The import is audited under the named installation admin."""

from __future__ import annotations

import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from reviews.catalogue import as_code
from reviews.catalogue import services as catalogue_services
from reviews.models import CatalogueVersion


def _version(number: int | None) -> CatalogueVersion:
    versions = CatalogueVersion.objects.all()
    version = versions.filter(number=number).first() if number else versions.order_by("-number").first()
    if version is None:
        raise CommandError(f"No catalogue version {number}." if number else "No catalogue version yet.")
    return version


def _read(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CommandError(f"Cannot read {path}: {e}") from None


class Command(BaseCommand):
    help = "Export, check, import and compare checklist catalogue versions as YAML."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Print a version as YAML (the newest by default).")
        export.add_argument("--version", type=int, dest="number")
        export.add_argument("--output", "-o")
        check = sub.add_parser("check", help="Check a file; print every problem.")
        check.add_argument("file")
        imp = sub.add_parser("import", help="Import a file as a new version.")
        imp.add_argument("file")
        imp.add_argument("--as", dest="username", required=True, help="The installation admin doing it.")
        imp.add_argument("--draft", action="store_true", help="Keep it unpublished.")
        diff = sub.add_parser("diff", help="What changes from one version to another.")
        diff.add_argument("old", type=int)
        diff.add_argument("new", type=int)
        sub.add_parser("schema", help="Print the file's JSON Schema.")

    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    def _export(self, *, number=None, output=None, **_):
        text = as_code.export_yaml(_version(number))
        if output:
            with open(output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            self.stdout.write(text, ending="")

    def _problems(self, problems) -> None:
        for problem in problems:
            self.stderr.write(str(problem))
        raise CommandError(f"{len(problems)} problem{'s' if len(problems) != 1 else ''}; nothing imported.")

    def _check(self, *, file, **_):
        _, problems = as_code.read(_read(file))
        if problems:
            self._problems(problems)
        self.stdout.write("The file can be imported.")

    def _import(self, *, file, username, draft=False, **_):
        user = get_user_model().objects.filter(username=username).first()
        if user is None or not catalogue_services.may_edit(user):
            raise CommandError(f"{username!r} is not an installation admin (is_staff) of this installation.")
        try:
            version = catalogue_services.import_catalogue(text=_read(file), publish=not draft, actor=user)
        except catalogue_services.CatalogueProblems as e:
            self._problems(e.problems)
        state = "published" if version.published else "a draft"
        self.stdout.write(f"Imported as version {version.number} ({version.label}), {state}.")

    def _diff(self, *, old, new, **_):
        changes = as_code.diff(as_code.version_data(_version(old)), as_code.version_data(_version(new)))
        if not changes:
            self.stdout.write("No differences.")
        for c in changes:
            self.stdout.write(f"{c.kind:8} {c.what:8} {c.code}: {'; '.join(c.details)}")

    def _schema(self, **_):
        self.stdout.write(json.dumps(as_code.SCHEMA, indent=2))
