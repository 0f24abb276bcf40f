"""Setup for `manage.py serve` before it serves: the admin and the banner."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from apps.users.models import User
from apps.users.services import user_create


def admin_ensure(username: str) -> tuple[User, bool]:
    """Return the admin user, created with a personal team on first start.

    The admin gets no password: the printed sign-in link signs them in, and
    they may set one in the admin console. An existing user of that name is
    returned as it is, so an admin demoted on purpose stays demoted.
    """
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user, False
    return user_create(username=username, password=None, is_staff=True), True


@dataclass(frozen=True)
class Backends:
    """Backend names for the start banner: database, storage and broker."""

    database: str
    storage: str
    broker: str


def backends_describe() -> Backends:
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database_text = f"SQLite ({database['NAME']})"
    else:
        database_text = f"PostgreSQL ({database.get('HOST') or 'local socket'})"

    storage = settings.STORAGE
    if storage.backend == "filesystem":
        storage_text = f"files ({storage.root})"
    else:
        storage_text = f"S3 (bucket {storage.bucket}, {storage.endpoint_url or 'AWS'})"

    if settings.CELERY_BROKER_URL.startswith("memory://"):
        broker_text = "in-process (memory:// broker, in-memory channel layer)"
    else:
        broker_text = "Redis (broker and channel layer)"
    return Backends(database=database_text, storage=storage_text, broker=broker_text)
