"""The browser pages: a team's stacks, a stack, its revisions and settings.

Every page finds and authorises through `apps.stacks.selectors`, the same as
the API, so a stack the viewer may not read is a 404 (or, for an anonymous
visitor, a redirect to sign in). Pages render metadata only: the stack page
embeds its attachments' list as JSON and `static/js/stack.js` fetches the
selected attachment's bytes from the API with the session.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import markdown
import nh3
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.artifacts import tables
from apps.artifacts.storage import StorageError, get_storage
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.stacks import selectors, services
from apps.stacks.models import Attachment, Revision, RevisionState, Stack
from apps.users import services as users_services
from apps.users.actors import Actor
from apps.users.models import Access, ShareRole, Team
from apps.users.selectors import team_get, teams_for_actor

STACKS_PER_PAGE = 25
REVISIONS_PER_PAGE = 25
# A Markdown attachment larger than this is offered as a download instead:
# rendering it would hold a request for seconds.
MARKDOWN_RENDER_LIMIT = 1_000_000

IMAGE_TYPES = frozenset({"image/svg+xml", "image/png", "image/jpeg", "image/gif", "image/webp"})
TEXT_TYPES = frozenset({"text/plain", "application/json", "text/x-python", "text/html"})
KIND_LABELS = {
    "plotly": "Plotly",
    "bokeh": "Bokeh",
    "matplotlib": "Matplotlib",
    "table": "Table",
    "markdown": "Markdown",
    "image": "Image",
    "text": "Text",
    "file": "File",
}

View = Callable[..., HttpResponse]


# -- helpers ------------------------------------------------------------------


def page(view: View) -> View:
    """Turn the selectors' errors into pages.

    A stack or team that is missing or not readable is a 404 for a signed-in
    user and a redirect to sign in for an anonymous one, who might see it
    after signing in. A read-only role asking to write is a 403, but an
    anonymous visitor asking to change a public stack is sent to sign in,
    as the API answers 401 there.
    """

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (NotFound, PermissionDenied) as error:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if isinstance(error, PermissionDenied):
                raise DjangoPermissionDenied(error.message) from None
            raise Http404("not found") from None

    return wrapper


def header_context(actor: Actor, team: Team | str | None) -> dict[str, Any]:
    """Return what the header shows: the current team and the switcher's teams."""
    teams = [{"name": item.name, "role": role} for item, role in teams_for_actor(actor)]
    name = team.name if isinstance(team, Team) else team
    if name is None and actor.user is not None:
        name = actor.user.username
    return {"current_team": name, "switcher_teams": teams}


def render_markdown(text: str) -> str:
    """Render Markdown to HTML and sanitize it: pushed text is untrusted."""
    html = markdown.markdown(text, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html)


def attachment_kind(application: str, media_type: str) -> str:
    """Name how the page shows an attachment; `KIND_LABELS` has the names."""
    if application in {"plotly", "bokeh"}:
        return application
    if tables.is_table(media_type):
        return "table"
    if media_type == "text/markdown":
        return "markdown"
    if media_type in IMAGE_TYPES:
        return "image"
    if media_type in TEXT_TYPES or media_type.startswith("text/"):
        return "text"
    return "file"


def _label(application: str, media_type: str) -> str:
    if application == "matplotlib":
        return KIND_LABELS["matplotlib"]
    return KIND_LABELS[attachment_kind(application, media_type)]


def _stack_path(path: str) -> str:
    # `a/-/b` is a sub-page address, never a stack: an unknown sub-page.
    if "/-/" in f"/{path}/":
        raise NotFound("no such page")
    return path


def stack_url(stack: Stack, suffix: str = "") -> str:
    return f"/{stack.team.name}/{stack.path}" + (f"/-/{suffix}" if suffix else "")


def api_url(stack: Stack) -> str:
    return f"/api/teams/{stack.team.name}/stacks/{stack.path}"


# -- home and team ------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login("/")
    return redirect(f"/{request.user.get_username()}")


