"""Liveness and health endpoints for load balancers and orchestrators."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_storage() -> None:
    from apps.artifacts.storage import get_storage

    get_storage().check()


def _check_broker() -> None:
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        return  # the in-process broker lives as long as this process
    import redis

    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=2, socket_connect_timeout=2
    )
    try:
        client.ping()
    finally:
        client.close()


CHECKS = {
    "database": _check_database,
    "storage": _check_storage,
    "broker": _check_broker,
}


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    failed = []
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as error:  # any failure of a dependency means "down"
            logger.warning("health check failed: check=%s error=%s", name, error)
            results[name] = f"down: {type(error).__name__}: {error}"[:300]
            failed.append(name)
    if failed:
        return JsonResponse(
            {
                "status": "down",
                "checks": results,
                "error": {
                    "code": "unavailable",
                    "message": ", ".join(failed) + " down",
                    "field": failed[0],
                },
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "checks": results})


@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})
