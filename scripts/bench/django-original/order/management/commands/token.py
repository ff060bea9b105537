"""Prints an access token for user 1, as bench.env's BASELINE_TOKEN (TEST-ONLY)."""
from datetime import datetime, timezone

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from rest_framework_simplejwt.tokens import AccessToken


class Command(BaseCommand):
    help = "Prints a JWT for user 1, valid until --until (default 2100-01-01)."

    def add_arguments(self, parser):
        parser.add_argument("--until", default="2100-01-01", help="expiry date, YYYY-MM-DD (UTC)")

    def handle(self, *args, **options):
        until = datetime.strptime(options["until"], "%Y-%m-%d").replace(tzinfo=timezone.utc)
        token = AccessToken.for_user(User(id=1, username="bench"))
        token["exp"] = int(until.timestamp())
        self.stdout.write(str(token))
