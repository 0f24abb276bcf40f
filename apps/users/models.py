from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from apps.core.errors import InvalidInput
from apps.core.names import validate_team_name


def _validate_name(value: str) -> None:
    try:
        validate_team_name(value, field="name")
    except InvalidInput as error:
        raise ValidationError(error.message) from None


class User(AbstractUser):
    """An account. Its user name is also the name of its personal team."""

    username = models.CharField(max_length=40, unique=True, validators=[_validate_name])


class Access(models.TextChoices):
    PRIVATE = "private"
    INTERNAL = "internal"
    PUBLIC = "public"


class Role(models.TextChoices):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


WRITE_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})


class Team(models.Model):
    """The tenant: every stack, revision and blob belongs to exactly one team."""

    name = models.CharField(max_length=40, unique=True, validators=[_validate_name])
    personal_for = models.OneToOneField(
        User,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_team",
    )
    default_access = models.CharField(
        max_length=16, choices=Access.choices, default=Access.PRIVATE
    )
    # Bytes of blobs the team may keep; null means no limit. Pushes that would
    # go over it are rejected.
    # Bytes of blobs the team may keep; null means no limit.
    storage_quota = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="bytes"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique")
        ]


class TokenScope(models.TextChoices):
    READ = "read"
    WRITE = "write"


class ApiToken(models.Model):
    """A bearer token for the client and the API.

    Only the sha256 of the secret is stored: the secret is random, so a fast
    hash is enough and lets a request find its token by an indexed lookup.
    `prefix` is the first characters of the secret, shown so that people can
    tell their tokens apart.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(
        max_length=8, choices=TokenScope.choices, default=TokenScope.WRITE
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def is_active(self, now: timezone.datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now


class SignInLink(models.Model):
    """A one-time sign-in link, such as the one `manage.py serve` prints.

    Only the sha256 of the link's secret is stored, as for API tokens. A link
    works once, until `expires_at`, and a newer link for the same user
    replaces it.
    """

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="sign_in_links"
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class Invitation(models.Model):
    """An emailed link that adds its acceptor to a team, or to a share.

    With `share` unset, accepting joins `team` with `role`. With `share` set,
    the invitation was sent for a share to an email address that had no
    account: accepting gives the share to the acceptor, without joining the
    team, and `role` is empty. Only the sha256 of the link's secret is
    stored, as for API tokens. A link works once, until `expires_at`, and
    not after `revoked_at`.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, blank=True)
    share = models.ForeignKey(
        "Share",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="invitations",
    )
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["team", "-created_at"], name="invitation_listing"),
        ]

    def is_pending(self, now: timezone.datetime | None = None) -> bool:
        now = now or timezone.now()
        return (
            self.accepted_at is None
            and self.revoked_at is None
            and self.expires_at > now
        )


class ShareRole(models.TextChoices):
    VIEWER = "viewer"
    EDITOR = "editor"


class Share(models.Model):
    """Access to one object of a team for one person outside its roles.

    The target is named by type and id (`"stack"`, a stack's pk) so that
    reports, models and jobs can be shared the same way; the app that owns a
    target deletes its shares with it. A share to an email address without
    an account keeps the address in `email` and no user until its
    invitation is accepted.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="shares")
    target_type = models.CharField(max_length=32)
    target_id = models.BigIntegerField()
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="shares"
    )
    email = models.EmailField(blank=True, default="")
    role = models.CharField(max_length=16, choices=ShareRole.choices)
    created_by = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target_type", "target_id", "user"],
                condition=models.Q(user__isnull=False),
                name="share_unique_user",
            ),
            models.UniqueConstraint(
                fields=["target_type", "target_id", "email"],
                condition=models.Q(user__isnull=True),
                name="share_unique_email",
            ),
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | ~models.Q(email=""),
                name="share_has_recipient",
            ),
        ]
        indexes = [
            models.Index(
                fields=["team", "target_type", "target_id"], name="share_target"
            ),
            # The "shared with me" page and the stack selectors look a user's
            # shares up by type.
            models.Index(fields=["user", "target_type"], name="share_recipient"),
        ]


class DeviceAuthorization(models.Model):
    """A `dstack login` in progress: the CLI polls while its user approves.

    The CLI keeps the device code, and the person types or follows the user
    code in a signed-in browser. Only the sha256 of each code is stored. An
    approval records who approved and the token's scope and team limit; the
    token itself is created when the CLI next polls, so no secret is kept.
    """

    device_digest = models.CharField(max_length=64, unique=True)
    user_code_digest = models.CharField(max_length=64, unique=True)
    client_name = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Seconds the CLI must wait between polls; raised on each `slow_down`.
    interval = models.PositiveIntegerField()
    last_polled_at = models.DateTimeField(null=True, blank=True)
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    scope = models.CharField(max_length=8, choices=TokenScope.choices, blank=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    denied_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    token = models.ForeignKey(
        ApiToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
