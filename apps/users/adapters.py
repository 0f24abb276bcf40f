"""django-allauth adapters: our user name rules, sign-up modes and personal teams.

Every account, whether it signs up with a password or arrives from the OpenID
Connect provider, gets a personal team named after it and owned by it. The
team is created in the same transaction as the user row, as
`services.user_create` does for accounts made in code.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.stages import EmailVerificationStage
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django import forms
from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest

from apps.core.errors import InvalidInput, NotFound
from apps.core.names import validate_team_name
from apps.users import services
from apps.users.models import Membership, Role, Team, User

# `/invitations/<token>`: the link an invitation email carries. In invite
# mode the sign-up form is open only to a visitor who follows a pending one.
INVITATION_PATH = re.compile(r"^/invitations/(?P<token>[A-Za-z0-9_:.-]+)$")


def username_check(username: str) -> str:
    """Return `username` if it can name a new account and its personal team.

    Raises InvalidInput (field `username`) for a name that breaks the team
    name rules, is reserved, or is taken by a user or a team.
    """
    validate_team_name(username, field="username")
    if (
        User.objects.filter(username=username).exists()
        or Team.objects.filter(name=username).exists()
    ):
        raise InvalidInput(f"username {username!r} is taken", field="username")
    return username


def personal_team_create(*, user: User) -> Team:
    team = Team.objects.create(name=user.username, personal_for=user)
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def username_suggest(*candidates: str | None) -> str:
    """Return a free, valid user name made from the first usable candidate.

    Characters outside the team name alphabet become `-`, so `Jane.Doe`
    suggests `jane-doe`. A taken or reserved name gets a numeric suffix.
    Without a usable candidate the name is `user-` and eight digits.
    """
    for candidate in candidates:
        if not candidate:
            continue
        base = re.sub(r"[^a-z0-9_-]+", "-", candidate.split("@")[0].lower())
        base = base.strip("-_")[:34]
        if len(base) < 2:
            continue
        for suffix in ["", *(f"-{n}" for n in range(2, 100))]:
            try:
                return username_check(base + suffix)
            except InvalidInput:
                continue
    while True:
        try:
            return username_check(f"user-{secrets.randbelow(10**8):08d}")
        except InvalidInput:
            continue


def invitation_of_request(request: HttpRequest) -> Any:
    """Return the pending invitation whose link is the request's `next`, or None."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    match = INVITATION_PATH.match(urlsplit(target).path)
    if match is None:
        return None
    try:
        return services.invitation_get_for_secret(match["token"])
    except NotFound:
        return None


def invitation_in_request(request: HttpRequest) -> bool:
    """Return whether the request's `next` is the link of a pending invitation."""
    return invitation_of_request(request) is not None


def audit(*, action: str, user: User, details: dict[str, Any] | None = None) -> None:
    """Record an account event in the user's personal team's audit log."""
    # Servers without the audit log app installed record nothing.
    if not apps.is_installed("apps.audit"):
        return
    from apps.audit.services import account_team, audit_record

    audit_record(
        action=action,
        actor=user,
        team=account_team(user),
        target=user,
        details=details,
    )


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        mode = settings.DSTACK_SIGNUP
        if mode == "open":
            return True
        if mode == "invite":
            return invitation_in_request(request)
        return False

    def clean_email(self, email: str) -> str:
        email = super().clean_email(email)
        if settings.DSTACK_SIGNUP != "invite":
            return email
        # On an invite-only server a link opens sign-up for the invited
        # address only; allauth's unique-email rule then makes it one account.
        request = getattr(self, "request", None)
        if request is None or request.user.is_authenticated:
            return email  # not a sign-up: an account adding an address
        invitation = invitation_of_request(request)
        if invitation is None or invitation.email.lower() != email.strip().lower():
            raise forms.ValidationError(
                "This server is invite-only: sign up with the address the "
                "invitation was sent to."
            )
        return email

    def clean_username(self, username: str, shallow: bool = False) -> str:
        username = username.strip().lower()
        try:
            validate_team_name(username, field="username")
            if not shallow:
                username_check(username)
        except InvalidInput as error:
            raise forms.ValidationError(_sentence(error.message)) from None
        return username

    @transaction.atomic
    def save_user(
        self,
        request: HttpRequest,
        user: Any,
        form: Any,
        commit: bool = True,
    ) -> Any:
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            personal_team_create(user=user)
            # The provider's sign-up form, shown when its user name or email
            # address is taken, has no password.
            via = "password" if "password1" in form.cleaned_data else "provider"
            audit(action="user.signed_up", user=user, details={"via": via})
        return user

    def confirm_email(self, request: HttpRequest, email_address: Any) -> bool:
        confirmed = bool(super().confirm_email(request, email_address))
        if confirmed:
            audit(
                action="user.email_verified",
                user=email_address.user,
                details={"email": email_address.email},
            )
        return confirmed

    def set_password(self, user: Any, password: str) -> None:
        # allauth calls this for a password change, a reset and a first
        # password; sign-up sets the password in save_user.
        super().set_password(user, password)
        audit(action="user.password_changed", user=user)

    def get_login_stages(self) -> list[str]:
        default = "allauth.account.stages.EmailVerificationStage"
        return [
            "apps.users.adapters.SignUpEmailVerificationStage"
            if stage == default
            else stage
            for stage in super().get_login_stages()
        ]


class SignUpEmailVerificationStage(EmailVerificationStage):
    """Ask for a verified address only from accounts that signed up with one.

    Accounts made by staff, by `manage.py serve`, by the proxy's user header
    or in tests have no allauth email address records, and no verification
    email could reach an account without an address.
    """

    def handle(self) -> Any:
        from allauth.account.models import EmailAddress

        user = self.login.user
        if user is not None and not EmailAddress.objects.filter(user=user).exists():
            return None, True
        return super().handle()


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        # The provider decides who may sign in, whatever DSTACK_SIGNUP is set to.
        return True

    def populate_user(self, request: HttpRequest, sociallogin: Any, data: Any) -> Any:
        user = super().populate_user(request, sociallogin, data)
        user.username = username_suggest(data.get("username"), data.get("email"))
        return user

    @transaction.atomic
    def save_user(
        self, request: HttpRequest, sociallogin: Any, form: Any = None
    ) -> Any:
        user = super().save_user(request, sociallogin, form)
        if not Team.objects.filter(personal_for=user).exists():
            personal_team_create(user=user)
            audit(
                action="user.signed_up",
                user=user,
                details={"via": sociallogin.account.provider},
            )
        return user


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + "."
