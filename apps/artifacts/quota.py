"""Per-team storage quotas.

`Team.storage_quota` is a number of bytes, or NULL for no limit. A team's
usage is the sum of its blobs' sizes, pending ones included: a pending blob
has been promised to a push, and its bytes may arrive at any moment. Bytes
the team has already are free to push again, because blobs are content
addressed per team.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models import Sum

from apps.artifacts.models import Blob
from apps.core.errors import PayloadTooLarge
from apps.users.models import Team


class QuotaExceeded(PayloadTooLarge):
    code = "quota_exceeded"


def team_storage_used(team_id: int) -> int:
    """Return the bytes of all the team's blobs."""
    total = Blob.objects.filter(team_id=team_id).aggregate(total=Sum("size"))["total"]
    return int(total or 0)


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{count} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def quota_check(*, team: Team, blobs: Mapping[str, int], unhashed: int = 0) -> None:
    """Raise QuotaExceeded if storing `blobs` (sha256 to size) would pass the quota.

    `unhashed` counts the bytes announced without a sha256, which are new
    until their commit shows otherwise.

    Call it inside the push's transaction, before any blob is claimed. For
    a team with a quota it locks the team's row until that transaction
    ends, so two concurrent pushes cannot both fit into the last free bytes.
    """
    if team.storage_quota is None:
        return
    # Read again under the lock: an administrator may have just changed it.
    quota = (
        Team.objects.select_for_update()
        .values_list("storage_quota", flat=True)
        .get(pk=team.pk)
    )
    if quota is None:
        return

    present = set(
        Blob.objects.filter(team_id=team.pk, sha256__in=list(blobs)).values_list(
            "sha256", flat=True
        )
    )
    new_bytes = unhashed + sum(
        size for sha256, size in blobs.items() if sha256 not in present
    )
    if new_bytes == 0:
        return
    used = team_storage_used(team.pk)
    if used + new_bytes > quota:
        raise QuotaExceeded(
            f"this push needs {format_bytes(new_bytes)} more but team {team.name!r} "
            f"uses {format_bytes(used)} of its {format_bytes(quota)} storage quota: "
            "delete old stacks or revisions, or ask an administrator to raise it",
            field="size",
        )
