"""The management commands a deployment runs: migrate, wait, create the admin."""

from __future__ import annotations

import dataclasses
import io
import re
import uuid
from urllib.parse import urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.test import Client

from apps.artifacts import storage as storage_module
from apps.core.runtime import database
from apps.users.models import Membership, Role, Team, User
from tests.cast import user_make

LINK = re.compile(r"(https?://\S+/accounts/link/\S+)")


def run(*arguments: str) -> str:
    output = io.StringIO()
    call_command(*arguments, stdout=output)
    return output.getvalue()


def test_migrate_when_ready_finds_nothing_to_apply_on_a_migrated_database(db):
    assert "No migrations to apply." in run("migrate_when_ready", "--timeout=5")


def test_migrate_when_ready_creates_a_missing_bucket(db, settings, s3_server):
    bucket = f"dstack-new-{uuid.uuid4().hex[:12]}"
    settings.STORAGE = dataclasses.replace(settings.STORAGE, bucket=bucket)
    storage_module.get_storage.cache_clear()

    output = run("migrate_when_ready", "--timeout=5", "--create-bucket")

    assert f"Bucket {bucket} is ready." in output
    s3_server.client().head_bucket(Bucket=bucket)


def test_migrate_when_ready_rejects_create_bucket_on_files(db, filesystem_storage):
    with pytest.raises(CommandError, match="needs S3 storage"):
        run("migrate_when_ready", "--timeout=5", "--create-bucket")


def test_wait_for_migrations_returns_on_a_migrated_database(db):
    assert "Every migration is applied." in run("wait_for_migrations", "--timeout=5")


def test_waiting_gives_up_naming_the_last_error():
    attempts = []

    def broken() -> bool:
        attempts.append(1)
        raise OperationalError("connection refused")

    with pytest.raises(database.DatabaseTimeout, match="connection refused"):
        database._wait(broken, timeout=0, what="x", sleep=lambda seconds: None)
    assert attempts == [1]


def test_waiting_retries_until_the_condition_holds():
    answers = iter([False, False, True])
    sleeps = []

    database._wait(
        lambda: next(answers), timeout=60, what="not yet", sleep=sleeps.append
    )

    assert sleeps == [database.POLL_SECONDS, database.POLL_SECONDS]


def test_createadmin_creates_a_staff_user_with_a_personal_team(db):
    output = run("createadmin", "root", "--email", "root@example.com")

    user = User.objects.get(username="root")
    assert user.is_staff
    assert user.is_superuser
    assert user.email == "root@example.com"
    assert not user.has_usable_password()
    team = Team.objects.get(name="root")
    assert Membership.objects.get(team=team, user=user).role == Role.OWNER
    assert "Created staff user root." in output


def test_createadmin_prints_a_link_that_signs_the_admin_in(db):
    output = run("createadmin", "root")
    link = LINK.search(output)
    assert link is not None, output

    browser = Client()
    response = browser.get(urlsplit(link.group(1)).path)

    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(User.objects.get(username="root").pk)


def test_createadmin_prints_a_new_link_for_an_existing_admin(db):
    run("createadmin", "root")

    output = run("createadmin", "root")

    assert "Created" not in output
    assert LINK.search(output)


def test_createadmin_rejects_an_existing_user_who_is_not_staff(db):
    user_make("carol")

    with pytest.raises(CommandError, match="carol exists and is not staff"):
        run("createadmin", "carol")


def test_createadmin_rejects_an_invalid_name(db):
    with pytest.raises(CommandError):
        run("createadmin", "-")
