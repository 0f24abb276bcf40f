"""The embedded runtime: web server, Celery worker and beat in one process.

uvicorn serves the ASGI application on the main thread, which also receives
SIGINT and SIGTERM. The worker is a Celery `WorkController` and beat is
Celery's embedded service, each on a thread of its own. All three use the one
Celery app of `dstack_platform.celery`. kombu's in-memory transport keeps its
queues per process, so with the `memory://` broker a task that a request sends
lands in the queue that the worker thread reads.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from celery import Celery, beat
from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

# A warm shutdown lets running tasks finish. Past this many seconds the
# process exits anyway: the threads are daemons, and the tasks keep their
# state in the database.
STOP_TIMEOUT = 10.0
WORKER_POOL_SIZE = 2


class _Server(uvicorn.Server):
    """A uvicorn server that reports when it is listening."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()


class _WorkerThread(threading.Thread):
    """A Celery worker on a thread, with a small pool of task threads."""

    def __init__(self, app: Celery, *, in_process_broker: bool) -> None:
        super().__init__(name="celery-worker", daemon=True)
        # The base WorkController, not `app.Worker`: the latter is the
        # command-line worker, which installs signal handlers (only the main
        # thread may) and redirects stdout to its logger.
        self.worker = app.WorkController(
            hostname="serve@%h",
            pool_cls="threads",
            concurrency=WORKER_POOL_SIZE,
            # The synchronous consumer loop polls the broker, because kombu's
            # event loop hub expects a worker process of its own.
            use_eventloop=False,
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=in_process_broker,
        )

    def run(self) -> None:
        try:
            self.worker.start()
        except Exception:
            # The web server keeps serving, and /healthz reports the broker.
            logger.exception("embedded worker stopped with an error")
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.worker.stop()


class EmbeddedRuntime:
    """Start the worker and beat threads, serve HTTP until a signal, stop all.

    1. Start the worker and beat threads; they idle until the broker has
       messages or a schedule entry is due.
    2. Serve the ASGI application on `host:port` (bound by `bind()`, or now)
       on this thread until SIGINT or SIGTERM.
    3. Stop beat and the worker, waiting at most `STOP_TIMEOUT` seconds.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        access_log: bool = False,
        on_started: Callable[[], None] = lambda: None,
    ) -> None:
        from dstack_platform.celery import app

        self.app = app
        self.host = host
        self.port = port
        self.on_started = on_started
        self.access_log = access_log
        self.stop_requested = threading.Event()
        self._socket: socket.socket | None = None

    def bind(self) -> None:
        """Listen on `host:port` now, so that a taken port fails before any setup.

        Raises OSError when the address is taken or cannot be bound.
        """
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
        except OSError:
            listener.close()
            raise
        self._socket = listener

    def run(self) -> None:
        if self._socket is None:
            self.bind()

        in_process = settings.CELERY_BROKER_URL.startswith("memory://")
        if in_process:
            # Nothing outside this process can reach an in-memory mailbox.
            self.app.conf.worker_enable_remote_control = False

        worker = _WorkerThread(self.app, in_process_broker=in_process)
        scheduler = beat.EmbeddedService(
            self.app,
            thread=True,
            scheduler_cls=settings.CELERY_BEAT_SCHEDULER,
        )
        worker.start()
        scheduler.start()
        logger.info("embedded worker and beat started: broker=%s", _broker_name())

        try:
            self._serve()
        finally:
            self._stop(worker, scheduler)

    def _serve(self) -> None:
        from dstack_platform.asgi import application

        config = uvicorn.Config(
            application,
            host=self.host,
            port=self.port,
            # Channels' router has no lifespan protocol, and nothing here
            # needs start-up hooks: migrations ran before this.
            lifespan="off",
            # ClientAddressMiddleware reads X-Forwarded-For from the proxies
            # in DSTACK_TRUSTED_PROXIES; uvicorn's own reading would trust
            # any local process by default.
            proxy_headers=False,
            access_log=self.access_log,
            timeout_graceful_shutdown=5,
            log_level="info",
        )
        server = _Server(config, on_started=self.on_started)

        # uvicorn takes over SIGINT and SIGTERM while it serves, then restores
        # these handlers and raises the signal it caught again. Handled here,
        # that second signal only records the request instead of raising
        # KeyboardInterrupt after a clean shutdown.
        previous = {
            number: signal.signal(number, self._record_stop)
            for number in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            server.run(sockets=[self._socket] if self._socket else None)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        if not server.started:
            raise SystemExit(
                f"the web server could not listen on {self.host}:{self.port}"
            )

    def _record_stop(self, number: int, frame: FrameType | None) -> None:
        self.stop_requested.set()

    def _stop(self, worker: _WorkerThread, scheduler: Any) -> None:
        started = time.monotonic()
        stoppers = [
            threading.Thread(target=scheduler.stop, name="stop-beat", daemon=True),
            threading.Thread(target=worker.stop, name="stop-worker", daemon=True),
        ]
        for stopper in stoppers:
            stopper.start()
        for thread in (*stoppers, scheduler, worker):
            remaining = STOP_TIMEOUT - (time.monotonic() - started)
            thread.join(timeout=max(remaining, 0.0))

        left = [thread.name for thread in (scheduler, worker) if thread.is_alive()]
        if left:
            logger.warning(
                "threads still running after %.0f s, exiting anyway: %s",
                STOP_TIMEOUT,
                ", ".join(left),
            )
        else:
            logger.info(
                "embedded worker and beat stopped in %.1f s", time.monotonic() - started
            )


def _broker_name() -> str:
    return (
        "in-process" if settings.CELERY_BROKER_URL.startswith("memory://") else "redis"
    )
