from __future__ import annotations

from pathlib import Path
from typing import Any

from dstack._encoders import Attachment, Encoded, decode, encode
from dstack._transfer import sha256_of


def round_trip(obj: Any, tmp_path: Path, *, name: str = "blob") -> tuple[Encoded, Any]:
    """Encode `obj`, store the bytes as a pull would, and decode them."""
    encoded = encode(obj)
    path = tmp_path / name
    data = encoded.data.read_bytes() if isinstance(encoded.data, Path) else encoded.data
    path.write_bytes(data)
    attachment = as_attachment(encoded, path)
    return encoded, decode(attachment)


def as_attachment(encoded: Encoded, path: Path) -> Attachment:
    return Attachment(
        path=path,
        media_type=encoded.media_type,
        application=encoded.application,
        settings=encoded.settings,
        filename=encoded.filename,
        params={},
        description=None,
        size=path.stat().st_size,
        sha256=sha256_of(path),
    )
