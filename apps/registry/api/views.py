"""The registry API: models, versions, pushes, aliases and file downloads."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.artifacts import services as artifacts
from apps.artifacts.api.serializers import recheck_data
from apps.core.api import ApiView, actor_of, paginate
from apps.core.errors import InvalidInput, NotFound, PayloadTooLarge
from apps.registry import selectors, services, validation
from apps.registry.api.serializers import (
    alias_data,
    model_data,
    version_data,
)
from apps.registry.expressions import ObjectKeyNumber
from apps.registry.models import (
    ModelAlias,
    ModelFile,
    ModelVersion,
    RegisteredModel,
    VersionState,
)
from apps.users.actors import Actor
from apps.users.selectors import team_get, team_get_for_member

OBJECT = OpenApiTypes.OBJECT

# Versions may be sorted by these fields, or by `metrics.NAME`.
VERSION_ORDERS = {"version", "created_at"}


def _is_member(actor: Actor, model: RegisteredModel) -> bool:
    return actor.role_in(model.team) is not None


def _check_body_size(request: Request) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.INLINE_LIMIT:
        raise PayloadTooLarge(
            f"the request body is {length} bytes, more than the "
            f"{settings.INLINE_LIMIT} a push may send: keep the description "
            f"(at most {validation.MAX_DESCRIPTION:,} characters), metrics, params "
            "and signature small, and send larger files without data to upload "
            "them",
            field="body",
        )


def _model_body(model: RegisteredModel) -> dict[str, Any]:
    aliases = list(selectors.aliases_for_read(model))
    count = selectors.versions_for_read(model).count()
    return model_data(model, aliases=aliases, version_count=count)


def _version_body(
    actor: Actor, model: RegisteredModel, version: ModelVersion
) -> dict[str, Any]:
    aliases = selectors.aliases_by_version(model).get(version.pk, [])
    return version_data(
        model,
        version,
        aliases=aliases,
        files=list(selectors.files_for_read(version)),
        with_client=_is_member(actor, model),
    )


def order_versions(versions: Any, order: str | None) -> Any:
    """Sort versions by `version`, `created_at` or `metrics.NAME`; `-` for descending.

    Versions without the metric come last either way.
    """
    if not order:
        return versions
    descending = order.startswith("-")
    key = order[1:] if descending else order
    if key in VERSION_ORDERS:
        return versions.order_by(f"-{key}" if descending else key, "-version")
    if key.startswith("metrics.") and len(key) > len("metrics."):
        if "\x00" in key:
            # No metric name contains NUL, and PostgreSQL rejects a query
            # that does.
            raise InvalidInput("order must not contain NUL bytes", field="order")
        value = ObjectKeyNumber("metrics", key[len("metrics.") :])
        expression = (
            value.desc(nulls_last=True) if descending else value.asc(nulls_last=True)
        )
        return versions.order_by(expression, "-version")
    raise InvalidInput(
        "order must be version, created_at or metrics.NAME, with '-' for descending",
        field="order",
    )


class ModelListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a team's models")
    def get(self, request: Request, team: str) -> Response:
        actor = actor_of(request)
        team_obj = team_get(team)
        query = request.query_params.get("q", "")
        if "\x00" in query:
            raise InvalidInput("q must not contain NUL bytes", field="q")
        models = selectors.models_for_read(actor, team_obj, query=query).annotate(
            version_count=Count(
                "versions", filter=Q(versions__state=VersionState.COMMITTED)
            )
        )
        page = paginate(request, models, lambda model: model)
        if not page["results"] and actor.role_in(team_obj) is None:
            # Nothing visible in a team the caller does not belong to: the
            # same answer as for a team that does not exist.
            if page["count"] == 0:
                team_get_for_member(actor, team)

        ids = [model.pk for model in page["results"]]
        aliases: dict[int, dict[str, int]] = {}
        for model_id, name, number in (
            ModelAlias.objects.filter(team=team_obj, model_id__in=ids)
            .order_by("name")
            .values_list("model_id", "name", "version__version")
        ):
            aliases.setdefault(model_id, {})[name] = number
        results = []
        for model in page["results"]:
            latest = model.latest
            results.append(
                {
                    "name": model.name,
                    "team": team_obj.name,
                    "access": model.access,
                    "latest": latest.version if latest else None,
                    "versions": model.version_count,
                    "aliases": aliases.get(model.pk, {}),
                    "tags": model.tags,
                    "updated_at": model.updated_at.isoformat(),
                    "url": f"{settings.PUBLIC_URL}/{team_obj.name}/-/models/{model.name}",
                }
            )
        page["results"] = results
        return Response(page)


class ModelView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a model with its aliases")
    def get(self, request: Request, team: str, name: str) -> Response:
        model = selectors.model_get_for_read(actor_of(request), team, name)
        return Response(_model_body(model))

    @extend_schema(
        request=OBJECT, responses=OBJECT, summary="Change description, tags or access"
    )
    def patch(self, request: Request, team: str, name: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_edit(actor, team, name)
        services.model_update(actor=actor, model=model, body=request.data)
        return Response(_model_body(selectors.model_get_for_read(actor, team, name)))

    @extend_schema(responses={204: None}, summary="Delete a model with its versions")
    def delete(self, request: Request, team: str, name: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_write(actor, team, name)
        services.model_delete(actor=actor, model=model)
        return Response(status=204)


class VersionListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a model's versions")
    def get(self, request: Request, team: str, name: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_read(actor, team, name)
        versions = order_versions(
            selectors.versions_for_read(model), request.query_params.get("order")
        )
        aliases = selectors.aliases_by_version(model)
        member = _is_member(actor, model)
        return Response(
            paginate(
                request,
                versions,
                lambda version: version_data(
                    model,
                    version,
                    aliases=aliases.get(version.pk, []),
                    with_client=member,
                ),
            )
        )

    @extend_schema(request=OBJECT, responses={201: OBJECT}, summary="Open a push")
    def post(self, request: Request, team: str, name: str) -> Response:
        actor = actor_of(request)
        self.require_user()
        _check_body_size(request)
        validation.validate_model_name(name)
        team_obj = selectors.model_get_for_push(actor, team, name)
        opened = services.model_version_open(
            actor=actor, team=team_obj, name=name, body=request.data
        )
        push_id = str(opened.version.push_id)
        return Response(
            {
                "id": push_id,
                "state": opened.version.state,
                "commit_url": (
                    f"{settings.PUBLIC_URL}/api/teams/{team}/models/{name}"
                    f"/pushes/{push_id}/commit"
                ),
                "files": opened.files,
            },
            status=201,
        )


class PushCommitView(ApiView):
    @extend_schema(request=OBJECT, responses=OBJECT, summary="Commit a push")
    def post(self, request: Request, team: str, name: str, push: str) -> Response:
        actor = actor_of(request)
        self.require_user()
        team_obj = selectors.model_get_for_push(actor, team, name)
        if "\x00" in name:
            raise NotFound(f"push {push} not found", field="push")
        model = (
            RegisteredModel.objects.select_related("team")
            .filter(team=team_obj, name=name)
            .first()
        )
        if model is None:
            raise NotFound(f"push {push} not found", field="push")
        version = services.model_version_commit(
            actor=actor, model=model, push_id=push, body=request.data
        )
        model = RegisteredModel.objects.select_related("team").get(pk=model.pk)
        return Response(_version_body(actor, model, version))


class VersionView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a version with its files")
    def get(self, request: Request, team: str, name: str, version: int) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_read(actor, team, name)
        found = selectors.version_get_for_read(model, version)
        return Response(_version_body(actor, model, found))

    @extend_schema(request=OBJECT, responses=OBJECT, summary="Change a version's tags")
    def patch(self, request: Request, team: str, name: str, version: int) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_edit(actor, team, name)
        found = selectors.version_get_for_read(model, version)
        services.version_update(actor=actor, version=found, body=request.data)
        return Response(_version_body(actor, model, found))

    @extend_schema(responses={204: None}, summary="Delete a version")
    def delete(self, request: Request, team: str, name: str, version: int) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_write(actor, team, name)
        found = selectors.version_get_for_read(model, version)
        services.model_version_delete(actor=actor, version=found)
        return Response(status=204)


def _file(
    request: Request, team: str, name: str, version: int, index: int
) -> ModelFile:
    model = selectors.model_get_for_read(actor_of(request), team, name)
    found = selectors.version_get_for_read(model, version)
    return selectors.file_get_for_read(found, index)


def _download_url(item: ModelFile) -> str:
    return artifacts.download_url(
        blob=item.blob,
        filename=item.path.rsplit("/", 1)[-1],
        media_type="application/octet-stream",
    )


class FileView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read a file with a download URL")
    def get(
        self, request: Request, team: str, name: str, version: int, index: int
    ) -> Response:
        item = _file(request, team, name, version, index)
        return Response(
            {
                "index": item.index,
                "path": item.path,
                "size": item.size,
                "sha256": item.sha256,
                "download_url": _download_url(item),
            }
        )


class FileDownloadView(ApiView):
    @extend_schema(responses={302: None}, summary="Redirect to a file's bytes")
    def get(
        self, request: Request, team: str, name: str, version: int, index: int
    ) -> Any:
        return HttpResponseRedirect(
            _download_url(_file(request, team, name, version, index))
        )


class FileVerifyView(ApiView):
    @extend_schema(
        request=None,
        responses=OBJECT,
        summary="Report that a file's bytes failed their sha256",
    )
    def post(
        self, request: Request, team: str, name: str, version: int, index: int
    ) -> Response:
        item = _file(request, team, name, version, index)
        label = f"{item.version.model} version {version} file {item.path}"
        recheck = artifacts.blob_recheck(
            actor=actor_of(request), blob=item.blob, label=label
        )
        return Response(recheck_data(recheck))


class AliasListView(ApiView):
    @extend_schema(responses=OBJECT, summary="List a model's aliases")
    def get(self, request: Request, team: str, name: str) -> Response:
        model = selectors.model_get_for_read(actor_of(request), team, name)
        return Response(
            {
                "results": [
                    alias_data(item) for item in selectors.aliases_for_read(model)
                ]
            }
        )


class AliasView(ApiView):
    @extend_schema(responses=OBJECT, summary="Read the version an alias points at")
    def get(self, request: Request, team: str, name: str, alias: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_read(actor, team, name)
        if alias == "latest":
            version = selectors.latest_get_for_read(model)
        else:
            version = selectors.alias_get_for_read(model, alias).version
        return Response(
            {"name": alias, "version": _version_body(actor, model, version)}
        )

    @extend_schema(request=OBJECT, responses=OBJECT, summary="Create or move an alias")
    def put(self, request: Request, team: str, name: str, alias: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_edit(actor, team, name)
        moved = services.alias_set(
            actor=actor, model=model, name=alias, body=request.data
        )
        return Response(alias_data(moved))

    @extend_schema(responses={204: None}, summary="Delete an alias")
    def delete(self, request: Request, team: str, name: str, alias: str) -> Response:
        actor = actor_of(request)
        model = selectors.model_get_for_write(actor, team, name)
        found = selectors.alias_get_for_read(model, alias)
        services.alias_delete(actor=actor, alias=found)
        return Response(status=204)
