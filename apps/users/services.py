"""Writes on users, teams and tokens."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import account_team, audit_record
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.core.names import validate_team_name
from apps.users.actors import Actor
from apps.users.authentication import token_digest
from apps.users.models import (
    Access,
    ApiToken,
    Invitation,
    Membership,
    Role,
    Share,
    ShareRole,
    Team,
    TokenScope,
    User,
)

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "dst_"


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    is_staff: bool = False,
) -> User:
    """Create a user with a personal team of the same name, owned by them."""
    validate_team_name(username, field="username")
    if (
        User.objects.filter(username=username).exists()
        or Team.objects.filter(name=username).exists()
    ):
        raise InvalidInput(f"username {username!r} is taken", field="username")

    user = User(
        username=username, email=email, is_staff=is_staff, is_superuser=is_staff
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()

    team = Team.objects.create(name=username, personal_for=user)
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    logger.info("user created: user=%s", user.pk)
    return user


@transaction.atomic
def token_create(
    *,
    user: User,
    name: str,
    scope: str = TokenScope.WRITE,
    team: Team | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create an API token and return it with its secret, which is not kept."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise InvalidInput("name must be 1 to 100 characters", field="name")
    if "\x00" in name:
        raise InvalidInput("name must not contain NUL bytes", field="name")
    if scope not in TokenScope.values:
        raise InvalidInput("scope must be read or write", field="scope")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("expires_at must be in the future", field="expires_at")

    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:12],
        digest=token_digest(secret),
        scope=scope,
        team=team,
        expires_at=expires_at,
    )
    audit_record(
        action="token.created",
        actor=user,
        team=team or account_team(user),
        target=token,
        details={"scope": scope, "expires_at": expires_at},
    )
    logger.info("token created: token=%s user=%s", token.pk, user.pk)
    return token, secret


@transaction.atomic
def token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = None
    if 0 < token_id < 2**63:
        token = ApiToken.objects.filter(pk=token_id, user=user, revoked_at=None).first()
    if token is None:
        raise NotFound("token not found")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        action="token.revoked",
        actor=user,
        team=token.team or account_team(user),
        target=token,
    )
    logger.info("token revoked: token=%s user=%s", token.pk, user.pk)
    return token


# -- teams --------------------------------------------------------------------

INVITATION_LIFETIME = timedelta(days=7)
MANAGER_ROLES = frozenset({Role.OWNER, Role.ADMIN})
# A team being deleted keeps its row, under this name, until its blobs are
# freed; no valid team name starts with "-", so the old name is free at once.
DELETED_TEAM_PREFIX = "-deleted-"


def _acting_role(actor: Actor, team: Team, *, write: bool = True) -> str:
    """Return the actor's role in `team`, raising NotFound for non-members.

    With `write`, a read-only token raises PermissionDenied: it may look at
    a team but change nothing in it.
    """
    role = actor.role_in(team)
    if role is None:
        raise NotFound(f"team {team.name!r} not found", field="team")
    if write and actor.token is not None and actor.token.scope != TokenScope.WRITE:
        raise PermissionDenied("this token is read-only", field="token")
    return role


def _require_manager(actor: Actor, team: Team) -> str:
    role = _acting_role(actor, team)
    if role not in MANAGER_ROLES:
        raise PermissionDenied(
            f"only owners and admins of team {team.name!r} manage its members",
            field="team",
        )
    return role


def _require_owner(actor: Actor, team: Team, *, doing: str) -> None:
    if _acting_role(actor, team) != Role.OWNER:
        raise PermissionDenied(
            f"only owners of team {team.name!r} may {doing}", field="team"
        )


def _validate_new_team_name(name: object, *, field: str = "name") -> str:
    if isinstance(name, str):
        name = name.strip()
    validate_team_name(name, field=field)
    assert isinstance(name, str)
    # Team and user names share one namespace: `/<name>` is either.
    if (
        Team.objects.filter(name=name).exists()
        or User.objects.filter(username=name).exists()
    ):
        raise InvalidInput(f"{field} {name!r} is taken", field=field, code="taken")
    return name


def _validate_role(role: object, *, field: str = "role") -> str:
    if role not in Role.values:
        raise InvalidInput(
            f"{field} must be one of owner, admin, member, viewer", field=field
        )
    return str(role)


def _require_user(actor: Actor) -> User:
    if actor.user is None:
        raise PermissionDenied("sign in first", field="user")
    return actor.user


def team_create(*, actor: Actor, name: object) -> Team:
    """Create a team owned by the actor."""
    user = _require_user(actor)
    if actor.token is not None and (
        actor.token.scope != TokenScope.WRITE or actor.token.team_id is not None
    ):
        raise PermissionDenied(
            "teams are created in the browser or with a write token for all teams",
            field="token",
        )

    with transaction.atomic():
        team_name = _validate_new_team_name(name)
        try:
            with transaction.atomic():
                team = Team.objects.create(name=team_name)
        except IntegrityError:
            raise InvalidInput(
                f"name {team_name!r} is taken", field="name", code="taken"
            ) from None
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
        audit_record(action="team.created", actor=actor, team=team, target=team)
    logger.info("team created: team=%s user=%s", team.pk, user.pk)
    return team


def team_rename(*, actor: Actor, team: Team, name: object) -> Team:
    """Rename a team. A personal team keeps its user's name."""
    _require_owner(actor, team, doing="rename it")
    if team.personal_for_id is not None:
        raise InvalidInput(
            "a personal team is named after its user and cannot be renamed",
            field="name",
        )
    if isinstance(name, str) and name.strip() == team.name:
        return team

    with transaction.atomic():
        old = team.name
        team.name = _validate_new_team_name(name)
        try:
            with transaction.atomic():
                team.save(update_fields=["name"])
        except IntegrityError:
            raise InvalidInput(
                f"name {team.name!r} is taken", field="name", code="taken"
            ) from None
        audit_record(
            action="team.renamed",
            actor=actor,
            team=team,
            target=team,
            details={"from": old, "to": team.name},
        )
    logger.info("team renamed: team=%s", team.pk)
    return team


