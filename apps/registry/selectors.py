"""Reads of the registry that find and authorise in one step.

A model is read as a stack is: members of its team read it, anyone signed
in reads an `internal` one, and anyone a `public` one. A model that does
not exist, that the actor may not read, or whose first push has not
committed raises the same `NotFound`.
"""

from __future__ import annotations

from django.db.models import F, Q, QuerySet
from django.db.models.lookups import IsNull

from apps.core.errors import NotFound, PermissionDenied
from apps.registry.models import (
    ModelAlias,
    ModelFile,
    ModelVersion,
    RegisteredModel,
    VersionState,
)
from apps.registry.validation import MAX_NUMBER
from apps.users.actors import Actor
from apps.users.models import Access, Team, TokenScope
from apps.users.selectors import team_get, team_get_for_write


def can_read_model(actor: Actor, model: RegisteredModel) -> bool:
    if model.access == Access.PUBLIC:
        return True
    if model.access == Access.INTERNAL and actor.can_read_internal:
        return True
    return actor.role_in(model.team) is not None


def _not_found(team: str, name: str) -> NotFound:
    return NotFound(f"model {team}/{name} not found", field="model")


def model_get_for_read(actor: Actor, team_name: str, name: str) -> RegisteredModel:
    # No model name contains NUL, and PostgreSQL rejects a query that does.
    if "\x00" in name:
        raise _not_found(team_name, name.replace("\x00", ""))
    try:
        team = team_get(team_name)
    except NotFound:
        raise _not_found(team_name, name) from None
    model = (
        RegisteredModel.objects.select_related("team", "latest")
        .filter(team=team, name=name, published_at__isnull=False)
        .first()
    )
    if model is None or not can_read_model(actor, model):
        raise _not_found(team_name, name)
    return model


def model_get_for_write(actor: Actor, team_name: str, name: str) -> RegisteredModel:
    """Return a model the actor may change: a writing role in its team.

    A reader of a public or internal model of another team gets
    PermissionDenied, and the team's membership stays hidden.
    """
    model = model_get_for_read(actor, team_name, name)
    if actor.role_in(model.team) is None:
        raise PermissionDenied(
            f"model {team_name}/{name} is read-only for you", field="model"
        )
    team_get_for_write(actor, team_name)
    return model


def model_get_for_push(actor: Actor, team_name: str, name: str) -> Team:
    """Return the team a new version of model `name` may be pushed into.

    The model need not exist yet. A reader of an existing public model who
    may not push gets PermissionDenied; everyone else outside the team the
    same NotFound as for a missing team.
    """
    try:
        return team_get_for_write(actor, team_name)
    except NotFound:
        model_get_for_read(actor, team_name, name)
        if actor.token is not None and actor.token.scope != TokenScope.WRITE:
            raise PermissionDenied("this token is read-only", field="token") from None
        raise PermissionDenied(
            f"model {team_name}/{name} is read-only for you", field="model"
        ) from None


def models_for_read(
    actor: Actor, team: Team, *, query: str = ""
) -> QuerySet[RegisteredModel]:
    models = RegisteredModel.objects.filter(team=team, published_at__isnull=False)
    if actor.role_in(team) is None:
        visible = Q(access=Access.PUBLIC)
        if actor.can_read_internal:
            visible |= Q(access=Access.INTERNAL)
        models = models.filter(visible)
    if query:
        models = models.filter(name__icontains=query)
    # A model whose versions were all deleted has nothing to pull, so it
    # goes after the models that have versions. Deleting the last version
    # changes the model, and would otherwise put it first.
    return models.select_related("team", "latest").order_by(
        IsNull(F("latest"), True).asc(), "-updated_at", "name"
    )


def versions_for_read(model: RegisteredModel) -> QuerySet[ModelVersion]:
    return (
        ModelVersion.objects.filter(
            team_id=model.team_id, model=model, state=VersionState.COMMITTED
        )
        .select_related("author")
        .order_by("-version")
    )


def _version_not_found(model: RegisteredModel, number: int) -> NotFound:
    """Build the NotFound for a missing version number, with the reason."""
    missing = f"version {number} of {model} not found"
    # Commits take numbers 1, 2, 3, ... and deleting frees none, so a number
    # below `next_version` belonged to a version that was deleted.
    if 1 <= number < model.next_version:
        return NotFound(f"{missing}: it was deleted", field="version")
    if model.latest is None:
        return NotFound(f"{missing}: the model has no versions", field="version")
    return NotFound(
        f"{missing}: the newest version is {model.latest.version}", field="version"
    )


def version_get_for_read(model: RegisteredModel, number: object) -> ModelVersion:
    if not isinstance(number, int):
        try:
            number = int(str(number))
        except ValueError:
            raise NotFound(
                f"version {number} of {model} not found", field="version"
            ) from None
    if not 1 <= number <= MAX_NUMBER:
        raise NotFound(f"version {number} of {model} not found", field="version")
    version = versions_for_read(model).filter(version=number).first()
    if version is None:
        raise _version_not_found(model, number)
    return version


def latest_get_for_read(model: RegisteredModel) -> ModelVersion:
    """Return the newest version, or raise NotFound when every version was deleted."""
    if model.latest is None:
        raise NotFound(
            f"model {model} has no versions: every version was deleted. "
            "Push a new version before pulling it",
            field="version",
        )
    return model.latest


def aliases_for_read(model: RegisteredModel) -> QuerySet[ModelAlias]:
    return (
        ModelAlias.objects.filter(team_id=model.team_id, model=model)
        .select_related("version")
        .order_by("name")
    )


def alias_get_for_read(model: RegisteredModel, name: str) -> ModelAlias:
    alias = (
        aliases_for_read(model).filter(name=name).first()
        if "\x00" not in name
        else None
    )
    if alias is None:
        raise NotFound(f"alias {name!r} of {model} not found", field="alias")
    return alias


def aliases_by_version(model: RegisteredModel) -> dict[int, list[str]]:
    """Return the alias names of each version, by the version's primary key."""
    found: dict[int, list[str]] = {}
    for version_id, name in (
        ModelAlias.objects.filter(team_id=model.team_id, model=model)
        .order_by("name")
        .values_list("version_id", "name")
    ):
        found.setdefault(version_id, []).append(name)
    return found


def files_for_read(version: ModelVersion) -> QuerySet[ModelFile]:
    return ModelFile.objects.filter(team_id=version.team_id, version=version).order_by(
        "index"
    )


def file_get_for_read(version: ModelVersion, index: object) -> ModelFile:
    try:
        position = int(str(index))
    except ValueError:
        raise NotFound("file not found", field="file") from None
    if not 0 <= position <= MAX_NUMBER:
        raise NotFound(f"file {index} not found", field="file")
    found = (
        files_for_read(version).select_related("blob").filter(index=position).first()
    )
    if found is None:
        raise NotFound(
            f"file {index} of version {version.version} not found", field="file"
        )
    return found
