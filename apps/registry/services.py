"""Writes on the registry: push a version, commit it, move aliases, delete.

A push is two calls, as for stacks. `model_version_open` records a pending
version with its files and returns, per file, which bytes the client must upload;
files up to `CHECKED_UPLOAD_LIMIT` go as one part that carries their sha256,
which the store checks on arrival. `model_version_commit` checks the uploads,
reads each newly stored file that the store did not check back to compare
its whole sha256, and, in one transaction under the model's row
lock, numbers the version, moves `latest` and applies the alias
the push asked for. Until then no reader sees the version, and a model whose
first push has not committed is not seen at all.

The steps both apps share live in `apps.artifacts.pushes`. As for stacks, a
large file may be announced by size alone and its sha256 sent with the
commit, which compares it with the bytes before anything is published.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.artifacts import pushes
from apps.artifacts import services as artifacts
from apps.artifacts.models import Blob, BlobState
from apps.audit.services import audit_record
from apps.core.errors import InvalidInput, NotFound, PermissionDenied
from apps.registry import validation
from apps.registry.models import (
    ModelAlias,
    ModelFile,
    ModelVersion,
    RegisteredModel,
    VersionState,
)
from apps.registry.selectors import SHARE_TARGET
from apps.users.actors import Actor
from apps.users.models import Access, Share, Team

logger = logging.getLogger(__name__)


# -- push -----------------------------------------------------------------------


def _model_get_or_create(*, team: Team, name: str, actor: Actor) -> RegisteredModel:
    model = RegisteredModel.objects.filter(team=team, name=name).first()
    if model is not None:
        return model
    try:
        with transaction.atomic():
            return RegisteredModel.objects.create(
                team=team,
                name=name,
                access=team.default_access,
                created_by=actor.user,
            )
    except IntegrityError:
        # Another push of the first version created it a moment earlier.
        return RegisteredModel.objects.get(team=team, name=name)


@dataclass
class OpenedVersion:
    version: ModelVersion
    files: list[dict[str, Any]]


def model_version_open(
    *, actor: Actor, team: Team, name: str, body: object
) -> OpenedVersion:
    """Open a pending version and return, per file, what to upload.

    1. Validate the whole body before touching the database or storage.
    2. Claim a blob per distinct sha256, store inline data and open uploads
       for the rest. A file without a sha256 gets a blob and an upload of
       its own. Then find or create the model.
    3. Write the pending version with its files. It has no number yet.
    """
    validation.validate_model_name(name)
    spec = validation.parse_version_push(body)

    with transaction.atomic():
        opened = pushes.push_open(
            team=team, objects=spec.files, checked=spec.part_headers
        )
        model = _model_get_or_create(team=team, name=name, actor=actor)
        version = ModelVersion.objects.create(
            team=team,
            model=model,
            flavor=spec.flavor,
            loader=spec.loader,
            metrics=spec.metrics,
            params=spec.params,
            tags=spec.tags,
            signature=spec.signature,
            libraries=spec.libraries,
            lineage=spec.lineage,
            client=spec.client,
            alias_on_commit=spec.alias,
            description_on_commit=spec.description,
            author=actor.user,
            file_count=len(spec.files),
            size=sum(item.size for item in spec.files),
        )
        ModelFile.objects.bulk_create(
            ModelFile(
                team=team,
                version=version,
                index=item.index,
                path=item.path,
                size=item.size,
                # Empty until the commit brings the sha256 of a file opened
                # without one.
                sha256=item.sha256 or "",
                blob=opened.blobs[item.index],
            )
            for item in spec.files
        )

    answers = opened.answers()
    logger.info(
        "model version opened: model=%s push=%s files=%s uploads=%s",
        model.pk,
        version.push_id,
        len(spec.files),
        len(opened.uploads),
    )
    return OpenedVersion(version=version, files=answers)


def model_version_commit(
    *, actor: Actor, model: RegisteredModel, push_id: str, body: object
) -> ModelVersion:
    """Complete a pending version's uploads, then number and publish it.

    1. Check the client's uploads against the push's, and join their parts.
    2. Re-read each newly stored file and compare its whole sha256: the one
       announced at the open, or the one the commit brings.
    3. In one transaction under the model's row lock, record the sha256 of
       files opened without one (pointing them at the team's blob of the
       same bytes where there is one), number the version, move `latest`
       and apply the alias and description of the push.

    Committing a committed push returns its version unchanged, so a client
    whose connection dropped after the commit may retry.
    """
    try:
        push_uuid = uuid.UUID(str(push_id))
    except ValueError:
        raise NotFound(f"push {push_id} not found", field="push") from None
    version = ModelVersion.objects.filter(
        team=model.team, model=model, push_id=push_uuid
    ).first()
    if version is None:
        raise NotFound(f"push {push_id} of model {model} not found", field="push")
    if version.state == VersionState.COMMITTED:
        return version

    sent = pushes.parse_commit(body)
    blob_ids = set(
        ModelFile.objects.filter(version=version).values_list("blob_id", flat=True)
    )
    addresses = pushes.push_uploads_complete(
        sent=sent, blob_ids=blob_ids, label="this push"
    )
    verified = _check_sha256(version, blob_ids, addresses)

    with transaction.atomic():
        # The row lock orders concurrent commits: each reads and bumps
        # `next_version` in turn, so every version gets its own number.
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.state == VersionState.COMMITTED:
            return version
        published = pushes.push_blobs_publish(
            addresses=addresses,
            blob_ids=blob_ids,
            rows=ModelFile.objects.filter(version=version),
            message="some files of this push are not uploaded yet",
            verified=verified,
        )

        now = timezone.now()
        version.version = model.next_version
        version.state = VersionState.COMMITTED
        version.committed_at = now
        version.save(update_fields=["version", "state", "committed_at"])
        model.next_version = version.version + 1
        model.latest = version
        model.updated_at = now
        fields = ["next_version", "latest", "updated_at"]
        if model.published_at is None:
            model.published_at = now
            fields.append("published_at")
        if version.description_on_commit is not None:
            model.description = version.description_on_commit
            fields.append("description")
        model.save(update_fields=fields)
        if version.alias_on_commit:
            _alias_point(actor, model, version.alias_on_commit, version)

        transaction.on_commit(partial(_after_commit, model.team_id, published))
    logger.info(
        "model version committed: model=%s version=%s", model.pk, version.version
    )
    return version


def _check_sha256(
    version: ModelVersion, blob_ids: set[int], addresses: dict[int, pushes.Address]
) -> set[int]:
    """Re-read every file not yet verified and compare its whole sha256.

    The part MD5s prove only that the store holds what the client sent, not
    that the client sent the bytes it announced. A file opened without a
    sha256 is compared with the one its commit brings (`addresses`).

    A version whose file fails is deleted, so that nothing of it stays
    registered. A failed blob with a sha256 is marked corrupt, so that the
    next push of these bytes uploads them again. A failed blob without one
    belongs to this push alone, and the collector frees it.

    Reading happens before the model's row lock is taken: a stored blob's
    bytes do not change, and the commit checks the blob's state again under
    the lock. Returns the blobs without a sha256 whose bytes matched, which
    the commit marks verified when it records their sha256.
    """
    matched: set[int] = set()
    for blob in Blob.objects.filter(pk__in=blob_ids, state=BlobState.STORED):
        address = addresses.get(blob.pk)
        expected = blob.sha256 if address is None else address.sha256
        if artifacts.blob_read_back(blob) == (blob.size, expected):
            if address is not None:
                matched.add(blob.pk)
                continue
            Blob.objects.filter(pk=blob.pk, state=BlobState.STORED).update(
                state=BlobState.VERIFIED, verified_at=timezone.now()
            )
            continue
        file = (
            ModelFile.objects.filter(version=version, blob=blob)
            .order_by("index")
            .first()
        )
        with transaction.atomic():
            Blob.objects.filter(
                pk=blob.pk, state=BlobState.STORED, sha256__isnull=False
            ).update(state=BlobState.CORRUPT, verified_at=timezone.now())
            _delete_versions(ModelVersion.objects.filter(pk=version.pk))
            if address is not None:
                transaction.on_commit(partial(_release, version.team_id))
        logger.warning(
            "model file failed its sha256: push=%s blob=%s", version.push_id, blob.pk
        )
        where = f"files[{file.index}]" if file is not None else "files"
        path = f" ({file.path})" if file is not None else ""
        if address is not None:
            raise artifacts.ChecksumMismatch(
                f"{where}{path} does not match the sha256 sent with the commit: "
                "the uploaded bytes or that sha256 are wrong; push the version "
                "again",
                field=address.field,
            )
        raise artifacts.ChecksumMismatch(
            f"{where}{path} does not match its sha256: the uploaded bytes differ "
            "from the announced ones; push the version again",
            field=f"{where}.sha256",
        )
    return matched


def _after_commit(team_id: int, published: pushes.PublishedBlobs) -> None:
    from apps.artifacts import tasks as artifact_tasks

    for blob_id in published.to_verify:
        artifact_tasks.verify_blob.delay(blob_id)
    if published.left_over:
        _release(team_id)


def _release(team_id: int) -> None:
    from apps.artifacts import tasks as artifact_tasks

    artifact_tasks.release_orphan_blobs.delay(team_id)


# -- aliases ----------------------------------------------------------------------


def _alias_point(
    actor: Actor, model: RegisteredModel, name: str, version: ModelVersion
) -> ModelAlias:
    """Point alias `name` at `version`; the caller holds the model's row lock."""
    alias = ModelAlias.objects.filter(model=model, name=name).first()
    previous = alias.version.version if alias is not None else None
    if alias is None:
        alias = ModelAlias.objects.create(
            team=model.team,
            model=model,
            name=name,
            version=version,
            updated_by=actor.user,
        )
    elif alias.version_id != version.pk:
        alias.version = version
        alias.updated_by = actor.user
        alias.updated_at = timezone.now()
        alias.save(update_fields=["version", "updated_by", "updated_at"])
    audit_record(
        action="model.alias_moved",
        actor=actor,
        team=model.team,
        target=model,
        target_label=str(model),
        details={"alias": name, "from": previous, "to": version.version},
    )
    return alias


