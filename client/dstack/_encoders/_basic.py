"""Encoders and decoders for bytes, text, Markdown, JSON, CSV and files."""

from __future__ import annotations

import json
import mimetypes
import os
import shutil
from pathlib import Path
from typing import Any

from .._exceptions import EncodingError
from . import Attachment, Encoded

OCTET_STREAM = "application/octet-stream"
FILE_APPLICATION = "file"


class Markdown:
    """Markdown text, pushed as `text/markdown` and made by `dstack.md()`."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(
                f"Markdown text must be a string, not {type(text).__name__}"
            )
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"md({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Markdown) and other.text == self.text

    def __hash__(self) -> int:
        return hash(("markdown", self.text))

    def _repr_markdown_(self) -> str:
        return self.text


def md(text: str) -> Markdown:
    """Wrap `text` so that it is pushed and shown as Markdown."""
    return Markdown(text)


def encode_bytes(obj: bytes | bytearray | memoryview) -> Encoded:
    return Encoded(bytes(obj), OCTET_STREAM)


def encode_text(obj: str) -> Encoded:
    return Encoded(obj.encode("utf-8"), "text/plain", settings={"charset": "utf-8"})


def encode_markdown(obj: Markdown) -> Encoded:
    return Encoded(
        obj.text.encode("utf-8"), "text/markdown", settings={"charset": "utf-8"}
    )


def encode_path(obj: Path) -> Encoded:
    """Encode a file for streaming, with the media type guessed from its name."""
    if not obj.is_file():
        raise EncodingError(f"cannot push {obj}: it is not a file")
    media_type, _ = mimetypes.guess_type(obj.name)
    # The application marks it as a file, so a pull returns its bytes
    # whatever its name says, rather than parsing a `.json` or `.csv`.
    return Encoded(obj, media_type or OCTET_STREAM, FILE_APPLICATION, filename=obj.name)


def decode_text(attachment: Attachment) -> str:
    charset = attachment.settings.get("charset") or "utf-8"
    return attachment.read_text(encoding=charset)


def decode_markdown(attachment: Attachment) -> Markdown:
    return Markdown(decode_text(attachment))


def decode_json(attachment: Attachment) -> Any:
    with attachment.open() as file:
        return json.load(file)


def decode_csv(attachment: Attachment) -> Any:
    """Read any CSV attachment, such as one pushed by R, into a DataFrame."""
    import pandas as pd

    return pd.read_csv(attachment.path, encoding=attachment.settings.get("encoding"))


class FileDecoder:
    """A decoder that copies the attachment to `path` and returns that path.

    `pull("data/raw", decoder=FileDecoder("raw.bin"))`. A directory as `path`
    receives the file under the name it was pushed with.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def decode(self, attachment: Attachment) -> Path:
        target = self.path
        if target.is_dir():
            target = target / (attachment.filename or attachment.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            # The cached file is never written again, so sharing its inode
            # saves a copy; the cache re-hashes a file before reusing it.
            os.link(attachment.path, target)
        except OSError:
            shutil.copyfile(attachment.path, target)
        return target
