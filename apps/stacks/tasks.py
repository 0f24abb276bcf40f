from celery import shared_task

from apps.stacks import services


@shared_task
def expire_pending_revisions() -> int:
    return services.revisions_expire_pending()
