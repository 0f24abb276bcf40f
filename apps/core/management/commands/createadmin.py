"""`manage.py createadmin NAME`: the first staff user of a deployment.

Django's `createsuperuser` would make a user without the personal team
every account here has, and asks for a password on a terminal that a
container rarely has. This command creates the account through
`user_create`, without a password, and prints a one-time sign-in link; the
admin sets a password or connects single sign-on after signing in.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from apps.core.errors import InvalidInput
from apps.users.links import sign_in_link_create
from apps.users.models import User
from apps.users.services import user_create


class Command(BaseCommand):
    help = (
        "Create a staff user with a personal team and print a one-time sign-in "
        "link; for an existing staff user, print a new link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The admin's user name.")
        parser.add_argument("--email", default="", help="The admin's email address.")
        parser.add_argument(
            "--hours",
            type=int,
            default=24,
            help="Hours the sign-in link stays valid (default: 24).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        if options["hours"] < 1:
            raise CommandError("--hours must be at least 1")

        user = User.objects.filter(username=username).first()
        if user is None:
            try:
                user = user_create(
                    username=username,
                    password=None,
                    email=options["email"],
                    is_staff=True,
                )
            except InvalidInput as error:
                raise CommandError(error.message) from None
            self.stdout.write(f"Created staff user {username}.")
        elif not user.is_staff:
            raise CommandError(
                f"{username} exists and is not staff: make them staff in the admin "
                "console, or choose another name"
            )

        token = sign_in_link_create(
            user=user, lifetime=timedelta(hours=options["hours"])
        )
        link = settings.PUBLIC_URL + reverse("sign-in-link", kwargs={"token": token})
        self.stdout.write(
            f"Sign in as {username} with this one-time link "
            f"(valid for {options['hours']} hours):\n  {link}"
        )
