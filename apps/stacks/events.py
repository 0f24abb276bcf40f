"""Live events about stacks, sent to the browsers that watch them.

The stack page opens a websocket (`apps.stacks.consumers`) that joins the
stack's group; `revision_committed` sends to that group after a commit.

The in-memory channel layer of the embedded server lives on the web server's
event loop. A commit made on another thread (a sync view, the worker thread)
must hand the send to that loop: sent from a loop of its own through
`async_to_sync`, the message reaches the waiting consumer seconds late. So
the first consumer that connects records its loop here.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.stacks.models import Revision, Stack

logger = logging.getLogger(__name__)

REVISION_COMMITTED = "revision.committed"

_loop: asyncio.AbstractEventLoop | None = None


def stack_group(stack_id: int) -> str:
    return f"stack.{stack_id}"


def register_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Record the event loop that serves websockets, unless a live one is recorded."""
    global _loop
    if _loop is None or _loop.is_closed() or not _loop.is_running():
        _loop = loop


def _log_failure(future: Future[Any] | asyncio.Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("stack event failed: %s", future.exception())


def _send(group: str, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None

    loop = _loop
    if loop is not None and not loop.is_closed() and loop.is_running():
        if running is loop:
            # Called on the web loop itself: waiting here would block it.
            loop.create_task(layer.group_send(group, message)).add_done_callback(_log_failure)
        else:
            future = asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop)
            future.add_done_callback(_log_failure)
        return
    if running is not None:
        # No websocket loop yet, but this thread runs a loop of its own, where
        # async_to_sync cannot be used.
        running.create_task(layer.group_send(group, message)).add_done_callback(_log_failure)
        return
    async_to_sync(layer.group_send)(group, message)


def group_send(group: str, message: dict[str, Any]) -> None:
    """Send `message` to a Channels group from any thread; see the module docstring."""
    _send(group, message)


def revision_committed(stack: Stack, revision: Revision) -> None:
    """Tell the stack's watchers that `revision` was committed.

    Called from `transaction.on_commit`, so a watcher that reloads finds it.
    Failures are logged, never raised.
    """
    message = {
        "type": REVISION_COMMITTED,
        "number": revision.number,
        "stack": stack.pk,
    }
    try:
        _send(stack_group(stack.pk), message)
    except Exception:
        # The revision is committed whatever happens here; a watcher missing
        # one event must not turn the push into an error.
        logger.exception("stack event failed: stack=%s revision=%s", stack.pk, revision.number)
        return
    logger.info("stack event sent: stack=%s revision=%s", stack.pk, revision.number)