@require_GET
@page
def team_stacks(request: HttpRequest, team: str) -> HttpResponse:
    """List a team's stacks the viewer may read, newest change first."""
    actor = Actor.from_request(request)
    team_obj = team_get(team)
    query = request.GET.get("q", "").strip()[:255]

    visible = selectors.stacks_for_read(actor, team_obj, query=query).annotate(
        revision_count=Count("revisions", filter=Q(revisions__state=RevisionState.COMMITTED))
    )
    paginator = Paginator(visible, STACKS_PER_PAGE)
    stacks_page = paginator.get_page(request.GET.get("page"))
    is_member = actor.role_in(team_obj) is not None
    if not is_member and paginator.count == 0:
        # Nothing to show in a team the viewer does not belong to: respond as
        # for a team that does not exist, unless a search hid the stacks.
        if not query or not selectors.stacks_for_read(actor, team_obj).exists():
            raise NotFound(f"team {team!r} not found")

    stacks = list(stacks_page.object_list)
    labels: dict[int, set[str]] = defaultdict(set)
    heads = [stack.head_id for stack in stacks]
    pairs = (
        Attachment.objects.filter(team=team_obj, revision_id__in=heads)
        .values_list("revision_id", "application", "media_type")
        .distinct()
    )
    for revision_id, application, media_type in pairs:
        labels[revision_id].add(_label(application, media_type))
    rows = [{"stack": stack, "labels": sorted(labels[stack.head_id])} for stack in stacks]

    context = {
        "team": team_obj,
        "query": query,
        "rows": rows,
        "page_obj": stacks_page,
        "paginator": paginator,
        "is_member": is_member,
        "can_write": actor.can_write(team_obj),
        "server_url": settings.PUBLIC_URL,
        **header_context(actor, team_obj),
    }
    return render(request, "stacks/team.html", context)


# -- the stack page -----------------------------------------------------------


def _value_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "tab"
    return "string"


def build_controls(attachments: list[Attachment]) -> list[dict[str, Any]]:
    """Describe one control per param name, from the values the attachments use.

    Strings get a select, numbers a slider over the existing values (so it
    snaps to them), booleans a checkbox, tab markers a row of tabs. A param
    whose values mix types falls back to a select of their JSON forms.
    """
    values: dict[str, dict[str, Any]] = {}
    for attachment in attachments:
        for name, value in attachment.params.items():
            key = json.dumps(value, sort_keys=True)
            values.setdefault(name, {})[key] = value

    controls = []
    for name, distinct in values.items():
        types = {_value_type(value) for value in distinct.values()}
        kind = types.pop() if len(types) == 1 else "mixed"
        items = list(distinct.values())
        if kind == "number":
            items.sort()
            control = "slider"
        elif kind == "boolean":
            control = "checkbox" if set(items) <= {True, False} else "select"
        elif kind == "tab":
            control = "tabs"
        else:
            control = "select"
        if kind == "mixed":
            items.sort(key=lambda value: json.dumps(value, sort_keys=True))
        controls.append({"name": name, "type": kind, "control": control, "values": items})
    # Tabs first: they frame the view; then the rest in first-seen order.
    controls.sort(key=lambda item: item["control"] != "tabs")
    return controls


