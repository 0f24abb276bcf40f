"""The client's address behind trusted reverse proxies.

Behind a load balancer or an ingress, REMOTE_ADDR is the proxy's address,
so the audit log, the sign-in lockout and the throttles would count every
person as one. A request whose peer is in `DSTACK_TRUSTED_PROXIES` has
REMOTE_ADDR replaced by the client address from `X-Forwarded-For`, which is
the right-most entry that is not itself a trusted proxy. Each proxy appends
the address it received the request from, so only the entries that trusted
proxies added can be believed. The peer's own address stays in
`request.META[PEER_ADDRESS]`, where the proxy-user check reads it.

A request from any other peer keeps its REMOTE_ADDR, so a client that
reaches the server directly cannot choose its address with the header.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from django.conf import settings
from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin

PEER_ADDRESS = "DSTACK_PEER_ADDR"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_trusted_proxy(address: str | None) -> bool:
    """Return whether `address` is one of `DSTACK_TRUSTED_PROXIES`."""
    return _is_in(address, settings.DSTACK_TRUSTED_PROXIES)


def _is_in(address: str | None, networks: Sequence[Network]) -> bool:
    if not address:
        return False
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_address(
    peer: str, forwarded_for: str, trusted: Sequence[Network]
) -> str | None:
    """Return the client address that trusted proxies forwarded, or None.

    `forwarded_for` is the `X-Forwarded-For` value. None means there is
    nothing to believe: the peer is not trusted, the header is missing, or
    its last untrusted entry is not an IP address.
    """
    if not forwarded_for or not _is_in(peer, trusted):
        return None
    for entry in reversed(forwarded_for.split(",")):
        candidate = entry.strip()
        if _is_in(candidate, trusted):
            continue
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            return None
    # Every entry is a trusted proxy: the left-most is the nearest to the
    # client that can be named.
    return forwarded_for.split(",")[0].strip() or None


class ClientAddressMiddleware(MiddlewareMixin):
    """Put the forwarded client address in REMOTE_ADDR; keep the peer's aside."""

    def process_request(self, request: HttpRequest) -> None:
        peer = request.META.get("REMOTE_ADDR") or ""
        request.META[PEER_ADDRESS] = peer
        forwarded = client_address(
            peer,
            request.META.get("HTTP_X_FORWARDED_FOR", ""),
            settings.DSTACK_TRUSTED_PROXIES,
        )
        if forwarded is not None:
            request.META["REMOTE_ADDR"] = forwarded
