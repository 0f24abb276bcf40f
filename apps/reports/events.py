"""Live events about reports, sent to the open report pages.

A report page's websocket (`apps.reports.consumers`) joins the report's
group and the groups of the stacks its cards follow (`stack.<id>`, where
`apps.stacks.events` announces commits). Report edits go to the report's
group through the same loop hand-over as stack events.
"""

from __future__ import annotations

import logging

from apps.stacks.events import group_send

logger = logging.getLogger(__name__)

REPORT_CHANGED = "report.changed"


def report_group(report_id: int) -> str:
    return f"report.{report_id}"


def report_changed(report_id: int, *, change: str, by: str) -> None:
    """Tell a report's open pages that it was edited.

    `change` is `report` (title, description, access), `cards` or `deleted`.
    Called from `transaction.on_commit`. Failures are logged and not raised.
    """
    message = {"type": REPORT_CHANGED, "change": change, "by": by}
    try:
        group_send(report_group(report_id), message)
    except Exception:
        # The edit is committed whatever happens here.
        logger.exception("report event failed: report=%s", report_id)