def alias_set(
    *, actor: Actor, model: RegisteredModel, name: str, body: object
) -> ModelAlias:
    """Create alias `name` or move it to the version the body names."""
    validation.validate_alias(name)
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field=None)
    number = validation.validate_version_number(body.get("version"))

    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        version = ModelVersion.objects.filter(
            model=model, version=number, state=VersionState.COMMITTED
        ).first()
        if version is None and model.latest_id is None:
            raise InvalidInput(
                f"model {model} has no versions to point alias {name!r} at: "
                "push a version first",
                field="version",
            )
        if version is None:
            raise InvalidInput(
                f"version {number} of model {model} does not exist", field="version"
            )
        alias = _alias_point(actor, model, name, version)
        model.updated_at = timezone.now()
        model.save(update_fields=["updated_at"])
    return alias


def alias_delete(*, actor: Actor, alias: ModelAlias) -> None:
    with transaction.atomic():
        ModelAlias.objects.filter(pk=alias.pk).delete()
        audit_record(
            action="model.alias_deleted",
            actor=actor,
            team=alias.model.team,
            target=alias.model,
            target_label=str(alias.model),
            details={"alias": alias.name},
        )


# -- changes and deletion -------------------------------------------------------------


def model_update(
    *, actor: Actor, model: RegisteredModel, body: object
) -> RegisteredModel:
    """Change a model's description, tags or access level.

    The caller has checked that the actor may edit the model. An editor
    through a share changes the description and tags. Who reads the model
    is the team's decision, so only its writers change `access`.
    """
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field=None)
    unknown = set(body) - {"description", "tags", "access"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(f"{name} cannot be changed", field=name)
    if "access" in body and not actor.can_write(model.team):
        raise PermissionDenied(
            f"only members of team {model.team.name!r} with write access "
            "change a model's access",
            field="access",
        )

    fields = []
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=model.pk)
        if "description" in body:
            model.description = (
                validation.validate_description(body["description"]) or ""
            )
            fields.append("description")
        if "tags" in body:
            model.tags = validation.validate_tags(body["tags"])
            fields.append("tags")
        if "access" in body:
            access = body["access"]
            if access not in Access.values:
                raise InvalidInput(
                    "access must be one of private, internal, public", field="access"
                )
            if access != model.access:
                audit_record(
                    action="model.access_changed",
                    actor=actor,
                    team=model.team,
                    target=model,
                    target_label=str(model),
                    details={"from": model.access, "to": access},
                )
            model.access = access
            fields.append("access")
        if fields:
            model.updated_at = timezone.now()
            model.save(update_fields=[*fields, "updated_at"])
    return model


