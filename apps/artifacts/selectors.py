"""Reads over blobs: which ones nothing references any more."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from apps.artifacts import services
from apps.artifacts.models import Blob, Upload


def unreferenced_blobs(team_id: int) -> QuerySet[Blob]:
    blobs = Blob.objects.filter(team_id=team_id)
    for relation in Blob._meta.related_objects:
        if relation.related_model is Upload:
            continue
        references = relation.related_model._default_manager.filter(
            **{relation.field.name: OuterRef("pk")}
        )
        blobs = blobs.filter(~Exists(references))
    return blobs


def teams_with_blobs() -> list[int]:
    return list(Blob.objects.values_list("team_id", flat=True).distinct())


def release_team_orphans(team_id: int) -> int:
    """Free every blob of a team that nothing references, a batch at a time."""
    released = 0
    last = 0
    while True:
        batch = list(
            unreferenced_blobs(team_id)
            .filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[: settings.DELETE_BATCH_SIZE]
        )
        if not batch:
            return released
        released += services.blobs_release(blob_ids=batch)
        last = batch[-1]
