"""Fixtures of the registry's tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.users.models import User


@pytest.fixture
def page_client(owner: User, acme: Any) -> Client:
    client = Client()
    client.force_login(owner)
    return client
