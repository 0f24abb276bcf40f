"""Setup by `manage.py serve`: sign-in links, client profile, admin, public URL.

tests/e2e/test_serve.py tests the process itself (uvicorn, the worker and beat
threads, signals) end to end.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from django.test import Client
from django.utils import timezone

from apps.core.errors import NotFound
from apps.core.management.commands.serve import _follow_address
from apps.core.runtime.first_start import admin_ensure
from apps.core.runtime.profile import (
    COMMAND_TOKEN_NAME,
    PROFILE_TOKEN_NAME,
    profile_write,
)
from apps.users.authentication import authenticate_token
from apps.users.links import sign_in_link_create, sign_in_link_redeem
from apps.users.models import ApiToken, Membership, Role, User

SERVER = "http://127.0.0.1:8080/api"


# Sign-in links


def test_sign_in_link_works_once(owner: User, django_assert_num_queries: Any) -> None:
    token = sign_in_link_create(user=owner)

    with django_assert_num_queries(2):
        assert sign_in_link_redeem(token=token) == owner
    with pytest.raises(NotFound):
        sign_in_link_redeem(token=token)


def test_sign_in_link_rejects_a_tampered_token(owner: User) -> None:
    token = sign_in_link_create(user=owner)
    secret, stamp, signature = token.split(":")

    with pytest.raises(NotFound):
        sign_in_link_redeem(token=f"{secret}x:{stamp}:{signature}")
    with pytest.raises(NotFound):
        sign_in_link_redeem(token="not-a-token")


def test_sign_in_link_expires(owner: User) -> None:
    token = sign_in_link_create(user=owner, lifetime=timedelta(minutes=5))
    later = timezone.now() + timedelta(minutes=6)

    clock = mock.patch("apps.users.links.timezone.now", return_value=later)
    with clock, pytest.raises(NotFound):
        sign_in_link_redeem(token=token)


def test_sign_in_link_replaced_by_newer(owner: User) -> None:
    older = sign_in_link_create(user=owner)
    newer = sign_in_link_create(user=owner)

    with pytest.raises(NotFound):
        sign_in_link_redeem(token=older)
    assert sign_in_link_redeem(token=newer) == owner


def test_sign_in_link_rejects_an_inactive_user(owner: User) -> None:
    token = sign_in_link_create(user=owner)
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    with pytest.raises(NotFound):
        sign_in_link_redeem(token=token)


def test_sign_in_link_page_signs_in(owner: User) -> None:
    browser = Client()
    token = sign_in_link_create(user=owner)

    response = browser.get(f"/accounts/link/{token}")

    assert response.status_code == 302
    assert response["Location"] == "/alice"
    assert browser.get("/api/user").json()["username"] == "alice"


def test_sign_in_link_page_used_link_404(owner: User) -> None:
    token = sign_in_link_create(user=owner)
    Client().get(f"/accounts/link/{token}")

    response = Client().get(f"/accounts/link/{token}")

    assert response.status_code == 404
    assert b"start the server again" in response.content


# The client profile


def _read(path: Path) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def test_profile_write_creates_the_file(owner: User, tmp_path: Path) -> None:
    path = tmp_path / "home" / ".dstack" / "config.yaml"

    outcome = profile_write(path=path, server=SERVER, user=owner)

    assert outcome.written
    profile = _read(path)["profiles"]["default"]
    assert profile["server"] == SERVER
    assert profile["user"] == "alice"
    assert authenticate_token(profile["token"]).user == owner
    assert path.stat().st_mode & 0o777 == 0o600


def test_profile_write_keeps_other_profiles_and_keys(
    owner: User, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    other = {"server": "https://dstack.example.com/api", "user": "me", "token": "x"}
    path.write_text(
        yaml.safe_dump(
            {
                "profiles": {
                    "default": {
                        "server": SERVER,
                        "user": "alice",
                        "token": "old",
                        "team": "acme",
                    },
                    "work": other,
                },
                "editor": "vim",
            }
        )
    )

    profile_write(path=path, server=SERVER, user=owner)

    data = _read(path)
    assert data["editor"] == "vim"
    assert data["profiles"]["work"] == other
    assert data["profiles"]["default"]["team"] == "acme"
    assert data["profiles"]["default"]["token"] != "old"


def test_profile_write_revokes_the_token_it_wrote_before(
    owner: User, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    profile_write(path=path, server=SERVER, user=owner)
    first = _read(path)["profiles"]["default"]["token"]

    profile_write(path=path, server=SERVER, user=owner)

    second = _read(path)["profiles"]["default"]["token"]
    assert second != first
    active = ApiToken.objects.filter(
        user=owner, name=PROFILE_TOKEN_NAME, revoked_at=None
    )
    assert active.count() == 1
    assert authenticate_token(second).user == owner


def test_profile_write_leaves_a_default_for_another_server(
    owner: User, tmp_path: Path
) -> None:
    path = tmp_path / "config.yaml"
    text = yaml.safe_dump(
        {
            "profiles": {
                "default": {"server": "https://dstack.example.com/api", "token": "x"}
            }
        }
    )
    path.write_text(text)

    outcome = profile_write(path=path, server=SERVER, user=owner)

    assert not outcome.written
    assert path.read_text() == text
    assert outcome.command is not None
    assert outcome.command.startswith(
        f"dstack config add local --server {SERVER} --user alice"
    )
    secret = outcome.command.split("--token ", 1)[1]
    assert authenticate_token(secret).user == owner


def test_profile_write_keeps_used_printed_token(owner: User, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump({"profiles": {"default": {"server": "https://x.example/api"}}})
    )
    unused = profile_write(path=path, server=SERVER, user=owner).command
    used = profile_write(path=path, server=SERVER, user=owner).command
    assert unused is not None and used is not None
    authenticate_token(used.split("--token ", 1)[1])

    profile_write(path=path, server=SERVER, user=owner)

    printed = ApiToken.objects.filter(user=owner, name=COMMAND_TOKEN_NAME)
    assert printed.count() == 3
    assert printed.filter(revoked_at=None).count() == 2
    assert printed.get(last_used_at__isnull=False).revoked_at is None


def test_profile_write_rejects_non_mapping_file(owner: User, tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("- a list\n")

    with pytest.raises(ValueError, match="not a YAML mapping"):
        profile_write(path=path, server=SERVER, user=owner)
    assert path.read_text() == "- a list\n"


# The admin and the public URL


def test_admin_ensure_creates_a_superuser(db: Any) -> None:
    admin, created = admin_ensure("dstack")

    assert created
    assert admin.is_staff
    assert admin.is_superuser
    assert not admin.has_usable_password()
    membership = Membership.objects.get(user=admin)
    assert membership.team.name == "dstack"
    assert membership.role == Role.OWNER


def test_admin_ensure_returns_the_existing_admin(db: Any) -> None:
    first, _ = admin_ensure("dstack")

    again, created = admin_ensure("dstack")

    assert not created
    assert again == first
    assert User.objects.count() == 1


def test_public_url_follows_the_port_option(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DSTACK_PUBLIC_URL", raising=False)

    _follow_address("127.0.0.1", 9090)
    assert settings.PUBLIC_URL == "http://127.0.0.1:9090"

    _follow_address("0.0.0.0", 9091)
    assert settings.PUBLIC_URL == "http://127.0.0.1:9091"


def test_public_url_keeps_the_configured_one(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSTACK_PUBLIC_URL", "https://dstack.example.com")
    settings.PUBLIC_URL = "https://dstack.example.com"

    _follow_address("127.0.0.1", 9090)

    assert settings.PUBLIC_URL == "https://dstack.example.com"
