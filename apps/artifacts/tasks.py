from celery import shared_task

from apps.artifacts import selectors, services


@shared_task(acks_late=True)
def verify_blob(blob_id: int) -> str | None:
    return services.blob_verify(blob_id=blob_id)


@shared_task
def release_orphan_blobs(team_id: int) -> int:
    return selectors.release_team_orphans(team_id)


@shared_task
def collect_orphan_blobs() -> int:
    return sum(
        selectors.release_team_orphans(team_id)
        for team_id in selectors.teams_with_blobs()
    )