def _attachment_list(attachments: list[Attachment]) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the attachments' metadata for the page and their rendered descriptions.

    Descriptions are usually shared by many attachments, so each distinct one
    is rendered once and attachments refer to it by position.
    """
    descriptions: dict[str, int] = {}
    rendered: list[str] = []
    items = []
    for attachment in attachments:
        described = None
        if attachment.description:
            if attachment.description not in descriptions:
                descriptions[attachment.description] = len(rendered)
                rendered.append(render_markdown(attachment.description))
            described = descriptions[attachment.description]
        items.append(
            {
                "index": attachment.index,
                "params": attachment.params,
                "media_type": attachment.media_type,
                "application": attachment.application or None,
                "kind": attachment_kind(attachment.application, attachment.media_type),
                "description": described,
                "filename": attachment.filename or None,
                "size": attachment.size,
            }
        )
    return items, rendered


@require_GET
@page
def stack_detail(request: HttpRequest, team: str, path: str) -> HttpResponse:
    """Show a revision (the head unless `?revision=N`) with its controls.

    The query count does not grow with revisions or attachments: one query
    reads the attachments, and their bytes are fetched by the browser.
    """
    actor = Actor.from_request(request)
    stack = selectors.stack_get_for_read(actor, team, _stack_path(path))
    if request.GET.get("revision"):
        revision: Revision | None = selectors.revision_get_for_read(stack, request.GET["revision"])
    else:
        revision = stack.head
    attachments = list(selectors.attachments_for_read(revision)) if revision else []
    items, descriptions = _attachment_list(attachments)
    if revision is not None and revision.author_id is not None:
        revision.author  # noqa: B018 - one query for the header, not one per use

    page_data = {
        "team": stack.team.name,
        "path": stack.path,
        "revision": revision.number if revision else None,
        "head": stack.head.number if stack.head else None,
        "api": api_url(stack),
        "page": stack_url(stack),
        "socket": f"/ws/stacks/{stack.team.name}/{stack.path}",
        "plotly_js": static("vendor/plotly.min.js"),
        "bokeh_js": [
            static("vendor/bokeh.min.js"),
            static("vendor/bokeh-widgets.min.js"),
            static("vendor/bokeh-tables.min.js"),
        ],
        "markdown": stack_url(stack, "revisions/{number}/attachments/{index}/html"),
        "attachments": items,
        "descriptions": descriptions,
        "controls": build_controls(attachments),
    }
    context = {
        "stack": stack,
        "revision": revision,
        "is_head": revision is not None and revision.pk == stack.head_id,
        "can_write": actor.can_write(stack.team),
        "is_member": actor.role_in(stack.team) is not None,
        "page_data": page_data,
        "controls": page_data["controls"],
        "tab": "view",
        **header_context(actor, stack.team),
    }
    return render(request, "stacks/stack.html", context)


@require_GET
@page
def attachment_html(
    request: HttpRequest, team: str, path: str, number: int, index: int
) -> HttpResponse:
    """Return a Markdown attachment rendered to sanitized HTML, for the stack page."""
    stack = selectors.stack_get_for_read(Actor.from_request(request), team, _stack_path(path))
    revision = selectors.revision_get_for_read(stack, number)
    attachment = selectors.attachment_get_for_read(revision, index)
    if attachment.media_type != "text/markdown":
        raise NotFound("this attachment is not Markdown")
    if attachment.size > MARKDOWN_RENDER_LIMIT:
        return HttpResponse(status=413)
    if not attachment.blob.is_readable:
        return HttpResponse(status=409)
    try:
        raw = b"".join(get_storage().iter_bytes(attachment.blob.key))
    except StorageError:
        return HttpResponse(status=503)
    html = render_markdown(raw.decode("utf-8", errors="replace"))
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    return response


# -- revisions ----------------------------------------------------------------


@require_GET
@page
def stack_revisions(request: HttpRequest, team: str, path: str) -> HttpResponse:
    actor = Actor.from_request(request)
    stack = selectors.stack_get_for_read(actor, team, _stack_path(path))
    paginator = Paginator(selectors.revisions_for_read(stack), REVISIONS_PER_PAGE)
    revisions_page = paginator.get_page(request.GET.get("page"))
    context = {
        "stack": stack,
        "page_obj": revisions_page,
        "paginator": paginator,
        "can_write": actor.can_write(stack.team),
        "is_member": actor.role_in(stack.team) is not None,
        "tab": "revisions",
        **header_context(actor, stack.team),
    }
    return render(request, "stacks/revisions.html", context)


def _write_stack(request: HttpRequest, team: str, path: str) -> tuple[Actor, Stack]:
    actor = Actor.from_request(request)
    stack = selectors.stack_get_for_write(actor, team, _stack_path(path))
    return actor, stack


@require_POST
@page
def revision_make_head(request: HttpRequest, team: str, path: str, number: int) -> HttpResponse:
    actor, stack = _write_stack(request, team, path)
    revision = selectors.revision_get_for_read(stack, number)
    services.stack_update(actor=actor, stack=stack, body={"head": revision.number})
    messages.success(request, f"Revision {revision.number} is now the head.")
    return HttpResponseRedirect(stack_url(stack, "revisions"))


@require_POST
@page
def revision_remove(request: HttpRequest, team: str, path: str, number: int) -> HttpResponse:
    actor, stack = _write_stack(request, team, path)
    revision = selectors.revision_get_for_read(stack, number)
    services.revision_delete(actor=actor, stack=stack, revision=revision)
    messages.success(request, f"Revision {revision.number} was deleted.")
    return HttpResponseRedirect(stack_url(stack, "revisions"))


# -- settings -----------------------------------------------------------------


def _parse_retention(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput("retention must be a whole number of revisions", field="retention") from None


@require_http_methods(["GET", "POST"])
@page
def stack_settings(request: HttpRequest, team: str, path: str) -> HttpResponse:
    """Show and change a stack's access level and retention; members with write access only."""
    actor, stack = _write_stack(request, team, path)
    if request.method == "POST":
        try:
            body = {
                "access": request.POST.get("access", ""),
                "retention": _parse_retention(request.POST.get("retention", "")),
            }
            services.stack_update(actor=actor, stack=stack, body=body)
        except InvalidInput as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Settings saved.")
            return HttpResponseRedirect(stack_url(stack, "settings"))

    context = {
        "stack": stack,
        "access_levels": Access.values,
        "tab": "settings",
        "can_write": True,
        "is_member": True,
        "shares": list(selectors.shares_for_stack(stack)),
        "share_roles": ShareRole.values,
        **header_context(actor, stack.team),
    }
    return render(request, "stacks/settings.html", context)


