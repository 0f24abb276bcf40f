"""JSON shapes of stacks, revisions and attachments."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.stacks.models import Attachment, Revision, Stack


def stack_page_url(stack: Stack) -> str:
    return f"{settings.PUBLIC_URL}/{stack.team.name}/{stack.path}"


def attachment_data(attachment: Attachment) -> dict[str, Any]:
    return {
        "index": attachment.index,
        "params": attachment.params,
        "media_type": attachment.media_type,
        "application": attachment.application or None,
        "description": attachment.description or None,
        "filename": attachment.filename or None,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "settings": attachment.settings,
    }


def revision_data(
    revision: Revision,
    attachments: list[Attachment] | None = None,
    *,
    with_client: bool = True,
) -> dict[str, Any]:
    """Describe a revision; `with_client=False` leaves out the pushing
    machine's details (Python, OS release), which only the team sees."""
    data: dict[str, Any] = {
        "number": revision.number,
        "message": revision.message,
        "author": revision.author.username if revision.author else None,
        "created_at": revision.created_at.isoformat(),
        "committed_at": revision.committed_at.isoformat()
        if revision.committed_at
        else None,
        "client": revision.client if with_client else None,
        "attachment_count": revision.attachment_count,
        "size": revision.size,
    }
    if attachments is not None:
        data["attachments"] = [attachment_data(item) for item in attachments]
    return data


def stack_summary(stack: Stack) -> dict[str, Any]:
    head = stack.head
    return {
        "path": stack.path,
        "team": stack.team.name,
        "access": stack.access,
        "head": head.number if head else None,
        "revisions": stack.next_number - 1,
        "attachments": head.attachment_count if head else 0,
        "updated_at": stack.updated_at.isoformat(),
        "url": stack_page_url(stack),
    }


def stack_data(
    stack: Stack,
    head_attachments: list[Attachment] | None,
    *,
    with_client: bool = True,
) -> dict[str, Any]:
    return {
        "path": stack.path,
        "team": stack.team.name,
        "access": stack.access,
        "retention": stack.retention,
        "url": stack_page_url(stack),
        "created_at": stack.created_at.isoformat(),
        "updated_at": stack.updated_at.isoformat(),
        "head": (
            revision_data(stack.head, head_attachments, with_client=with_client)
            if stack.head
            else None
        ),
    }
