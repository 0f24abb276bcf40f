"""Export a report as one HTML file that works offline.

The file contains everything the page needs: the styles, KaTeX with its fonts
as data URIs, plotly.js and BokehJS when a card uses them, `report.js`, and
the bytes of every attachment of the cards the exporting reader may read,
so charts stay interactive (hover, zoom, the shared and per-card controls)
with no server. Attachments are embedded as follows:

- Plotly and Bokeh figures, JSON and text: their text.
- Images: data URIs.
- Markdown: the sanitized HTML the page would show.
- Tables: their first `TABLE_ROWS` rows, as JSON.
- Other files: not embedded; the card says so.

An export whose embedded bytes would pass `REPORT_EXPORT_LIMIT` (a
setting, 200 MB unless set) is rejected with 413 rather than written in part.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils.text import slugify

from apps.artifacts import tables
from apps.artifacts.storage import StorageError, get_storage
from apps.core.errors import Conflict, PayloadTooLarge
from apps.reports import presenters
from apps.reports.models import Report
from apps.reports.text import render_markdown_math
from apps.stacks.models import Attachment
from apps.users.actors import Actor

EXPORT_LIMIT = 200 * 1024 * 1024
TABLE_ROWS = 1000
BOKEH_FILES = (
    "vendor/bokeh.min.js",
    "vendor/bokeh-widgets.min.js",
    "vendor/bokeh-tables.min.js",
)
_FONT = re.compile(r"url\((fonts/[^)]+?\.woff2)\)\s*format\([\"']woff2[\"']\)")


def export_filename(report: Report) -> str:
    stem = slugify(report.title) or "report"
    return f"{report.team.name}-{stem}.html"


def _static_text(name: str) -> str:
    found = finders.find(name)
    if not found:
        raise Conflict(
            f"the static file {name} is missing on this server", field="report"
        )
    return Path(str(found)).read_text(encoding="utf-8")


def _script(text: str) -> str:
    # Inside <script>, only "</script" ends the element; "<\/" means the same
    # to JavaScript in strings and regular expressions.
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def katex_css() -> str:
    css = _static_text("vendor/katex/katex.min.css")
    root = Path(str(finders.find("vendor/katex/katex.min.css"))).parent

    def inline(match: re.Match[str]) -> str:
        data = base64.b64encode((root / match.group(1)).read_bytes()).decode()
        return f'url(data:font/woff2;base64,{data}) format("woff2")'

    return _FONT.sub(inline, css)


class _Budget:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def take(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise PayloadTooLarge(
                f"the report's attachments are larger than the export limit of "
                f"{self.limit} bytes; remove or pin smaller cards and export again",
                field="report",
            )


def _read(attachment: Attachment) -> bytes:
    if not attachment.blob.is_readable:
        raise Conflict(
            f"attachment {attachment.index} is still being uploaded", field="report"
        )
    try:
        return b"".join(get_storage().iter_bytes(attachment.blob.key))
    except StorageError as error:
        raise Conflict(
            f"could not read an attachment: {error}", field="report"
        ) from None


def _embedded(
    attachment: Attachment, kind: str, budget: _Budget
) -> dict[str, Any] | None:
    if kind == "file":
        return None
    if kind == "table":
        page = tables.table_page(
            attachment.blob, attachment.media_type, page=1, page_size=TABLE_ROWS
        )
        budget.take(len(json.dumps(page, default=str)))
        return {"table": page}
    budget.take(attachment.size)
    raw = _read(attachment)
    if kind == "image":
        encoded = base64.b64encode(raw).decode()
        return {"src": f"data:{attachment.media_type};base64,{encoded}"}
    text = raw.decode("utf-8", errors="replace")
    if kind == "markdown":
        return {"html": render_markdown_math(text)}
    return {"text": text}


def report_export(*, actor: Actor, report: Report) -> str:
    """Return the export of `report` as the actor may read it, as HTML text.

    1. Build the same view the report page gets, for this actor.
    2. Read the attachments of its readable cards and embed them.
    3. Inline the scripts the cards need and render the document.
    """
    view = presenters.report_view(actor, report)

    revisions: dict[tuple[str, int], list[int]] = {}
    for card in view["cards"]:
        if card["available"] and card["revision"] is not None:
            revisions.setdefault((card["stack"]["path"], card["revision"]), []).append(
                card["id"]
            )
    wanted = Q(pk__in=[])
    for path, number in revisions:
        wanted |= Q(revision__stack__path=path, revision__number=number)
    rows = (
        Attachment.objects.filter(wanted, team_id=report.team_id)
        .select_related("blob", "revision__stack")
        .order_by("revision_id", "index")
    )
    budget = _Budget(getattr(settings, "REPORT_EXPORT_LIMIT", EXPORT_LIMIT))
    embedded: dict[str, Any] = {}
    kinds: set[str] = set()
    for attachment in rows:
        key = (attachment.revision.stack.path, attachment.revision.number)
        if key not in revisions:
            continue
        kind = presenters.attachment_kind(attachment.application, attachment.media_type)
        kinds.add(kind)
        content = _embedded(attachment, kind, budget)
        if content is not None:
            embedded[f"{key[0]}@{key[1]}#{attachment.index}"] = content

    scripts = [_static_text("vendor/katex/katex.min.js")]
    if "plotly" in kinds:
        scripts.append(_static_text("vendor/plotly.min.js"))
    if "bokeh" in kinds:
        scripts.extend(_static_text(name) for name in BOKEH_FILES)
    view["offline"] = True
    view["embedded"] = embedded
    context = {
        "view": view,
        "styles": _static_text("css/app.css") + "\n" + _static_text("css/report.css"),
        "katex_css": katex_css(),
        "scripts": [_script(text) for text in scripts],
        "report_js": _script(_static_text("js/report.js")),
    }
    return render_to_string("reports/export.html", context)
