"""Pending pushes expiring, team deletion and query counts of the registry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.artifacts.models import Blob
from apps.registry import services
from apps.registry.models import ModelFile, ModelVersion, RegisteredModel
from apps.registry.tests.pushing import model_push, model_url


def test_expired_pending_push_goes_with_its_unpublished_model(
    owner_api: Any, django_capture_on_commit_callbacks: Any
) -> None:
    model_push(owner_api, "acme", "churn", commit=False)
    ModelVersion.objects.update(created_at=timezone.now() - timedelta(days=2))
    RegisteredModel.objects.update(created_at=timezone.now() - timedelta(days=2))

    with django_capture_on_commit_callbacks(execute=True):
        expired = services.model_versions_expire_pending()

    assert expired == 1
    assert not RegisteredModel.objects.exists()
    assert not Blob.objects.exists()


def test_expiry_keeps_recent_pushes_and_published_models(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn")
    model_push(owner_api, "acme", "churn", {"b": b"2"}, commit=False)

    expired = services.model_versions_expire_pending()

    assert expired == 0
    assert ModelVersion.objects.count() == 2


def test_team_deletion_deletes_its_models(owner_api: Any) -> None:
    model_push(owner_api, "acme", "churn", alias="production")

    response = owner_api.delete("/api/teams/acme")

    assert response.status_code == 204
    assert not RegisteredModel.objects.exists()
    assert not ModelFile.objects.exists()


def test_list_queries_do_not_grow_with_models(
    owner_api: Any, django_assert_max_num_queries: Any
) -> None:
    for index in range(6):
        model_push(owner_api, "acme", f"m{index}", {"a": bytes([index])}, alias="prod")

    with django_assert_max_num_queries(12):
        response = owner_api.get("/api/teams/acme/models")

    assert len(response.json()["results"]) == 6


def test_versions_queries_do_not_grow_with_versions(
    owner_api: Any, django_assert_max_num_queries: Any
) -> None:
    for index in range(6):
        model_push(owner_api, "acme", "churn", {"a": bytes([index])})

    with django_assert_max_num_queries(12):
        response = owner_api.get(model_url("acme", "churn", "/versions"))

    assert response.json()["count"] == 6


def test_model_page_queries_do_not_grow_with_versions(
    owner_api: Any, owner: Any, django_assert_max_num_queries: Any
) -> None:
    from django.test import Client

    for index in range(6):
        model_push(owner_api, "acme", "churn", {"a": bytes([index])}, metrics={"x": 1})
    client = Client()
    client.force_login(owner)

    with django_assert_max_num_queries(20):
        response = client.get("/acme/-/models/churn")

    assert response.status_code == 200
