"""Reads of the registry that find and authorise in one step.

A model is read as a stack is: members of its team and the people it is
shared with read it, anyone signed in reads an `internal` one, and anyone
a `public` one. A model that does not exist, that the actor may not read,
or whose first push has not committed raises the same `NotFound`.

Writers of the team do everything. An editor share lets its holder push
versions, move aliases and change the description and tags, but access,
shares and deletion stay with the team's writers.
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
from apps.users.models import Access, Share, ShareRole, Team, TokenScope
from apps.users.selectors import (
    share_get_for_target,
    shared_target_ids,
    shares_for_target,
    shares_received,
    team_get,
    team_get_for_write,
)

# The `target_type` of a model's shares.
SHARE_TARGET = "model"


def can_read_model(actor: Actor, model: RegisteredModel) -> bool:
    if model.access == Access.PUBLIC:
        return True
    if model.access == Access.INTERNAL and actor.can_read_internal:
        return True
    if actor.role_in(model.team) is not None:
        return True
    return actor.share_role(SHARE_TARGET, model.pk, model.team_id) is not None


def can_edit_model(actor: Actor, model: RegisteredModel) -> bool:
    """Tell whether the actor may push versions, move aliases and edit the text.

    Members with a writing role may, and so may people the model is shared
    with as editors, through a session or a write token.
    """
    if actor.can_write(model.team):
        return True
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        return False
    role = actor.share_role(SHARE_TARGET, model.pk, model.team_id)
    return role == ShareRole.EDITOR


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


def _read_only(actor: Actor, model: RegisteredModel) -> PermissionDenied:
    if actor.token is not None and actor.token.scope != TokenScope.WRITE:
        return PermissionDenied("this token is read-only", field="token")
    return PermissionDenied(f"model {model} is read-only for you", field="model")


def model_get_for_write(actor: Actor, team_name: str, name: str) -> RegisteredModel:
    """Return a model whose access, shares and existence the actor may change.

    Only members with a writing role may. A reader of a public or internal
    model of another team, or of one shared with them, gets
    PermissionDenied, and the team's membership stays hidden.
    """
    model = model_get_for_read(actor, team_name, name)
    if actor.role_in(model.team) is None:
        raise _read_only(actor, model)
    team_get_for_write(actor, team_name)
    return model


def model_get_for_edit(actor: Actor, team_name: str, name: str) -> RegisteredModel:
    """Return a model whose aliases, description and tags the actor may change."""
    model = model_get_for_read(actor, team_name, name)
    if not can_edit_model(actor, model):
        if actor.role_in(model.team) is not None:
            # A member with a read-only role or token gets the same error
            # as for the team's other writes.
            team_get_for_write(actor, team_name)
        raise _read_only(actor, model)
    return model


def model_get_for_push(actor: Actor, team_name: str, name: str) -> Team:
    """Return the team a new version of model `name` may be pushed into.

    The model need not exist yet for members with a writing role. Outside
    the team, only an editor through a share pushes, and only to the model
    that was shared. Any other reader of the model gets PermissionDenied,
    and everyone else the same NotFound as for a missing team.
    """
    try:
        return team_get_for_write(actor, team_name)
    except NotFound:
        model = model_get_for_read(actor, team_name, name)
        if can_edit_model(actor, model):
            return model.team
        raise _read_only(actor, model) from None


def model_get_for_sharing(
    actor: Actor, team_name: str, name: str, *, write: bool
) -> RegisteredModel:
    """Return a model whose shares the actor may list (or, with `write`, change).

    Every member of the model's team may list who it is shared with, and
    members with a writing role share it. An editor through a share does
    neither.
    """
    model = model_get_for_read(actor, team_name, name)
    if actor.role_in(model.team) is None:
        raise PermissionDenied(
            f"only members of team {team_name!r} see the shares of its models",
            field="model",
        )
    if write:
        team_get_for_write(actor, team_name)
    return model


def shares_for_model(model: RegisteredModel) -> QuerySet[Share]:
    return shares_for_target(model.team_id, SHARE_TARGET, model.pk)


def share_get_for_model(model: RegisteredModel, share_id: object) -> Share:
    return share_get_for_target(
        model.team_id, SHARE_TARGET, model.pk, share_id, label=f"model {model}"
    )


def models_for_read(
    actor: Actor, team: Team, *, query: str = ""
) -> QuerySet[RegisteredModel]:
    models = RegisteredModel.objects.filter(team=team, published_at__isnull=False)
    if actor.role_in(team) is None:
        visible = Q(access=Access.PUBLIC)
        if actor.can_read_internal:
            visible |= Q(access=Access.INTERNAL)
        shared = shared_target_ids(actor, team, SHARE_TARGET)
        if shared is not None:
            # A subquery, so the share adds no query of its own.
            visible |= Q(pk__in=shared)
        models = models.filter(visible)
    if query:
        models = models.filter(name__icontains=query)
    # A model whose versions were all deleted has nothing to pull, so it
    # goes after the models that have versions. Deleting the last version
    # changes the model, and would otherwise put it first.
    return models.select_related("team", "latest").order_by(
        IsNull(F("latest"), True).asc(), "-updated_at", "name"
    )


def models_shared_with(actor: Actor) -> QuerySet[RegisteredModel]:
    """List the models shared with the actor, within its token's reach."""
    shares = shares_received(actor, SHARE_TARGET)
    return (
        RegisteredModel.objects.filter(
            pk__in=shares.values("target_id"), published_at__isnull=False
        )
        .select_related("team", "latest")
        .order_by("-updated_at", "pk")
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
