"""The registry's pages: a team's models, a model, a version, a comparison.

They find and authorise through `apps.registry.selectors`, like the API, so
a model the viewer may not read is a 404 (or, for an anonymous visitor, a
redirect to sign in). Forms post to the same services as the API and come
back with a message.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from apps.core.errors import InvalidInput, NotFound
from apps.registry import selectors, services
from apps.registry.api.serializers import model_page_url
from apps.registry.api.shares import share_label
from apps.registry.api.views import order_versions
from apps.registry.models import (
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    VersionState,
)
from apps.stacks.views import (
    header_context,
    page,
    render_markdown,
    share_from_form,
)
from apps.users import services as users_services
from apps.users.actors import Actor
from apps.users.models import Access, ShareRole
from apps.users.selectors import team_get

MODELS_PER_PAGE = 25
VERSIONS_PER_PAGE = 50
# A comparison of more versions than this would be too wide to read.
MAX_COMPARED = 10


def model_url(model: RegisteredModel, suffix: str = "") -> str:
    return f"/{model.team.name}/-/models/{model.name}" + (
        f"/{suffix}" if suffix else ""
    )


def _pull_snippet(
    model: RegisteredModel, *, version: int | None, alias: str | None
) -> str:
    name = f"/{model.team.name}/{model.name}"
    if alias is not None:
        return f'model = dstack.models.pull("{name}", alias="{alias}")'
    if version is not None:
        return f'model = dstack.models.pull("{name}", version={version})'
    return f'model = dstack.models.pull("{name}")'


@require_GET
@page
def team_models(request: HttpRequest, team: str) -> HttpResponse:
    """List a team's models the viewer may read, newest change first."""
    actor = Actor.from_request(request)
    team_obj = team_get(team)
    query = request.GET.get("q", "").replace("\x00", "").strip()[:100]
    visible = selectors.models_for_read(actor, team_obj, query=query).annotate(
        version_count=Count(
            "versions", filter=Q(versions__state=VersionState.COMMITTED)
        )
    )
    paginator = Paginator(visible, MODELS_PER_PAGE)
    models_page = paginator.get_page(request.GET.get("page"))
    is_member = actor.role_in(team_obj) is not None
    if not is_member and paginator.count == 0:
        if not query or not selectors.models_for_read(actor, team_obj).exists():
            raise NotFound(f"team {team!r} not found")

    rows = []
    listed = list(models_page.object_list)
    aliases: dict[int, list[tuple[str, int]]] = {}
    for model_id, name, number in (
        ModelAlias.objects.filter(
            team=team_obj, model_id__in=[model.pk for model in listed]
        )
        .order_by("name")
        .values_list("model_id", "name", "version__version")
    ):
        aliases.setdefault(model_id, []).append((name, number))
    for model in listed:
        rows.append({"model": model, "aliases": aliases.get(model.pk, [])})

    context = {
        "team": team_obj,
        "query": query,
        "rows": rows,
        "page_obj": models_page,
        "paginator": paginator,
        "is_member": is_member,
        "can_write": actor.can_write(team_obj),
        "server_url": settings.PUBLIC_URL,
        **header_context(actor, team_obj),
    }
    return render(request, "registry/models.html", context)


def _metric_names(versions: list[ModelVersion]) -> list[str]:
    names: dict[str, None] = {}
    for version in versions:
        for name in version.metrics:
            names.setdefault(name, None)
    return sorted(names)


def _sort_links(order: str, metric_names: list[str]) -> dict[str, dict[str, str]]:
    """Return, per sortable column, the order its header link requests and its arrow."""
    links = {}
    for key in ["version", *[f"metrics.{name}" for name in metric_names]]:
        if order == f"-{key}":
            links[key] = {"next": key, "arrow": "↓"}
        elif order == key:
            links[key] = {"next": f"-{key}", "arrow": "↑"}
        else:
            links[key] = {"next": f"-{key}", "arrow": ""}
    return links