def version_update(
    *, actor: Actor, version: ModelVersion, body: object
) -> ModelVersion:
    """Change a version's tags; what was pushed with it stays as it was."""
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field=None)
    unknown = set(body) - {"tags"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidInput(
            f"{name} cannot be changed: a version keeps what it was pushed with",
            field=name,
        )
    if "tags" in body:
        version.tags = validation.validate_tags(body["tags"])
        version.save(update_fields=["tags"])
    return version


def _delete_versions(versions: Any) -> int:
    ids = list(versions.values_list("pk", flat=True))
    if not ids:
        return 0
    ModelAlias.objects.filter(version_id__in=ids).delete()
    ModelFile.objects.filter(version_id__in=ids).delete()
    ModelVersion.objects.filter(pk__in=ids).delete()
    return len(ids)


def model_version_delete(*, actor: Actor, version: ModelVersion) -> None:
    """Delete one version and its aliases; free the bytes no version still holds."""
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(pk=version.model_id)
        was_latest = model.latest_id == version.pk
        _delete_versions(ModelVersion.objects.filter(pk=version.pk))
        if was_latest:
            model.latest = (
                ModelVersion.objects.filter(model=model, state=VersionState.COMMITTED)
                .order_by("-version")
                .first()
            )
        model.updated_at = timezone.now()
        model.save(update_fields=["latest", "updated_at"])
        audit_record(
            action="model.version_deleted",
            actor=actor,
            team=model.team,
            target=model,
            target_label=f"{model} version {version.version}",
            details={"version": version.version},
        )
        transaction.on_commit(lambda: _release(model.team_id))


def model_delete(*, actor: Actor, model: RegisteredModel) -> None:
    """Delete a model with every version and share; the bytes are freed afterwards."""
    with transaction.atomic():
        RegisteredModel.objects.filter(pk=model.pk).update(latest=None)
        _delete_versions(ModelVersion.objects.filter(model=model))
        # Invitations cascade with their shares, so a pending link stops working.
        Share.objects.filter(
            team_id=model.team_id, target_type=SHARE_TARGET, target_id=model.pk
        ).delete()
        RegisteredModel.objects.filter(pk=model.pk).delete()
        audit_record(
            action="model.deleted",
            actor=actor,
            team=model.team,
            target=model,
            target_label=str(model),
        )
        transaction.on_commit(lambda: _release(model.team_id))
    logger.info("model deleted: model=%s team=%s", model.pk, model.team_id)


def models_delete_for_team(*, team: Team) -> int:
    """Delete every model of a team; part of deleting the team, in its transaction."""
    models = RegisteredModel.objects.filter(team=team)
    count = models.count()
    models.update(latest=None)
    ModelAlias.objects.filter(team=team).delete()
    ModelFile.objects.filter(team=team).delete()
    ModelVersion.objects.filter(team=team).delete()
    Share.objects.filter(team=team, target_type=SHARE_TARGET).delete()
    models.delete()
    return count


def model_versions_expire_pending() -> int:
    """Delete pushes left pending longer than `PENDING_REVISION_HOURS`.

    A model whose only pushes expired was never published, so it goes too.
    """
    cutoff = timezone.now() - timedelta(hours=settings.PENDING_REVISION_HOURS)
    stale = ModelVersion.objects.filter(
        state=VersionState.PENDING, created_at__lt=cutoff
    )
    teams = set(stale.values_list("team_id", flat=True))
    with transaction.atomic():
        count = _delete_versions(stale)
        RegisteredModel.objects.filter(
            published_at__isnull=True, created_at__lt=cutoff, versions__isnull=True
        ).delete()
    for team_id in teams:
        transaction.on_commit(lambda team_id=team_id: _release(team_id))
    if count:
        logger.info("pending model versions expired: count=%s", count)
    return count
