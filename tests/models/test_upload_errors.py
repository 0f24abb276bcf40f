"""The error a push raises when an upload fails, against the live server and SeaweedFS."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dstack
import pytest
from dstack import _transfer

from apps.registry.models import ModelVersion, VersionState


def test_upload_error_names_a_changed_file(
    client: dstack.Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file above the inline limit that another program rewrites
    # after the client hashed it and before the bytes go out
    model_file = tmp_path / "weights.bin"
    model_file.write_bytes(os.urandom(client.inline_limit + 1024))
    upload_all = _transfer.Uploader.upload_all
    attempts: list[Any] = []

    def rewrite_then_upload(self: Any, uploads: Any) -> Any:
        with model_file.open("r+b") as handle:
            handle.write(b"changed")
        put = self._put

        def counted_put(*args: Any) -> Any:
            attempts.append(args)
            return put(*args)

        self._put = counted_put
        return upload_all(self, uploads)

    monkeypatch.setattr(_transfer.Uploader, "upload_all", rewrite_then_upload)

    # When it is pushed, then the error says that the file changed while it
    # was sent, keeps the storage's answer, and comes after one attempt
    with pytest.raises(dstack.ChecksumError, match="changed while it was sent") as err:
        client.models.push("churn", model_file)
    # The files flavor sends a link to the file from a folder of its own.
    assert model_file.name in str(err.value)
    assert err.value.response is not None
    assert err.value.response.status_code == 400
    assert err.value.code is not None
    assert len(attempts) == 1
    assert not ModelVersion.objects.filter(state=VersionState.COMMITTED).exists()