@require_GET
@page
def model_detail(request: HttpRequest, team: str, name: str) -> HttpResponse:
    """Show a model: description, aliases and its versions as a sortable table."""
    actor = Actor.from_request(request)
    model = selectors.model_get_for_read(actor, team, name)
    order = request.GET.get("order", "") or "-version"
    try:
        ordered = order_versions(selectors.versions_for_read(model), order)
    except InvalidInput:
        order = "-version"
        ordered = selectors.versions_for_read(model)
    paginator = Paginator(ordered, VERSIONS_PER_PAGE)
    versions_page = paginator.get_page(request.GET.get("page"))
    versions = list(versions_page.object_list)
    metric_names = _metric_names(versions)
    by_version = selectors.aliases_by_version(model)
    aliases = list(selectors.aliases_for_read(model))
    rows = [
        {
            "version": version,
            "aliases": by_version.get(version.pk, []),
            "metrics": [version.metrics.get(metric) for metric in metric_names],
        }
        for version in versions
    ]
    can_write = actor.can_write(model.team)
    is_member = actor.role_in(model.team) is not None
    context = {
        "model": model,
        "rows": rows,
        "metric_names": metric_names,
        "sort": _sort_links(order, metric_names),
        "order": order,
        "page_obj": versions_page,
        "paginator": paginator,
        "aliases": aliases,
        "description": render_markdown(model.description) if model.description else "",
        "all_versions": list(
            selectors.versions_for_read(model).values_list("version", flat=True)[:500]
        ),
        # Every version was deleted: the page shows how to push one instead
        # of a pull snippet that would fail.
        "has_versions": paginator.count > 0,
        "can_write": can_write,
        "can_edit": can_write or selectors.can_edit_model(actor, model),
        "is_member": is_member,
        "access_levels": Access.values,
        # Every member may list who the model is shared with; writers change it.
        "shares": list(selectors.shares_for_model(model)) if is_member else [],
        "share_roles": ShareRole.values,
        "snippet": _pull_snippet(model, version=None, alias=None),
        "push_snippet": (
            f'dstack.models.push("/{model.team.name}/{model.name}", model, '
            'metrics={"accuracy": 0.93}, alias="staging")'
        ),
        **header_context(actor, model.team),
    }
    return render(request, "registry/model.html", context)


def _signature_rows(section: Any) -> list[dict[str, str]]:
    """Flatten one side of a signature into rows of name, type and shape."""
    if not isinstance(section, dict):
        return []
    kind = section.get("type")
    if kind == "dataframe":
        return [
            {
                "name": column.get("name", ""),
                "type": column.get("type", ""),
                "shape": "",
            }
            for column in section.get("columns", [])
        ]
    if kind in ("dict", "tuple"):
        rows = []
        for position, item in enumerate(
            section.get("fields") or section.get("items") or []
        ):
            for row in _signature_rows(item):
                row["name"] = row["name"] or str(item.get("name", position))
                rows.append(row)
        return rows
    if kind == "tensor":
        shape = ", ".join(
            "any" if size == -1 else str(size) for size in section.get("shape", [])
        )
        return [
            {
                "name": section.get("name", ""),
                "type": f"tensor of {section.get('dtype')}",
                "shape": f"({shape})",
            }
        ]
    if kind == "series":
        return [
            {
                "name": section.get("name", ""),
                "type": section.get("dtype", ""),
                "shape": "column",
            }
        ]
    return []


@require_GET
@page
def version_detail(
    request: HttpRequest, team: str, name: str, version: int
) -> HttpResponse:
    """Show one version: signature, params, metrics, libraries, lineage and files."""
    actor = Actor.from_request(request)
    model = selectors.model_get_for_read(actor, team, name)
    found = selectors.version_get_for_read(model, version)
    aliases = selectors.aliases_by_version(model).get(found.pk, [])
    is_member = actor.role_in(model.team) is not None
    api = f"/api/teams/{model.team.name}/models/{model.name}/versions/{found.version}"
    files = [
        {"file": item, "download": f"{api}/files/{item.index}/download"}
        for item in selectors.files_for_read(found)
    ]
    snippets = [_pull_snippet(model, version=found.version, alias=None)]
    snippets += [_pull_snippet(model, version=None, alias=alias) for alias in aliases]
    signature = found.signature or {}
    context = {
        "model": model,
        "version": found,
        "aliases": aliases,
        "files": files,
        "snippets": snippets,
        "inputs": _signature_rows(signature.get("inputs")),
        "outputs": _signature_rows(signature.get("outputs")),
        "has_signature": bool(signature),
        "lineage": found.lineage if is_member else {},
        "client": json.dumps(found.client, indent=2)
        if is_member and found.client
        else "",
        "is_member": is_member,
        "can_write": actor.can_write(model.team),
        **header_context(actor, model.team),
    }
    return render(request, "registry/version.html", context)