def team_set_default_access(*, actor: Actor, team: Team, access: object) -> Team:
    """Set the access level that new stacks of the team start with."""
    _require_manager(actor, team)
    if access not in Access.values:
        raise InvalidInput(
            "default_access must be one of private, internal, public",
            field="default_access",
        )
    if access == team.default_access:
        return team

    with transaction.atomic():
        old = team.default_access
        team.default_access = str(access)
        team.save(update_fields=["default_access"])
        audit_record(
            action="team.default_access_changed",
            actor=actor,
            team=team,
            target=team,
            details={"from": old, "to": team.default_access},
        )
    return team


def team_delete(*, actor: Actor, team: Team) -> None:
    """Delete a team with its stacks, members, invitations, shares and tokens.

    1. In one transaction, delete every row that refers to the team except
       its blobs, and rename the team out of the way so that its name is free
       and no selector finds it.
    2. After the commit, a task frees the blobs' bytes in batches, through
       `apps.artifacts`, and then deletes the team row. Until then the
       renamed row has no members and so is invisible.
    """
    _require_owner(actor, team, doing="delete it")
    if team.personal_for_id is not None:
        raise InvalidInput(
            "a personal team cannot be deleted; delete the account instead",
            field="team",
        )

    from apps.reports.services import reports_delete_for_team
    from apps.registry.services import models_delete_for_team
    from apps.stacks.services import stacks_delete_for_team

    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=team.pk)
        name = team.name
        reports_delete_for_team(team=team)
        stacks = stacks_delete_for_team(team=team)
        models = models_delete_for_team(team=team)
        Share.objects.filter(team=team).delete()
        Invitation.objects.filter(team=team).delete()
        ApiToken.objects.filter(team=team).update(revoked_at=timezone.now())
        Membership.objects.filter(team=team).delete()
        audit_record(
            action="team.deleted",
            actor=actor,
            team=team,
            target=team,
            target_label=name,
            details={"stacks": stacks, "models": models},
        )
        team.name = f"{DELETED_TEAM_PREFIX}{team.pk}"
        team.save(update_fields=["name"])
        team_id = team.pk
        transaction.on_commit(lambda: _purge_later(team_id))
    logger.info("team deleted: team=%s stacks=%s", team_id, stacks)