def share_from_form(
    request: HttpRequest,
    *,
    actor: Actor,
    team: Team,
    target_type: str,
    target_id: int,
    target_label: str,
    target_url: str,
    shared_name: str,
) -> None:
    """Share an object with the form's `recipient` and `role`, then flash the outcome.

    A recipient with `@` is an email address, anything else a user name.
    """
    recipient = request.POST.get("recipient", "").strip()
    by_email = "@" in recipient
    try:
        users_services.share_create(
            actor=actor,
            team=team,
            target_type=target_type,
            target_id=target_id,
            target_label=target_label,
            target_url=target_url,
            role=request.POST.get("role", ""),
            username=None if by_email else recipient,
            email=recipient if by_email else None,
        )
    except InvalidInput as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{shared_name} is shared with {recipient}.")


@require_POST
@page
def stack_share(request: HttpRequest, team: str, path: str) -> HttpResponse:
    """Share the stack with a user name or an email address, from the settings page."""
    actor = Actor.from_request(request)
    stack = selectors.stack_get_for_sharing(actor, team, _stack_path(path), write=True)
    share_from_form(
        request,
        actor=actor,
        team=stack.team,
        target_type=selectors.SHARE_TARGET,
        target_id=stack.pk,
        target_label=str(stack),
        target_url=settings.PUBLIC_URL + stack_url(stack),
        shared_name=stack.path,
    )
    return HttpResponseRedirect(stack_url(stack, "settings") + "#sharing")


@require_POST
@page
def stack_unshare(request: HttpRequest, team: str, path: str, share_id: int) -> HttpResponse:
    actor = Actor.from_request(request)
    stack = selectors.stack_get_for_sharing(actor, team, _stack_path(path), write=True)
    found = selectors.share_get_for_stack(stack, share_id)
    users_services.share_delete(actor=actor, share=found, target_label=str(stack))
    messages.success(request, "The share was removed.")
    return HttpResponseRedirect(stack_url(stack, "settings") + "#sharing")


@require_POST
@page
def stack_remove(request: HttpRequest, team: str, path: str) -> HttpResponse:
    actor, stack = _write_stack(request, team, path)
    if request.POST.get("confirm") != stack.path:
        messages.error(request, "Type the stack's path to confirm the deletion.")
        return HttpResponseRedirect(stack_url(stack, "settings"))
    services.stack_delete(actor=actor, stack=stack)
    messages.success(request, f"Stack {stack.path} was deleted.")
    return HttpResponseRedirect(reverse("team", args=[stack.team.name]))


__all__ = [
    "attachment_html",
    "build_controls",
    "home",
    "render_markdown",
    "revision_make_head",
    "revision_remove",
    "share_from_form",
    "stack_detail",
    "stack_remove",
    "stack_revisions",
    "stack_settings",
    "stack_share",
    "stack_unshare",
    "team_stacks",
]