@require_GET
@page
def model_compare(request: HttpRequest, team: str, name: str) -> HttpResponse:
    """Show the metrics and params of two or more versions side by side."""
    actor = Actor.from_request(request)
    model = selectors.model_get_for_read(actor, team, name)
    numbers: list[int] = []
    for raw in request.GET.getlist("v"):
        try:
            number = int(raw)
        except ValueError:
            continue
        if number not in numbers:
            numbers.append(number)
    # Oldest first, whatever order the boxes were ticked in.
    numbers = sorted(numbers)[:MAX_COMPARED]
    versions = [selectors.version_get_for_read(model, number) for number in numbers]
    metric_names = _metric_names(versions)
    param_names = sorted({key for version in versions for key in version.params})

    metric_rows = []
    for metric in metric_names:
        values = [version.metrics.get(metric) for version in versions]
        present = [value for value in values if value is not None]
        metric_rows.append(
            {
                "name": metric,
                "values": values,
                "max": max(present) if len(present) > 1 else None,
                "min": min(present) if len(present) > 1 else None,
            }
        )
    param_rows = []
    for param in param_names:
        values = [version.params.get(param, "—") for version in versions]
        param_rows.append(
            {
                "name": param,
                "values": values,
                "differs": len({json.dumps(value) for value in values}) > 1,
            }
        )
    context = {
        "model": model,
        "versions": versions,
        "metric_rows": metric_rows,
        "param_rows": param_rows,
        "aliases": selectors.aliases_by_version(model),
        "has_versions": model.latest_id is not None,
        "too_few": len(versions) < 2,
        "is_member": actor.role_in(model.team) is not None,
        **header_context(actor, model.team),
    }
    return render(request, "registry/compare.html", context)


def _write_model(
    request: HttpRequest, team: str, name: str
) -> tuple[Actor, RegisteredModel]:
    actor = Actor.from_request(request)
    return actor, selectors.model_get_for_write(actor, team, name)


def _edit_model(
    request: HttpRequest, team: str, name: str
) -> tuple[Actor, RegisteredModel]:
    actor = Actor.from_request(request)
    return actor, selectors.model_get_for_edit(actor, team, name)


@require_POST
@page
def alias_move(request: HttpRequest, team: str, name: str) -> HttpResponse:
    """Create an alias or move it to another version, from the model page."""
    actor, model = _edit_model(request, team, name)
    alias = request.POST.get("alias", "").strip()
    try:
        number = int(request.POST.get("version", ""))
    except ValueError:
        number = 0
    try:
        services.alias_set(
            actor=actor, model=model, name=alias, body={"version": number}
        )
    except InvalidInput as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Alias {alias} now points at version {number}.")
    return HttpResponseRedirect(model_url(model))


@require_POST
@page
def alias_remove(
    request: HttpRequest, team: str, name: str, alias: str
) -> HttpResponse:
    actor, model = _write_model(request, team, name)
    found = selectors.alias_get_for_read(model, alias)
    services.alias_delete(actor=actor, alias=found)
    messages.success(request, f"Alias {alias} was deleted.")
    return HttpResponseRedirect(model_url(model))


@require_POST
@page
def version_remove(
    request: HttpRequest, team: str, name: str, version: int
) -> HttpResponse:
    actor, model = _write_model(request, team, name)
    found = selectors.version_get_for_read(model, version)
    services.model_version_delete(actor=actor, version=found)
    messages.success(request, f"Version {found.version} was deleted.")
    return HttpResponseRedirect(model_url(model))


@require_POST
@page
def model_settings(request: HttpRequest, team: str, name: str) -> HttpResponse:
    """Change the model's Markdown description and, for the team's writers, access."""
    actor, model = _edit_model(request, team, name)
    body = {"description": request.POST.get("description", "")}
    if "access" in request.POST:
        # Editors through a share get the form without it; the service
        # rejects it from them.
        body["access"] = request.POST["access"]
    try:
        services.model_update(actor=actor, model=model, body=body)
    except InvalidInput as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "The model was saved.")
    return HttpResponseRedirect(model_url(model))


@require_POST
@page
def model_remove(request: HttpRequest, team: str, name: str) -> HttpResponse:
    actor, model = _write_model(request, team, name)
    if request.POST.get("confirm") != model.name:
        messages.error(request, "Type the model's name to confirm the deletion.")
        return HttpResponseRedirect(model_url(model))
    services.model_delete(actor=actor, model=model)
    messages.success(request, f"Model {model.name} was deleted.")
    return HttpResponseRedirect(f"/{model.team.name}/-/models")


@require_POST
@page
def model_share(request: HttpRequest, team: str, name: str) -> HttpResponse:
    """Share the model with a user name or an email address, from its page."""
    actor = Actor.from_request(request)
    model = selectors.model_get_for_sharing(actor, team, name, write=True)
    share_from_form(
        request,
        actor=actor,
        team=model.team,
        target_type=selectors.SHARE_TARGET,
        target_id=model.pk,
        target_label=share_label(model),
        target_url=model_page_url(model),
        shared_name=model.name,
    )
    return HttpResponseRedirect(model_url(model) + "#sharing")


@require_POST
@page
def model_unshare(
    request: HttpRequest, team: str, name: str, share_id: int
) -> HttpResponse:
    actor = Actor.from_request(request)
    model = selectors.model_get_for_sharing(actor, team, name, write=True)
    found = selectors.share_get_for_model(model, share_id)
    users_services.share_delete(
        actor=actor, share=found, target_label=share_label(model)
    )
    messages.success(request, "The share was removed.")
    return HttpResponseRedirect(model_url(model) + "#sharing")
