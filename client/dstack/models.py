"""The model registry with the default profile: `dstack.models.push(...)`.

    import dstack

    version = dstack.models.push("churn", model, metrics={"auc": 0.91},
                                 alias="staging", input_example=X[:5])
    model = dstack.models.pull("churn", alias="production")
    dstack.models.set_alias("churn", "production", version.version)

A name without a leading slash lives in the profile's team; `/acme/churn`
is model `churn` of team `acme`. Each function takes `profile=` to use
another configured profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._client import Client
from ._registry import ModelVersion, RegisteredModel


def push(
    name: str,
    model: Any,
    metrics: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    description: str | None = None,
    alias: str | None = None,
    input_example: Any = None,
    *,
    tags: Mapping[str, str] | None = None,
    flavor: str | None = None,
    profile: str = "default",
) -> ModelVersion:
    """Push `model` as the next version of model `name` and return that version.

    `metrics` are finite numbers, and `params` are strings, numbers,
    booleans or None. `description` becomes the model's Markdown
    description, and `alias` points at the new version once it is
    committed. `input_example` gives the signature. `flavor` names the
    flavor when the object's class does not determine it.
    """
    with Client.from_profile(profile) as client:
        return client.models.push(
            name,
            model,
            metrics,
            params,
            description,
            alias,
            input_example,
            tags=tags,
            flavor=flavor,
        )


def pull(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    profile: str = "default",
) -> Any:
    """Return the live model of `version`, of `alias`, or of the latest version."""
    with Client.from_profile(profile) as client:
        return client.models.pull(name, version, alias)


def get(
    name: str,
    version: int | None = None,
    alias: str | None = None,
    *,
    profile: str = "default",
) -> ModelVersion:
    """Return a version's metadata (metrics, aliases, signature) without its files."""
    with Client.from_profile(profile) as client:
        return client.models.get(name, version, alias)


def list(team: str | None = None, *, profile: str = "default") -> list[RegisteredModel]:
    """Return the models of `team`, or of the profile's team."""
    with Client.from_profile(profile) as client:
        return client.models.list(team)


def versions(name: str, *, profile: str = "default") -> list[ModelVersion]:
    """Return every version of model `name`, newest first."""
    with Client.from_profile(profile) as client:
        return client.models.versions(name)


def set_alias(
    name: str, alias: str, version: int, *, profile: str = "default"
) -> ModelVersion:
    """Point `alias` (such as `production`) at `version`; return that version."""
    with Client.from_profile(profile) as client:
        return client.models.set_alias(name, alias, version)


def delete_alias(name: str, alias: str, *, profile: str = "default") -> None:
    with Client.from_profile(profile) as client:
        client.models.delete_alias(name, alias)


def delete_version(name: str, version: int, *, profile: str = "default") -> None:
    """Delete one version of model `name` with its aliases."""
    with Client.from_profile(profile) as client:
        client.models.delete_version(name, version)


def delete(name: str, *, profile: str = "default") -> None:
    """Delete model `name` with every version."""
    with Client.from_profile(profile) as client:
        client.models.delete(name)


__all__ = [
    "ModelVersion",
    "RegisteredModel",
    "delete",
    "delete_alias",
    "delete_version",
    "get",
    "list",
    "pull",
    "push",
    "set_alias",
    "versions",
]
