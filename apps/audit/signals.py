"""Audit events for sign-ins, failed sign-ins and lockouts.

Django sends `user_logged_in` and `user_login_failed` from every sign-in
path (its own form, django-allauth, a sign-in link); axes sends
`user_locked_out` when a count reaches the limit.
"""

from __future__ import annotations

from typing import Any

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from apps.audit.ratelimit import attempted_username
from apps.audit.services import account_team, audit_record
from apps.users.models import User


def _known_user(name: str | None) -> User | None:
    if not name or "\x00" in name:
        return None
    return (
        User.objects.filter(username__iexact=name).first()
        or User.objects.filter(email__iexact=name).first()
    )


@receiver(user_logged_in, dispatch_uid="audit.sign_in")
def record_sign_in(sender: Any, request: Any, user: User, **kwargs: Any) -> None:
    audit_record(
        action="auth.sign_in",
        actor=user,
        team=account_team(user),
        target=user,
        details={"backend": getattr(user, "backend", "")},
        request=request,
    )


@receiver(user_login_failed, dispatch_uid="audit.sign_in_failed")
def record_sign_in_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # `credentials` has the password replaced by stars already; only the
    # name is kept.
    name = attempted_username(request, credentials) if request is not None else None
    user = _known_user(name)
    audit_record(
        action="auth.sign_in_failed",
        team=account_team(user) if user is not None else None,
        target=user,
        target_label=name or "",
        details={"username": (name or "")[:150]},
        request=request,
    )


@receiver(user_locked_out, dispatch_uid="audit.locked_out")
def record_lockout(
    sender: Any, request: Any, username: str | None, ip_address: str, **kwargs: Any
) -> None:
    user = _known_user(username)
    audit_record(
        action="auth.locked_out",
        team=account_team(user) if user is not None else None,
        target=user,
        target_label=username or "",
        details={"username": (username or "")[:150]},
        request=request,
    )
