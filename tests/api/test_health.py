"""Health, liveness, the OpenAPI schema and its browsable docs."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.artifacts.storage import get_storage
from dstack_platform.config import StorageConfig
from tests.s3server import free_port


def test_healthz_is_ok_with_every_dependency_up(db, s3_storage):
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "storage": "ok", "broker": "ok"},
    }


@pytest.fixture
def unreachable_storage(settings):
    # Nothing listens on a port that was free a moment ago.
    settings.STORAGE = StorageConfig(
        backend="s3",
        bucket="missing",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region="us-east-1",
        access_key_id="key",
        secret_access_key="secret",
    )
    get_storage.cache_clear()
    yield
    get_storage.cache_clear()


def test_healthz_names_unreachable_storage(db, unreachable_storage):
    response = Client().get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["storage"].startswith("down")
    assert body["error"]["code"] == "unavailable"
    assert body["error"]["field"] == "storage"


def test_healthz_names_a_missing_bucket(db, s3_server, settings):
    settings.STORAGE = s3_server.storage_config("no-such-bucket-here")
    get_storage.cache_clear()
    try:
        response = Client().get("/healthz")
    finally:
        get_storage.cache_clear()

    assert response.status_code == 503
    assert response.json()["error"]["field"] == "storage"


def test_livez_answers_without_dependencies():
    response = Client().get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_schema_describes_the_api(db):
    response = Client().get("/api/schema", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert b"/api/teams/{team}/stacks/{path}/-/revisions" in response.content


def test_the_docs_load_nothing_from_a_cdn(db):
    response = Client().get("/api/docs")

    assert response.status_code == 200
    html = response.content.decode()
    external = re.findall(r"""(?:src|href)=["']((?:https?:)?//[^"']+)""", html)
    assert external == []
    # A CDN host named anywhere, also in inline scripts; a bare "cdn" can turn
    # up inside the page's random CSP nonce.
    assert re.findall(r"[\w.-]*cdn[\w.-]*\.(?:com|net|org|io)", html.lower()) == []
    assert "/static/drf_spectacular_sidecar/" in html


def test_the_docs_assets_are_served(db):
    html = Client().get("/api/docs").content.decode()
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)

    assert assets
    for asset in assets:
        assert Client().get(asset).status_code == 200, asset
