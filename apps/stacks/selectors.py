"""Reads of stacks and revisions that find and authorise in one step.

Each selector raises the same `NotFound` for a stack that does not exist and
for one the actor may not read, so a caller cannot tell them apart.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.core.errors import NotFound, PermissionDenied
from apps.stacks.models import Attachment, Revision, RevisionState, Stack
from apps.users.actors import Actor
from apps.users.models import Access, Share, ShareRole, Team, TokenScope
from apps.users.selectors import (
    share_get_for_target,
    shared_target_ids,
    shares_for_target,
    shares_received,
    team_get,
    team_get_for_write,
)

# The `target_type` of a stack's shares.
SHARE_TARGET = "stack"

# Revision numbers and attachment indexes are 32-bit columns; a larger number
# in a URL names nothing, and the database would reject it.
MAX_NUMBER = 2**31 - 1


def can_read_stack(actor: Actor, stack: Stack) -> bool:
    if stack.access == Access.PUBLIC:
        return True
    if stack.access == Access.INTERNAL and actor.can_read_internal:
        return True
    if actor.role_in(stack.team) is not None:
        return True
    return actor.share_role(SHARE_TARGET, stack.pk, stack.team_id) is not None


def can_push_stack(actor: Actor, stack: Stack) -> bool:
    """Tell whether the actor may push revisions: a writing role or an editor share."""
    if actor.can_write(stack.team):
        return True
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        return False
    role = actor.share_role(SHARE_TARGET, stack.pk, stack.team_id)
    return role == ShareRole.EDITOR


def _not_found(team: str, path: str) -> NotFound:
    return NotFound(f"stack {team}/{path} not found", field="stack")


def stack_get_for_read(actor: Actor, team_name: str, path: str) -> Stack:
    try:
        team = team_get(team_name)
    except NotFound:
        raise _not_found(team_name, path) from None
    stack = (
        Stack.objects.select_related("team", "head")
        .filter(team=team, path=path)
        .first()
    )
    if stack is None or not can_read_stack(actor, stack):
        raise _not_found(team_name, path)
    return stack


def stack_get_for_write(actor: Actor, team_name: str, path: str) -> Stack:
    stack = stack_get_for_read(actor, team_name, path)
    if actor.role_in(stack.team) is None:
        # A public or internal stack of another team: readable, not writable,
        # and the team's membership stays hidden.
        raise PermissionDenied(
            f"stack {team_name}/{path} is read-only for you", field="stack"
        )
    team_get_for_write(actor, team_name)
    return stack


def stack_get_for_push(actor: Actor, team_name: str, path: str) -> Stack:
    """Return a stack the actor may push revisions to.

    Team members with a writing role and people it is shared with as
    editors push; other readers get PermissionDenied, and everyone else the
    same NotFound as for a missing stack.
    """
    stack = stack_get_for_read(actor, team_name, path)
    if can_push_stack(actor, stack):
        return stack
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        raise PermissionDenied("this token is read-only", field="token")
    raise PermissionDenied(
        f"stack {team_name}/{path} is read-only for you", field="stack"
    )


def stack_get_for_push_by_share(
    actor: Actor, team_name: str, path: str
) -> Stack | None:
    """Return the stack if a share makes the actor its editor, else None."""
    try:
        stack = stack_get_for_read(actor, team_name, path)
    except NotFound:
        return None
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        return None
    if actor.share_role(SHARE_TARGET, stack.pk, stack.team_id) != ShareRole.EDITOR:
        return None
    return stack


def stack_get_for_sharing(
    actor: Actor, team_name: str, path: str, *, write: bool
) -> Stack:
    """Return a stack whose shares the actor may list (or, with `write`, change).

    Every member of the stack's team sees who it is shared with; members
    with a writing role share it. An editor through a share does neither.
    """
    stack = stack_get_for_read(actor, team_name, path)
    if actor.role_in(stack.team) is None:
        raise PermissionDenied(
            f"only members of team {team_name!r} see the shares of its stacks",
            field="stack",
        )
    if write:
        team_get_for_write(actor, team_name)
    return stack


def shares_for_stack(stack: Stack) -> QuerySet[Share]:
    return shares_for_target(stack.team_id, SHARE_TARGET, stack.pk)


def share_get_for_stack(stack: Stack, share_id: object) -> Share:
    return share_get_for_target(
        stack.team_id, SHARE_TARGET, stack.pk, share_id, label=str(stack)
    )


def stacks_for_read(actor: Actor, team: Team, *, query: str = "") -> QuerySet[Stack]:
    stacks = Stack.objects.filter(team=team, head__isnull=False)
    if actor.role_in(team) is None:
        visible = Q(access=Access.PUBLIC)
        if actor.can_read_internal:
            visible |= Q(access=Access.INTERNAL)
        shared = shared_target_ids(actor, team, SHARE_TARGET)
        if shared is not None:
            # A subquery, so the share adds no query of its own.
            visible |= Q(pk__in=shared)
        stacks = stacks.filter(visible)
    if query:
        stacks = stacks.filter(path__icontains=query)
    return stacks.select_related("head").order_by("-updated_at", "path")


def revisions_for_read(stack: Stack) -> QuerySet[Revision]:
    return (
        Revision.objects.filter(
            team=stack.team, stack=stack, state=RevisionState.COMMITTED
        )
        .select_related("author")
        .order_by("-number")
    )


def revision_get_for_read(stack: Stack, number: object) -> Revision:
    if not isinstance(number, int):
        try:
            number = int(str(number))
        except ValueError:
            raise NotFound("revision not found", field="revision") from None
    if not 1 <= number <= MAX_NUMBER:
        raise NotFound(f"revision {number} of {stack} not found", field="revision")
    revision = revisions_for_read(stack).filter(number=number).first()
    if revision is None:
        raise NotFound(f"revision {number} of {stack} not found", field="revision")
    return revision


def attachments_for_read(revision: Revision) -> QuerySet[Attachment]:
    return Attachment.objects.filter(
        team_id=revision.team_id, revision=revision
    ).order_by("index")


def attachment_get_for_read(revision: Revision, index: object) -> Attachment:
    try:
        position = int(str(index))
    except ValueError:
        raise NotFound("attachment not found", field="attachment") from None
    if not 0 <= position <= MAX_NUMBER:
        raise NotFound(f"attachment {index} not found", field="attachment")
    attachment = (
        attachments_for_read(revision)
        .select_related("blob")
        .filter(index=position)
        .first()
    )
    if attachment is None:
        raise NotFound(f"attachment {index} not found", field="attachment")
    return attachment


def stacks_shared_with(actor: Actor) -> QuerySet[Stack]:
    """List the stacks shared with the actor, within its token's reach."""
    shares = shares_received(actor, SHARE_TARGET)
    return (
        Stack.objects.filter(pk__in=shares.values("target_id"), head__isnull=False)
        .select_related("team", "head")
        .order_by("-updated_at", "pk")
    )
