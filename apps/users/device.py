"""`dstack login`: the device authorization flow, and the page that approves it.

1. `POST /api/auth/device` gives the CLI a device code, which it keeps, and
   a short user code, which it prints with the URL of `/auth/device`.
2. The person signs in there, checks the code, picks the token's scope and
   team limit, and approves (or denies).
3. The CLI polls `POST /api/auth/device/token` with the device code. Until
   the approval it gets `authorization_pending`, and `slow_down` when it
   polls faster than the interval. After it, one poll gets a new API token.

The flow follows OAuth 2.0 Device Authorization Grant (RFC 8628) in its
steps and error codes, with this API's JSON shapes. Codes expire after
`DEVICE_CODE_SECONDS` and work once.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from apps.core.errors import DstackError, InvalidInput, NotFound
from apps.users import selectors, services
from apps.users.actors import Actor
from apps.users.authentication import token_digest
from apps.users.models import ApiToken, DeviceAuthorization, Team, TokenScope, User

logger = logging.getLogger(__name__)

# RFC 8628 section 6.1: consonants only, so that no code spells a word, and
# no letters that look alike. 20 letters to the power 8 is about 2.6e10.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
SLOW_DOWN_STEP = 5
MAX_INTERVAL = 60


class DeviceFlowError(DstackError):
    """A poll that gets no token yet, with the RFC 8628 error code."""

    status = 400


def user_code_normalize(raw: str) -> str:
    """Return the user code without separators, in capitals, as it is hashed."""
    return "".join(c for c in raw.upper() if c.isalnum())


def user_code_format(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


@transaction.atomic
def device_authorization_create(
    *, client_name: str = ""
) -> tuple[DeviceAuthorization, str, str]:
    """Start a login; return it with its device code and its formatted user code."""
    now = timezone.now()
    # Old rows are of no use to anyone, and their user code digests would
    # otherwise collect towards collisions.
    DeviceAuthorization.objects.filter(expires_at__lt=now - timedelta(days=1)).delete()

    client_name = "".join(c for c in client_name if c.isprintable())[:100]
    device_code = secrets.token_urlsafe(32)
    while True:
        user_code = "".join(
            secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH)
        )
        digest = token_digest(user_code)
        if not DeviceAuthorization.objects.filter(user_code_digest=digest).exists():
            break
    authorization = DeviceAuthorization.objects.create(
        created_at=now,
        device_digest=token_digest(device_code),
        user_code_digest=digest,
        client_name=client_name,
        expires_at=now + timedelta(seconds=settings.DEVICE_CODE_SECONDS),
        interval=settings.DEVICE_POLL_SECONDS,
    )
    logger.info("device authorization created: authorization=%s", authorization.pk)
    return authorization, device_code, user_code_format(user_code)


def device_authorization_get_pending(user_code: str) -> DeviceAuthorization:
    """Return the login of `user_code` that waits for approval, or raise NotFound."""
    code = user_code_normalize(user_code)
    if len(code) != USER_CODE_LENGTH:
        raise NotFound("code not found or expired", field="code")
    authorization = DeviceAuthorization.objects.filter(
        user_code_digest=token_digest(code),
        expires_at__gt=timezone.now(),
        approved_at=None,
        denied_at=None,
    ).first()
    if authorization is None:
        raise NotFound("code not found or expired", field="code")
    return authorization


@transaction.atomic
def device_authorization_decide(
    *,
    user: User,
    user_code: str,
    approve: bool,
    scope: str = TokenScope.WRITE,
    team: Team | None = None,
) -> DeviceAuthorization:
    """Approve or deny the login of `user_code` as `user`."""
    if approve and scope not in TokenScope.values:
        raise InvalidInput("scope must be read or write", field="scope")
    authorization = device_authorization_get_pending(user_code)

    now = timezone.now()
    changes = {"user": user, "approved_at": now} if approve else {"denied_at": now}
    if approve:
        changes.update(scope=scope, team=team)
    # Filtering on the old state lets only one of two concurrent decisions win.
    decided = DeviceAuthorization.objects.filter(
        pk=authorization.pk, approved_at=None, denied_at=None
    ).update(**changes)
    if decided != 1:
        raise NotFound("code not found or expired", field="code")
    logger.info(
        "device authorization %s: authorization=%s user=%s",
        "approved" if approve else "denied",
        authorization.pk,
        user.pk,
    )
    return authorization


def device_token_redeem(*, device_code: str) -> tuple[ApiToken, str]:
    """Return the token of an approved login, once; raise DeviceFlowError before.

    The poll's time and a raised interval are committed before the error is
    raised, so that the next poll is measured against them.
    """
    if not isinstance(device_code, str) or not device_code or "\x00" in device_code:
        raise InvalidInput("device_code is missing", field="device_code")
    result = _poll(device_code)
    if isinstance(result, DeviceFlowError):
        raise result
    return result


@transaction.atomic
def _poll(device_code: str) -> tuple[ApiToken, str] | DeviceFlowError:
    # The row is locked so that two concurrent polls cannot both pass the
    # interval check, or both create a token.
    authorization = (
        DeviceAuthorization.objects.select_for_update()
        .filter(device_digest=token_digest(device_code))
        .first()
    )
    now = timezone.now()
    if authorization is None or authorization.redeemed_at is not None:
        return DeviceFlowError(
            "device code is invalid or was used: run dstack login again",
            code="invalid_grant",
            field="device_code",
        )
    if authorization.expires_at <= now:
        return DeviceFlowError(
            "device code expired: run dstack login again", code="expired_token"
        )

    last = authorization.last_polled_at
    if last is not None and now - last < timedelta(seconds=authorization.interval):
        authorization.interval = min(
            authorization.interval + SLOW_DOWN_STEP, MAX_INTERVAL
        )
        authorization.last_polled_at = now
        authorization.save(update_fields=["interval", "last_polled_at"])
        return DeviceFlowError(
            f"polling too fast: wait {authorization.interval} seconds between polls",
            code="slow_down",
        )
    authorization.last_polled_at = now
    authorization.save(update_fields=["last_polled_at"])

    if authorization.denied_at is not None:
        return DeviceFlowError(
            "sign-in was denied in the browser", code="access_denied"
        )
    if authorization.approved_at is None or authorization.user is None:
        return DeviceFlowError(
            "waiting for approval in the browser", code="authorization_pending"
        )

    name = "dstack login"
    if authorization.client_name:
        name = f"dstack login: {authorization.client_name}"[:100]
    token, secret = services.token_create(
        user=authorization.user,
        name=name,
        scope=authorization.scope or TokenScope.WRITE,
        team=authorization.team,
    )
    authorization.redeemed_at = now
    authorization.token = token
    authorization.save(update_fields=["redeemed_at", "token"])
    logger.info(
        "device authorization redeemed: authorization=%s token=%s",
        authorization.pk,
        token.pk,
    )
    return token, secret


# -- the page ---------------------------------------------------------------------


class DeviceForm(forms.Form):
    code = forms.CharField(max_length=20, strip=True)
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.WRITE)
    team = forms.ChoiceField(required=False)

    def __init__(self, *args: object, team_names: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["team"].choices = [("", "All my teams")] + [
            (name, name) for name in team_names
        ]


@login_required
@require_http_methods(["GET", "POST"])
def device_page(request: HttpRequest) -> HttpResponse:
    """Show a `dstack login` code for approval, and approve or deny it."""
    actor = Actor.from_request(request)
    assert actor.user is not None
    team_names = [team.name for team, _ in selectors.teams_for_actor(actor)]
    context: dict[str, object] = {}

    if request.method == "GET":
        form = DeviceForm(
            initial={"code": request.GET.get("code", "")}, team_names=team_names
        )
        code = request.GET.get("code", "")
        if code:
            try:
                context["authorization"] = device_authorization_get_pending(code)
            except NotFound as error:
                context["code_error"] = error.message
        return _render(request, form, context)

    form = DeviceForm(request.POST, team_names=team_names)
    if not form.is_valid():
        return _render(request, form, context, status=400)
    decision = request.POST.get("decision")
    if decision not in ("approve", "deny"):
        form.add_error(None, "Choose approve or deny.")
        return _render(request, form, context, status=400)
    team = None
    if form.cleaned_data["team"]:
        team = selectors.team_get_for_member(actor, form.cleaned_data["team"])
    try:
        device_authorization_decide(
            user=actor.user,
            user_code=form.cleaned_data["code"],
            approve=decision == "approve",
            scope=form.cleaned_data["scope"],
            team=team,
        )
    except (NotFound, InvalidInput) as error:
        form.add_error(
            error.field if error.field in form.fields else None, error.message
        )
        return _render(request, form, context, status=400)
    context["decided"] = "approved" if decision == "approve" else "denied"
    return _render(request, form, context)


def _render(
    request: HttpRequest,
    form: DeviceForm,
    context: dict[str, object],
    status: int = 200,
) -> HttpResponse:
    from apps.stacks.views import header_context

    context = {
        "form": form,
        **context,
        **header_context(Actor.from_request(request), None),
    }
    return render(request, "users/device.html", context, status=status)
