"""Record audit events.

Every part of the server records through `audit_record`, inside the same
transaction as the change it describes, so a rolled-back change leaves no
event behind.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import models

from apps.audit.context import current_request
from apps.audit.models import AuditEvent
from apps.users.actors import Actor
from apps.users.models import ApiToken, Team, User

logger = logging.getLogger(__name__)

# Keys dropped from `details` wherever they appear: an audit log is read by
# team admins and staff, and must never carry a credential.
SECRET_KEYS = frozenset({"password", "secret", "token_secret", "digest", "key"})
MAX_USER_AGENT = 300
MAX_LABEL = 300


def audit_record(
    *,
    action: str,
    actor: Actor | User | None = None,
    team: Team | None = None,
    target: models.Model | None = None,
    target_label: str | None = None,
    details: Mapping[str, Any] | None = None,
    request: Any = None,
) -> AuditEvent:
    """Record one audit event and return it.

    - `action`: a stable dotted name, `<entity>.<past tense>`, such as
      `token.created`, `member.role_changed` or `invitation.created`.
    - `actor`: who acted, an `Actor` (its token is recorded too) or a `User`;
      None for the server itself or an anonymous caller.
    - `team`: whose log shows the event. Without it, the team of `target`
      is used when it has one.
    - `target`: the object acted on; its model name, primary key and
      `str()` are stored (`target_label` overrides the `str()`).
    - `details`: JSON-serialisable facts, such as `{"from": "member",
      "to": "admin"}`. Keys named like credentials are dropped.
    - `request`: where the address and user agent come from. Without it, the
      request being served (see `apps.audit.context`) is used.
    """
    user, token = _actor_parts(actor)
    if team is None and target is not None:
        candidate = getattr(target, "team", None)
        team = candidate if isinstance(candidate, Team) else None
    request = request if request is not None else current_request.get()

    event = AuditEvent(
        action=action,
        team=team,
        team_name=team.name if team is not None else "",
        actor=user,
        actor_name=user.get_username() if user is not None else "",
        actor_token=token,
        details=_clean(dict(details or {})),
        ip_address=_address(request),
        user_agent=_user_agent(request),
    )
    if target is not None:
        event.target_type = target._meta.model_name or ""
        event.target_id = str(target.pk)
        event.target_label = (target_label or str(target))[:MAX_LABEL]
    elif target_label:
        event.target_label = target_label[:MAX_LABEL]
    event.save()
    logger.info(
        "audit event: id=%s action=%s team=%s actor=%s",
        event.pk,
        action,
        event.team_id,
        event.actor_id,
    )
    return event


def account_team(user: User) -> Team | None:
    """Return the team whose log shows `user`'s account events: their personal one."""
    return Team.objects.filter(personal_for=user).first()


def _actor_parts(actor: Actor | User | None) -> tuple[User | None, ApiToken | None]:
    if isinstance(actor, Actor):
        return actor.user, actor.token
    if isinstance(actor, User):
        return actor, None
    return None, None


def _clean(details: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, value in details.items():
        if str(name).lower() in SECRET_KEYS:
            continue
        cleaned[str(name)] = _clean(value) if isinstance(value, dict) else value
    return cleaned


def _address(request: Any) -> str | None:
    # The same source as the token's "last used from": the client address,
    # which ClientAddressMiddleware takes from trusted proxies' headers.
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def _user_agent(request: Any) -> str:
    if request is None:
        return ""
    return str(request.META.get("HTTP_USER_AGENT", ""))[:MAX_USER_AGENT]
