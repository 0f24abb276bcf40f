"""Walk the URL configuration, so the access matrix covers every route.

Routes are named the way Django's resolver names them in
`ResolverMatch.route`: the routes of the nested includes joined, with the
leading `^` of an included regex dropped. `resolve(url).route` of a concrete
URL therefore equals the walked route of the pattern it hits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# Route prefixes the matrix does not walk, each with the reason.
EXCLUDED = {
    # The Django admin decides access with its own staff check
    # (AdminSite.has_permission), and its dozens of model pages are
    # Django's code, not ours.
    "-/admin/": "the Django admin, guarded by Django's staff check",
    # allauth's callback is where the provider redirects back to, with the
    # state allauth saved in the session when the sign-in started.
    # apps/users/tests/test_oidc.py drives it against a fake provider.
    "accounts/oidc/(?P<provider_id>[^/]+)/login/callback/": (
        "allauth's OpenID Connect callback, tested against a fake provider"
    ),
}
# Static files have no URL pattern to walk: WhiteNoise's middleware serves
# them before URL resolution, and they are public.


@dataclass(frozen=True)
class Route:
    route: str
    name: str | None


def _join(prefix: str, route: str) -> str:
    # The same join as URLResolver._join_route, so that routes compare
    # equal to ResolverMatch.route.
    if not prefix:
        return route
    return prefix + route.removeprefix("^")


def _walk(resolver: URLResolver, prefix: str) -> Iterator[Route]:
    for pattern in resolver.url_patterns:
        route = _join(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield Route(route=route, name=pattern.name)


def excluded_reason(route: str) -> str | None:
    for prefix, reason in EXCLUDED.items():
        if route.startswith(prefix):
            return reason
    return None


def walked_routes() -> list[Route]:
    """Return every route of the URL configuration that the matrix must cover."""
    return [
        found
        for found in _walk(get_resolver(), "")
        if excluded_reason(found.route) is None
    ]
