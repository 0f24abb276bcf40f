"""Failed sign-in limits, on top of django-axes.

axes counts failed sign-ins in the database per attempted user name and per
client address (`AXES_LOCKOUT_PARAMETERS` in the settings) and refuses
further attempts of a locked-out name or address until the cool-off ends.
This module adapts it to this server: which name a sign-in attempted, and
what a refused sign-in returns.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

LOCKED_OUT_MESSAGE = (
    "Too many failed sign-ins for this account or from this address. "
    "Try again in {minutes} minutes, or ask an administrator to unlock it."
)


class LockoutBackend(AxesStandaloneBackend):
    """The axes check, skipped when there is no request to check.

    The test client's `login()` and management commands authenticate without
    a request, which `AxesStandaloneBackend` rejects with an error. Those
    calls do not come from the network, so there is nothing to rate-limit.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)  # type: ignore[no-any-return]


def attempted_username(
    request: HttpRequest, credentials: dict[str, Any] | None
) -> str | None:
    """Return the account name that a sign-in attempt names.

    Django's sign-in form sends `username`; django-allauth's sends `login`
    and authenticates with `username` or `email`. Names are compared in
    lower case, so `Alice` and `alice` share one count, and an email address
    counts as the user name of its account.
    """
    sources: list[Any] = [credentials or {}, getattr(request, "POST", {})]
    for source in sources:
        for field in ("username", "email", "login"):
            value = source.get(field)
            if isinstance(value, str) and value.strip():
                return _account_name(value.strip().lower())
    return None


def _account_name(login: str) -> str:
    """Map an email address to its account's user name.

    One account may sign in by name or by email; counting both under the
    name keeps an attacker from getting a fresh set of guesses per spelling.
    """
    if "@" not in login:
        return login
    from django.contrib.auth import get_user_model

    username = (
        get_user_model()
        .objects.filter(email__iexact=login)
        .values_list("username", flat=True)
        .first()
    )
    return username.lower() if username else login


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return LOCKED_OUT_MESSAGE.format(minutes=minutes)


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """Return a 429 for a sign-in refused by the lockout.

    A browser gets a page with the message and a link back to the sign-in
    page. A caller that asked for JSON gets the API's error format.
    """
    message = lockout_message()
    accepts = request.headers.get("Accept", "")
    if "application/json" in accepts and "text/html" not in accepts:
        body = {"error": {"code": "locked_out", "message": message, "field": None}}
        response: HttpResponse = JsonResponse(body, status=429)
    else:
        response = render(
            request,
            "audit/locked_out.html",
            {"message": message, "next": request.POST.get("next", "")},
            status=429,
        )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
