from celery import shared_task

from apps.users import services


@shared_task
def purge_deleted_team(team_id: int) -> int:
    return services.team_purge(team_id=team_id)
