from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import dstack
from dstack import _config

from .fakeserver import API, FakeServer


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Keep every test away from the real ~/.dstack and environment."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in (
        "DSTACK_CONFIG",
        "DSTACK_CACHE_DIR",
        "DSTACK_SERVER",
        "DSTACK_TOKEN",
        "DSTACK_USER",
        "DSTACK_TEAM",
        "DSTACK_PROGRESS",
    ):
        monkeypatch.delenv(name, raising=False)
    yield home
    _config.configure(None)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def client(server: FakeServer, tmp_path: Path) -> Iterator[dstack.Client]:
    with dstack.Client(
        API,
        server.token,
        user="alice",
        transport=server.transport,
        cache_dir=tmp_path / "cache",
        retry_backoff=0,
    ) as client:
        yield client
