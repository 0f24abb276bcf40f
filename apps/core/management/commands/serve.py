"""`manage.py serve`: the whole platform in one process, ready to use.

1. Apply migrations (every start: `migrate` is idempotent).
2. Create the admin user on first start; print a fresh one-time sign-in link.
3. Write the client's `default` profile with a fresh token.
4. Serve web pages, the API and websockets, with a Celery worker and beat on
   threads, until SIGINT or SIGTERM.

Whatever of the database, storage and Redis is not configured falls back to
SQLite and files under `DSTACK_DATA_DIR` and an in-process broker.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from apps.core.errors import InvalidInput
from apps.core.runtime.first_start import admin_ensure, backends_describe
from apps.core.runtime.process import EmbeddedRuntime
from apps.core.runtime.profile import ProfileOutcome, config_path, profile_write
from apps.users.links import sign_in_link_create
from dstack_platform import config

logger = logging.getLogger(__name__)

# A server bound to every interface is reached locally through the loopback.
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}

DEFAULT_ADMIN = "admin"


class Command(BaseCommand):
    help = "Run the web server, a Celery worker and beat in one process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=settings.HOST,
            help="Address to listen on (default: DSTACK_HOST or 127.0.0.1).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=None,
            help="TCP port to listen on (default: DSTACK_PORT or 8080).",
        )
        parser.add_argument(
            "--access-log",
            action="store_true",
            help="Log every HTTP request.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"] or settings.PORT
        if not 0 < port < 65536:
            raise CommandError(f"--port must be 1 to 65535, not {port}")
        _follow_address(host, port)
        if settings.STATIC_ROOT and not Path(settings.STATIC_ROOT).is_dir():
            # Nothing was collected: WhiteNoise serves from the finders
            # (WHITENOISE_USE_FINDERS), and would warn about the empty root.
            settings.STATIC_ROOT = None

        runtime = EmbeddedRuntime(
            host=host, port=port, access_log=options["access_log"]
        )
        try:
            runtime.bind()
        except OSError as error:
            raise CommandError(
                f"cannot listen on {host}:{port}: {error.strerror or error}; "
                "stop what uses it or choose another port with --port"
            ) from None

        call_command("migrate", interactive=False, verbosity=0)

        username = config.text("DSTACK_ADMIN_USER", DEFAULT_ADMIN)
        assert username is not None
        try:
            admin, created = admin_ensure(username)
        except InvalidInput as error:
            raise CommandError(
                f"DSTACK_ADMIN_USER is invalid: {error.message}"
            ) from None
        link = settings.PUBLIC_URL + reverse(
            "sign-in-link", kwargs={"token": sign_in_link_create(user=admin)}
        )

        try:
            profile = profile_write(
                path=config_path(config.text("DSTACK_CONFIG")),
                server=settings.PUBLIC_URL + "/api",
                user=admin,
            )
        except (OSError, ValueError) as error:
            raise CommandError(
                f"the client profile could not be written: {error}"
            ) from None

        def banner() -> None:
            self._print_banner(
                admin_name=admin.username,
                admin_created=created,
                link=link,
                profile=profile,
            )

        runtime.on_started = banner
        runtime.run()
        self.stdout.write("dstack stopped.")

    def _print_banner(
        self,
        *,
        admin_name: str,
        admin_created: bool,
        link: str,
        profile: ProfileOutcome,
    ) -> None:
        backends = backends_describe()
        admin_note = " (created now)" if admin_created else ""
        lines = [
            "",
            f"dstack is running at {settings.PUBLIC_URL}",
            "",
            f"  data dir   {settings.DATA_DIR}",
            f"  database   {backends.database}",
            f"  storage    {backends.storage}",
            f"  broker     {backends.broker}",
            f"  admin      {admin_name}{admin_note}",
            "",
            "Sign in as the admin with this one-time link (valid for 24 hours):",
            f"  {link}",
            "",
        ]
        if profile.written:
            lines.append(f"Client profile 'default' written to {profile.path}")
        else:
            lines += [
                f"The 'default' profile in {profile.path} is for another server;",
                "add one for this server with:",
                f"  {profile.command}",
            ]
        lines += ["", "Press Ctrl-C to stop.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


def _follow_address(host: str, port: int) -> None:
    """Point `settings.PUBLIC_URL` at `host:port` unless DSTACK_PUBLIC_URL set it.

    Settings are loaded before a command parses its options, so the URL that
    base settings derived from DSTACK_HOST and DSTACK_PORT is updated here.
    Links in API responses read `settings.PUBLIC_URL` at request time.
    """
    if config.text("DSTACK_PUBLIC_URL"):
        return
    shown_host = "127.0.0.1" if host in WILDCARD_HOSTS else host
    if ":" in shown_host:
        shown_host = f"[{shown_host}]"
    settings.PUBLIC_URL = f"http://{shown_host}:{port}"
