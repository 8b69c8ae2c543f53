"""Set up the test provider: `idp client ID SECRET REDIRECT_URI` (one confidential RS256 client) and
`idp user NAME PASSWORD [GROUP ...]` (a user whose groups are exactly those named)."""

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from oauth2_provider.models import Application


class Command(BaseCommand):
    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="what", required=True)
        client = sub.add_parser("client")
        client.add_argument("client_id")
        client.add_argument("secret")
        client.add_argument("redirect_uri")
        user = sub.add_parser("user")
        user.add_argument("username")
        user.add_argument("password")
        user.add_argument("groups", nargs="*")

    def handle(self, *args, what, **options):
        if what == "client":
            Application.objects.update_or_create(
                client_id=options["client_id"],
                defaults={
                    "name": "Readiness",
                    "client_secret": options["secret"],
                    "client_type": Application.CLIENT_CONFIDENTIAL,
                    "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
                    "redirect_uris": options["redirect_uri"],
                    "algorithm": Application.RS256_ALGORITHM,
                    "skip_authorization": True,
                },
            )
        else:
            user, _ = User.objects.get_or_create(username=options["username"])
            user.email = f"{user.username}@acme.test"
            user.set_password(options["password"])
            user.save()
            user.groups.set([Group.objects.get_or_create(name=g)[0] for g in options["groups"]])
