"""Prometheus metrics: what the web process counts, and what a scrape reads.

Counted as they happen, per process (`prometheus_client` counters):

    dstack_http_requests_total{method, route, status}
    dstack_http_request_duration_seconds{method, route}   histogram
    dstack_pushes_total                  revisions committed
    dstack_pushed_bytes_total            bytes of their attachments
    dstack_pulls_total                   attachment downloads handed out by the API
    dstack_pulled_bytes_total            bytes of those attachments

Read when Prometheus scrapes, from the shared state (so every web replica
reports the same values, and a query should take `max` over them):

    dstack_queue_depth{queue}            tasks waiting in each Celery queue
    dstack_runs{status}                  job runs in each status, all time

`route` is the URL pattern (`api/teams/<str:team>/stacks/<path:path>`), never
the path itself, so that the number of series stays bounded. With
`PROMETHEUS_MULTIPROC_DIR` set, several processes of one host (uvicorn
`--workers`) add up their counters, as `prometheus_client` documents.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

logger = logging.getLogger(__name__)

REQUESTS = Counter(
    "dstack_http_requests",
    "HTTP requests answered, by method, URL pattern and status code.",
    ["method", "route", "status"],
)
REQUEST_SECONDS = Histogram(
    "dstack_http_request_duration_seconds",
    "Seconds from a request's arrival to its response (streamed bodies not "
    "included), by method and URL pattern.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PUSHES = Counter("dstack_pushes", "Revisions committed.")
PUSHED_BYTES = Counter(
    "dstack_pushed_bytes", "Bytes of the attachments of committed revisions."
)
PULLS = Counter("dstack_pulls", "Attachment downloads handed out by the API.")
PULLED_BYTES = Counter(
    "dstack_pulled_bytes", "Bytes of the attachments whose downloads the API handed out."
)

# Requests that match no URL pattern share one label value.
UNMATCHED_ROUTE = "unmatched"
# kombu's Redis transport keeps a queue's messages of priority 0 under the
# queue's name and those of the other priority steps under NAME\x06\x16STEP.
KOMBU_PRIORITY_SEPARATOR = "\x06\x16"
KOMBU_PRIORITY_STEPS = (3, 6, 9)


def revision_pushed(*, size: int) -> None:
    PUSHES.inc()
    PUSHED_BYTES.inc(size)


def attachment_pulled(*, size: int) -> None:
    PULLS.inc()
    PULLED_BYTES.inc(size)


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED_ROUTE
    return str(match.route)


def _observe(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    route = _route(request)
    method = request.method or "GET"
    REQUESTS.labels(method, route, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)


class RequestMetricsMiddleware:
    """Count every response by method, URL pattern and status.

    It works in both modes, so that async views (the transfer endpoints) are
    not pushed onto a thread to pass through it.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        started = time.perf_counter()
        response = self.get_response(request)
        _observe(request, response, started)
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = await self.get_response(request)
        _observe(request, response, started)
        return response


def celery_queue_names() -> list[str]:
    """Return the queues the Celery app declares or routes tasks to."""
    from dstack_platform.celery import app

    names = {app.conf.task_default_queue}
    for queue in app.conf.task_queues or ():
        names.add(queue.name)
    routes = app.conf.task_routes or {}
    if isinstance(routes, dict):
        for route in routes.values():
            if isinstance(route, dict) and route.get("queue"):
                names.add(route["queue"])
    return sorted(names)


class StateCollector(Collector):
    """Gauges read at scrape time from Redis (and, with jobs, the database)."""

    def collect(self) -> Iterator[Metric]:
        yield from self._queue_depth()
        yield from self._runs_by_status()

    def _runs_by_status(self) -> Iterator[Metric]:
        from django.db.models import Count

        from apps.jobs.models import Run, RunStatus

        family = GaugeMetricFamily(
            "dstack_runs",
            "Job runs in each status, counted over every run the database keeps.",
            labels=["status"],
        )
        # The run_status index starts with the status, so this GROUP BY reads
        # the index rather than the table.
        counts = dict(
            Run.objects.order_by()
            .values_list("status")
            .annotate(count=Count("pk"))
            .values_list("status", "count")
        )
        for status in RunStatus.values:
            family.add_metric([status], float(counts.get(status, 0)))
        yield family

    def _queue_depth(self) -> Iterator[Metric]:
        broker = settings.CELERY_BROKER_URL
        if not broker.startswith(("redis://", "rediss://")):
            return  # another process cannot read the queues of the in-process broker
        import redis

        family = GaugeMetricFamily(
            "dstack_queue_depth",
            "Celery tasks waiting in each queue, not yet taken by a worker.",
            labels=["queue"],
        )
        client = redis.Redis.from_url(broker, socket_timeout=2, socket_connect_timeout=2)
        try:
            for name in celery_queue_names():
                keys = [name] + [
                    f"{name}{KOMBU_PRIORITY_SEPARATOR}{step}"
                    for step in KOMBU_PRIORITY_STEPS
                ]
                pipeline = client.pipeline(transaction=False)
                for key in keys:
                    pipeline.llen(key)
                family.add_metric([name], float(sum(pipeline.execute())))
        except redis.RedisError as error:
            # A scrape without the gauge beats a failed scrape; /healthz
            # reports the broker itself.
            logger.warning("queue depth not read: error=%s", error)
            return
        finally:
            client.close()
        yield family


def render() -> bytes:
    """Return every metric of this process (or host) in the text format."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        families = generate_latest(registry)
    else:
        families = generate_latest(REGISTRY)
    state = CollectorRegistry(auto_describe=False)
    state.register(StateCollector())
    return families + generate_latest(state)
