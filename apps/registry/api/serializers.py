"""JSON shapes of models, versions, aliases and files."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.registry.models import ModelAlias, ModelFile, ModelVersion, RegisteredModel


def model_page_url(model: RegisteredModel) -> str:
    return f"{settings.PUBLIC_URL}/{model.team.name}/-/models/{model.name}"


def version_page_url(model: RegisteredModel, number: int) -> str:
    return f"{model_page_url(model)}/versions/{number}"


def file_data(item: ModelFile) -> dict[str, Any]:
    return {
        "index": item.index,
        "path": item.path,
        "size": item.size,
        "sha256": item.sha256,
    }


def version_data(
    model: RegisteredModel,
    version: ModelVersion,
    *,
    aliases: list[str],
    files: list[ModelFile] | None = None,
    with_client: bool = True,
) -> dict[str, Any]:
    """Describe a version; `with_client=False` leaves out the pushing machine's
    details and lineage, which only the model's team sees."""
    number = version.version or 0
    data: dict[str, Any] = {
        "model": model.name,
        "team": model.team.name,
        "version": number,
        "aliases": aliases,
        "flavor": version.flavor,
        "loader": version.loader,
        "metrics": version.metrics,
        "params": version.params,
        "tags": version.tags,
        "signature": version.signature,
        "libraries": version.libraries,
        "author": version.author.username if version.author else None,
        "lineage": version.lineage if with_client else None,
        "client": version.client if with_client else None,
        "file_count": version.file_count,
        "size": version.size,
        "created_at": version.created_at.isoformat(),
        "committed_at": version.committed_at.isoformat()
        if version.committed_at
        else None,
        "url": version_page_url(model, number),
    }
    if files is not None:
        data["files"] = [file_data(item) for item in files]
    return data


def alias_data(alias: ModelAlias) -> dict[str, Any]:
    return {
        "name": alias.name,
        "version": alias.version.version,
        "updated_at": alias.updated_at.isoformat(),
    }


def model_data(
    model: RegisteredModel, *, aliases: list[ModelAlias], version_count: int
) -> dict[str, Any]:
    latest = model.latest
    return {
        "name": model.name,
        "team": model.team.name,
        "access": model.access,
        "description": model.description,
        "tags": model.tags,
        "latest": latest.version if latest else None,
        "versions": version_count,
        "aliases": {alias.name: alias.version.version for alias in aliases},
        "created_at": model.created_at.isoformat(),
        "updated_at": model.updated_at.isoformat(),
        "url": model_page_url(model),
    }
