from celery import shared_task

from apps.registry import services


@shared_task
def expire_pending_versions() -> int:
    return services.model_versions_expire_pending()