def _purge_later(team_id: int) -> None:
    from apps.users import tasks

    tasks.purge_deleted_team.delay(team_id)


def team_purge(*, team_id: int) -> int:
    """Free the blobs of a deleted team, then delete its row; return blobs freed."""
    from apps.artifacts.selectors import release_team_orphans

    team = Team.objects.filter(pk=team_id, name__startswith=DELETED_TEAM_PREFIX).first()
    if team is None:
        return 0
    released = release_team_orphans(team_id)
    Team.objects.filter(pk=team_id, name__startswith=DELETED_TEAM_PREFIX).delete()
    logger.info("deleted team purged: team=%s blobs=%s", team_id, released)
    return released


# -- members ------------------------------------------------------------------


def _membership_locked(team: Team, username: object) -> Membership:
    if not isinstance(username, str) or "\x00" in username:
        raise NotFound("member not found", field="username")
    membership = (
        Membership.objects.select_for_update()
        .select_related("user")
        .filter(team=team, user__username=username)
        .first()
    )
    if membership is None:
        raise NotFound(
            f"{username!r} is not a member of {team.name!r}", field="username"
        )
    return membership


def _owners_locked(team: Team) -> list[int]:
    # Locking every owner row makes two owners who demote or remove each
    # other at once run one after the other, so one of them stays owner.
    return list(
        Membership.objects.select_for_update()
        .filter(team=team, role=Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def membership_change_role(
    *, actor: Actor, team: Team, username: object, role: object
) -> Membership:
    """Change a member's role.

    Owners and admins change the roles of others; only owners grant or take
    away the owner role. Nobody changes their own role, so the last owner
    cannot demote themselves either.
    """
    acting = _require_manager(actor, team)
    new_role = _validate_role(role)

    with transaction.atomic():
        owners = _owners_locked(team)
        membership = _membership_locked(team, username)
        if actor.user is not None and membership.user_id == actor.user.pk:
            raise PermissionDenied("you cannot change your own role", field="username")
        if Role.OWNER in (membership.role, new_role) and acting != Role.OWNER:
            raise PermissionDenied(
                "only owners grant or take away the owner role", field="role"
            )
        if membership.role == Role.OWNER and new_role != Role.OWNER and len(owners) < 2:
            raise InvalidInput(
                "a team needs an owner: make someone else owner first", field="role"
            )
        if membership.role == new_role:
            return membership

        old = membership.role
        membership.role = new_role
        membership.save(update_fields=["role"])
        audit_record(
            action="member.role_changed",
            actor=actor,
            team=team,
            target=membership.user,
            details={"from": old, "to": new_role},
        )
    logger.info("member role changed: team=%s user=%s", team.pk, membership.user_id)
    return membership


def membership_remove(*, actor: Actor, team: Team, username: object) -> None:
    """Remove a member from a team, or let a member leave it.

    Anyone may leave, except the last owner. Owners and admins remove
    others; only owners remove an owner.
    """
    acting = _acting_role(actor, team)

    with transaction.atomic():
        owners = _owners_locked(team)
        membership = _membership_locked(team, username)
        leaving = actor.user is not None and membership.user_id == actor.user.pk
        if not leaving and acting not in MANAGER_ROLES:
            raise PermissionDenied(
                f"only owners and admins of team {team.name!r} manage its members",
                field="team",
            )
        if not leaving and membership.role == Role.OWNER and acting != Role.OWNER:
            raise PermissionDenied("only owners remove an owner", field="username")
        if membership.role == Role.OWNER and len(owners) < 2:
            raise InvalidInput(
                "a team needs an owner: make someone else owner first",
                field="username",
            )

        membership.delete()
        audit_record(
            action="member.left" if leaving else "member.removed",
            actor=actor,
            team=team,
            target=membership.user,
            details={"role": membership.role},
        )
    logger.info("member removed: team=%s user=%s", team.pk, membership.user_id)


# -- invitations --------------------------------------------------------------


def _validate_email(value: object, *, field: str = "email") -> str:
    if not isinstance(value, str) or "\x00" in value:
        raise InvalidInput(f"{field} must be an email address", field=field)
    email = value.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidInput(
            f"{field} {email[:100]!r} is not a valid email address", field=field
        ) from None
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


def invitation_url(secret: str) -> str:
    return f"{settings.PUBLIC_URL}/invitations/{secret}"


def _new_invitation(
    *,
    actor: Actor,
    team: Team,
    email: str,
    role: str,
    share: Share | None,
) -> tuple[Invitation, str]:
    now = timezone.now()
    secret = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        team=team,
        email=email,
        role=role,
        share=share,
        digest=token_digest(secret),
        invited_by=actor.user,
        created_at=now,
        expires_at=now + INVITATION_LIFETIME,
    )
    return invitation, secret


def _send_later(subject: str, body: str, to: str) -> None:
    # The email leaves only once the invitation or share it describes exists.
    transaction.on_commit(
        lambda: send_mail(subject, body, None, [to], fail_silently=False)
    )


def invitation_create(
    *, actor: Actor, team: Team, email: object, role: object
) -> tuple[Invitation, str]:
    """Invite an email address to join a team; return the invitation and its secret.

    The secret is mailed in a link and not stored. Inviting an address
    that has a pending invitation replaces that invitation.
    """
    acting = _require_manager(actor, team)
    address = _validate_email(email)
    new_role = _validate_role(role)
    if new_role == Role.OWNER and acting != Role.OWNER:
        raise PermissionDenied("only owners invite owners", field="role")
    if team.personal_for_id is not None:
        raise InvalidInput(
            "a personal team has one member; create a team to invite people",
            field="team",
        )
    if Membership.objects.filter(team=team, user__email__iexact=address).exists():
        raise InvalidInput(
            f"{address} is already a member of {team.name!r}", field="email"
        )

    with transaction.atomic():
        # Locked, so that two managers inviting the same address at once
        # replace one pending invitation, not both or neither.
        replaced = list(
            Invitation.objects.select_for_update().filter(
                team=team,
                share=None,
                email__iexact=address,
                accepted_at=None,
                revoked_at=None,
            )
        )
        if acting != Role.OWNER and any(
            pending.role == Role.OWNER for pending in replaced
        ):
            raise PermissionDenied(
                f"{address} has a pending invitation as owner, "
                "which only an owner can replace",
                field="email",
            )
        for pending in replaced:
            pending.revoked_at = timezone.now()
            pending.save(update_fields=["revoked_at"])
            audit_record(
                action="invitation.revoked",
                actor=actor,
                team=team,
                target=pending,
                target_label=address,
                details={"email": address, "role": pending.role, "replaced": True},
            )
        invitation, secret = _new_invitation(
            actor=actor, team=team, email=address, role=new_role, share=None
        )
        audit_record(
            action="invitation.created",
            actor=actor,
            team=team,
            target=invitation,
            target_label=address,
            details={"email": address, "role": new_role},
        )
        inviter = actor.user.username if actor.user else "someone"
        _send_later(
            f"Join team {team.name} on dstack",
            f"{inviter} invited you to join the team {team.name} as {new_role}.\n\n"
            f"Open this link to accept; it works once, until "
            f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC:\n\n"
            f"{invitation_url(secret)}\n",
            address,
        )
    logger.info("invitation created: invitation=%s team=%s", invitation.pk, team.pk)
    return invitation, secret


def invitation_revoke(*, actor: Actor, team: Team, invitation_id: object) -> None:
    _require_manager(actor, team)
    try:
        pk = int(str(invitation_id))
    except ValueError:
        raise NotFound("invitation not found", field="invitation") from None

    with transaction.atomic():
        changed = Invitation.objects.filter(
            pk=pk, team=team, share=None, accepted_at=None, revoked_at=None
        ).update(revoked_at=timezone.now())
        if changed != 1:
            raise NotFound("invitation not found", field="invitation")
        audit_record(
            action="invitation.revoked",
            actor=actor,
            team=team,
            target=Invitation.objects.get(pk=pk),
        )


def invitation_get_for_secret(secret: object) -> Invitation:
    """Return the pending invitation of a link's secret, or raise NotFound.

    A link that is unknown, used, revoked or expired raises the same error.
    """
    if not isinstance(secret, str) or not secret or "\x00" in secret:
        raise NotFound("invitation not found or expired", field="invitation")
    invitation = (
        Invitation.objects.select_related("team", "share", "invited_by")
        .filter(digest=token_digest(secret))
        .first()
    )
    if invitation is None or not invitation.is_pending():
        raise NotFound("invitation not found or expired", field="invitation")
    return invitation


def _email_matches(user: User, email: str) -> bool:
    """Tell whether `user` may accept an invitation sent to `email`.

    The account's address, or one it verified through sign-up, must be the
    invited one. Accounts without any address (made by staff, by `serve` or
    through a trusted proxy) accept by holding the link, as there is nothing
    to compare.
    """
    from allauth.account.models import EmailAddress

    wanted = email.strip().lower()
    verified = set(
        EmailAddress.objects.filter(user=user, verified=True).values_list(
            "email", flat=True
        )
    )
    addresses = {address.lower() for address in verified}
    if user.email:
        addresses.add(user.email.lower())
    return not addresses or wanted in addresses


def invitation_accept(*, actor: Actor, secret: object) -> Invitation:
    """Accept an invitation for the signed-in actor.

    A team invitation makes the actor a member with its role; a member who
    already has a role keeps it. A share invitation gives the share to the
    actor. Either way the link stops working.
    """
    user = _require_user(actor)
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        raise PermissionDenied("this token is read-only", field="token")
    invitation = invitation_get_for_secret(secret)
    if not _email_matches(user, invitation.email):
        raise PermissionDenied(
            f"this invitation was sent to {invitation.email}: sign in with the "
            "account of that address to accept it",
            field="invitation",
        )

    with transaction.atomic():
        # Filtering on the old state makes two clicks race for one row: only
        # the request that changed it goes on.
        now = timezone.now()
        claimed = Invitation.objects.filter(
            pk=invitation.pk, accepted_at=None, revoked_at=None, expires_at__gt=now
        ).update(accepted_at=now, accepted_by=user)
        if claimed != 1:
            raise NotFound("invitation not found or expired", field="invitation")
        invitation.accepted_at, invitation.accepted_by = now, user

        if invitation.share is not None:
            _share_claim(invitation.share, user)
        elif not Membership.objects.filter(team=invitation.team, user=user).exists():
            Membership.objects.create(
                team=invitation.team, user=user, role=invitation.role
            )
        audit_record(
            action="invitation.accepted",
            actor=actor,
            team=invitation.team,
            target=invitation,
            target_label=invitation.email,
            details={"role": invitation.role or None},
        )
    logger.info("invitation accepted: invitation=%s user=%s", invitation.pk, user.pk)
    return invitation


def _share_claim(share: Share, user: User) -> None:
    """Give a share that waited for an email address to `user`."""
    if Membership.objects.filter(team_id=share.team_id, user=user).exists():
        # A member reads the target through their role already.
        share.delete()
        return
    existing = Share.objects.filter(
        target_type=share.target_type, target_id=share.target_id, user=user
    ).first()
    if existing is not None:
        if share.role == ShareRole.EDITOR and existing.role != ShareRole.EDITOR:
            existing.role = ShareRole.EDITOR
            existing.save(update_fields=["role"])
        share.delete()
        return
    share.user, share.email = user, ""
    share.save(update_fields=["user", "email"])


# -- shares -------------------------------------------------------------------


def _share_recipient(
    *, team: Team, username: object, email: object
) -> tuple[User | None, str]:
    """Find who a share is for: a user by name or email, or an unknown address."""
    if (username is None) == (email is None):
        raise InvalidInput("send either username or email", field="username")
    if username is not None:
        if not isinstance(username, str) or "\x00" in username or not username:
            raise InvalidInput("username must be a user name", field="username")
        user = User.objects.filter(username=username.strip(), is_active=True).first()
        if user is None:
            raise InvalidInput(f"user {username!r} not found", field="username")
        return user, ""

    address = _validate_email(email)
    matches = list(
        User.objects.filter(email__iexact=address, is_active=True).order_by("pk")[:2]
    )
    if len(matches) == 1:
        return matches[0], ""
    # NOTE: two accounts with one address get a pending share with an
    # invitation link, so the owner of the mailbox chooses the account.
    return None, address


def share_create(
    *,
    actor: Actor,
    team: Team,
    target_type: str,
    target_id: int,
    target_label: str,
    target_url: str,
    role: object,
    username: object = None,
    email: object = None,
) -> tuple[Share, bool]:
    """Share a team's object with a person; return the share and whether it is new.

    The caller has already checked that the actor may share the target.
    Sharing again with the same person changes the role. An email address
    without an account gets an invitation link that turns into the share
    when it is accepted.
    """
    if role not in ShareRole.values:
        raise InvalidInput("role must be viewer or editor", field="role")
    user, address = _share_recipient(team=team, username=username, email=email)
    if user is not None and Membership.objects.filter(team=team, user=user).exists():
        raise InvalidInput(
            f"{user.username!r} is a member of {team.name!r} already",
            field="username" if username is not None else "email",
        )

    with transaction.atomic():
        recipient = (
            {"user": user} if user is not None else {"user": None, "email": address}
        )
        share = (
            Share.objects.select_for_update()
            .filter(target_type=target_type, target_id=target_id, **recipient)
            .first()
        )
        created = share is None
        if share is None:
            share = Share.objects.create(
                team=team,
                target_type=target_type,
                target_id=target_id,
                user=user,
                email=address,
                role=str(role),
                created_by=actor.user,
            )
        elif share.role != role:
            share.role = str(role)
            share.save(update_fields=["role"])
        audit_record(
            action="share.created" if created else "share.role_changed",
            actor=actor,
            team=team,
            target=share,
            target_label=target_label,
            details={
                "with": user.username if user is not None else address,
                "role": share.role,
            },
        )

        sharer = actor.user.username if actor.user else "someone"
        if user is None and created:
            _, secret = _new_invitation(
                actor=actor, team=team, email=address, role="", share=share
            )
            _send_later(
                f"{sharer} shared {target_label} with you on dstack",
                f"{sharer} shared {target_label} with you as {share.role}.\n\n"
                "Open this link to sign in or sign up and see it; it works once, "
                f"within {INVITATION_LIFETIME.days} days:\n\n"
                f"{invitation_url(secret)}\n",
                address,
            )
        elif user is not None and created and user.email:
            _send_later(
                f"{sharer} shared {target_label} with you on dstack",
                f"{sharer} shared {target_label} with you as {share.role}:\n\n"
                f"{target_url}\n",
                user.email,
            )
    logger.info("share saved: share=%s created=%s", share.pk, created)
    return share, created


def share_change_role(
    *, actor: Actor, share: Share, role: object, target_label: str
) -> Share:
    """Give an existing share another role; the same role changes nothing."""
    if role not in ShareRole.values:
        raise InvalidInput("role must be viewer or editor", field="role")

    with transaction.atomic():
        # `of` locks the share alone: PostgreSQL cannot lock the nullable
        # side of the outer join to its user.
        share = (
            Share.objects.select_for_update(of=("self",))
            .select_related("user", "team")
            .get(pk=share.pk)
        )
        if share.role == role:
            return share
        previous = share.role
        share.role = str(role)
        share.save(update_fields=["role"])
        audit_record(
            action="share.role_changed",
            actor=actor,
            team=share.team,
            target=share,
            target_label=target_label,
            details={
                "with": share.user.username if share.user else share.email,
                "from": previous,
                "role": share.role,
            },
        )
    logger.info("share role changed: share=%s role=%s", share.pk, share.role)
    return share


def share_delete(*, actor: Actor, share: Share, target_label: str) -> None:
    """Remove a share; a pending share's invitation link stops working with it."""
    with transaction.atomic():
        audit_record(
            action="share.deleted",
            actor=actor,
            team=share.team,
            target=share,
            target_label=target_label,
            details={
                "with": share.user.username if share.user else share.email,
                "role": share.role,
            },
        )
        Share.objects.filter(pk=share.pk).delete()
    logger.info("share deleted: share=%s", share.pk)
