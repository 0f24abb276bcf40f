"""A model file the client hashed while saving goes as one checked part.

The client announces the file's sha256 at the open and sends the part's
`x-amz-checksum-sha256` header, so SeaweedFS checks the bytes on arrival
and the commit publishes the version without reading the file back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dstack
import pytest

from apps.artifacts.models import BlobState, Upload
from apps.artifacts.storage import get_storage
from apps.registry.models import ModelFile

SIZE = 3 * 1024 * 1024


@pytest.fixture
def small_inline_client(server_url: str, token: str, tmp_path: Path) -> Any:
    with dstack.Client(
        server_url + "/api",
        token,
        team="acme",
        cache_dir=tmp_path / "cache",
        inline_limit=1024,
    ) as made:
        yield made


def test_model_file_goes_as_one_checked_part(
    small_inline_client: dstack.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(bytes(range(256)) * (SIZE // 256))
    reads: list[str] = []
    original = get_storage().iter_bytes

    def counted(key: str, *args: Any) -> Any:
        reads.append(key)
        return original(key, *args)

    monkeypatch.setattr(get_storage(), "iter_bytes", counted)

    version = small_inline_client.models.push("weights", source)

    file = ModelFile.objects.select_related("blob").get(
        version__version=version.version
    )
    upload = Upload.objects.get(blob=file.blob)
    assert upload.sha256_part
    assert upload.part_count == 1
    assert file.blob.state == BlobState.VERIFIED
    assert reads == []
    pulled = small_inline_client.models.pull("weights")
    assert pulled.read_bytes() == source.read_bytes()
