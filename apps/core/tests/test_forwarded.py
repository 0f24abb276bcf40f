"""The client's address behind trusted reverse proxies."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from django.test import Client

from apps.audit.models import AuditEvent
from apps.core.forwarded import client_address

TRUSTED = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1")]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "expected"),
    [
        # One proxy in front: the entry it appended is the client.
        ("10.0.0.5", "203.0.113.7", "203.0.113.7"),
        # Two proxies, both trusted: skip the inner one's entry.
        ("10.0.0.5", "203.0.113.7, 10.0.0.9", "203.0.113.7"),
        # A client that sent its own header: only the proxy's entry counts.
        ("10.0.0.5", "198.51.100.1, 203.0.113.7", "203.0.113.7"),
        ("::1", "2001:db8::1", "2001:db8::1"),
        ("10.0.0.5", "10.0.0.7, 10.0.0.9", "10.0.0.7"),
        # Nothing to believe.
        ("203.0.113.50", "198.51.100.1", None),
        ("10.0.0.5", "", None),
        ("10.0.0.5", "198.51.100.1, not-an-address", None),
    ],
)
def test_client_address_cases(
    peer: str, forwarded_for: str, expected: str | None
) -> None:
    assert client_address(peer, forwarded_for, TRUSTED) == expected


def client_from(settings: Any, **headers: str) -> Client:
    settings.DSTACK_TRUSTED_PROXIES = TRUSTED
    return Client(**headers)


def test_audit_records_the_forwarded_address(owner, acme, settings):
    client = client_from(settings, REMOTE_ADDR="10.0.0.5")
    client.force_login(owner)

    client.post(
        "/settings/tokens",
        {"name": "ci", "scope": "read", "team": "acme"},
        HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7",
    )

    event = AuditEvent.objects.get(action="token.created")
    assert event.ip_address == "203.0.113.7"


def test_untrusted_peer_cannot_choose_its_address(owner, acme, settings):
    client = client_from(settings, REMOTE_ADDR="192.0.2.60")
    client.force_login(owner)

    client.post(
        "/settings/tokens",
        {"name": "ci", "scope": "read", "team": "acme"},
        HTTP_X_FORWARDED_FOR="203.0.113.7",
    )

    event = AuditEvent.objects.get(action="token.created")
    assert event.ip_address == "192.0.2.60"
