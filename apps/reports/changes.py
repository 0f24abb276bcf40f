"""Say what a new revision changed, for the report pages that follow its stack."""

from __future__ import annotations

from typing import Any, TypedDict

from apps.stacks.models import Attachment, Revision, RevisionState, Stack


class RevisionChange(TypedDict):
    stack: str
    number: int
    previous: int | None
    message: str
    author: str | None
    added: int
    changed: int
    removed: int
    summary: str


def _contents(revision: Revision | None) -> dict[str, str]:
    if revision is None:
        return {}
    return dict(
        Attachment.objects.filter(
            team_id=revision.team_id, revision=revision
        ).values_list("params_key", "sha256")
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def revision_change(stack: Stack, revision: Revision) -> RevisionChange:
    """Compare `revision` with the stack's previous committed revision.

    An attachment is matched by its params: new params are added, missing
    ones removed, and the same params with other bytes changed.
    """
    previous = (
        Revision.objects.filter(
            team_id=stack.team_id,
            stack=stack,
            state=RevisionState.COMMITTED,
            number__lt=revision.number,
        )
        .order_by("-number")
        .first()
    )
    before, after = _contents(previous), _contents(revision)
    added = len(after.keys() - before.keys())
    removed = len(before.keys() - after.keys())
    changed = sum(
        1 for key in after.keys() & before.keys() if after[key] != before[key]
    )

    parts = []
    if added:
        parts.append(_count(added, "attachment") + " added")
    if changed:
        parts.append(_count(changed, "attachment") + " changed")
    if removed:
        parts.append(_count(removed, "attachment") + " removed")
    detail = ", ".join(parts) if parts else "no attachment changed"
    was = f" (was {previous.number})" if previous is not None else ""
    said = f": “{revision.message}”" if revision.message else ""
    author = (
        revision.author.username if revision.author_id and revision.author else None
    )
    by = f" by {author}" if author else ""
    summary = f"{stack.path} has revision {revision.number}{was}{by}{said}; {detail}."
    return {
        "stack": stack.path,
        "number": revision.number,
        "previous": previous.number if previous is not None else None,
        "message": revision.message,
        "author": author,
        "added": added,
        "changed": changed,
        "removed": removed,
        "summary": summary,
    }


__all__: list[Any] = ["RevisionChange", "revision_change"]
