"""Encoders turn objects into bytes for a push, and decoders turn them back.

An encoder is a callable `encoder(obj) -> Encoded` (or an object with an
`encode(obj)` method). A decoder is a callable `decoder(attachment) -> object`
(or an object with a `decode(attachment)` method) that receives an
`Attachment` whose bytes are already downloaded and verified.

Built-in encoders match objects by class without importing the library, so
`import dstack` works without pandas, plotly or matplotlib installed: an
object of a library can only exist once that library is imported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from .._exceptions import EncodingError


@dataclass
class Encoded:
    """An encoded object: its bytes, or a file to stream them from, and its types."""

    data: bytes | Path
    media_type: str
    application: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    filename: str | None = None


@dataclass
class Attachment:
    """A pulled attachment: metadata from the server, bytes in a local file."""

    path: Path
    media_type: str
    application: str | None
    settings: dict[str, Any]
    filename: str | None
    params: dict[str, Any]
    description: str | None
    size: int
    sha256: str

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.path.read_text(encoding=encoding)

    def open(self) -> IO[bytes]:
        return self.path.open("rb")


class EncoderObject(Protocol):
    def encode(self, obj: Any) -> Encoded: ...


class DecoderObject(Protocol):
    def decode(self, attachment: Attachment) -> Any: ...


Encoder = Callable[[Any], Encoded] | EncoderObject
Decoder = Callable[[Attachment], Any] | DecoderObject

# A target is a class, or the dotted name of one ("pandas.DataFrame") that is
# looked up only when its module is already imported.
EncoderTarget = type | str


@dataclass
class _EncoderEntry:
    target: EncoderTarget
    encoder: Encoder


@dataclass
class _DecoderEntry:
    decoder: Decoder
    application: str | None
    media_type: str | None

    def specificity(self, application: str | None, media_type: str) -> int:
        """Return how well this entry fits, 0 for not at all."""
        if self.application is not None and self.application != application:
            return 0
        if self.media_type is not None and self.media_type != media_type:
            return 0
        return 1 + 2 * (self.application is not None) + (self.media_type is not None)


_encoders: list[_EncoderEntry] = []
_decoders: list[_DecoderEntry] = []


def register_encoder(target: EncoderTarget, encoder: Encoder) -> None:
    """Use `encoder` for instances of `target` (a class or a dotted class name).

    Encoders registered later are tried first, so a custom encoder replaces a
    built-in one for the same class.
    """
    if not isinstance(target, (type, str)):
        raise TypeError("target must be a class or a dotted class name")
    _encoders.insert(0, _EncoderEntry(target, encoder))


def register_decoder(
    decoder: Decoder,
    *,
    application: str | None = None,
    media_type: str | None = None,
) -> None:
    """Use `decoder` for attachments with this application and/or media type.

    An entry that names the application wins over one that names only the
    media type; among equals, the one registered last wins.
    """
    if application is None and media_type is None:
        raise ValueError("register_decoder needs an application or a media_type")
    _decoders.insert(0, _DecoderEntry(decoder, application, media_type))


def _resolve_target(target: EncoderTarget) -> type | None:
    if isinstance(target, type):
        return target
    module_name, _, attribute = target.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        return None
    resolved = getattr(module, attribute, None)
    return resolved if isinstance(resolved, type) else None


def find_encoder(obj: Any) -> Encoder:
    for entry in _encoders:
        cls = _resolve_target(entry.target)
        if cls is not None and isinstance(obj, cls):
            return entry.encoder
    cls = type(obj)
    raise EncodingError(
        f"no encoder for objects of type {cls.__module__}.{cls.__qualname__}. "
        "Pass encoder=..., or register one with dstack.register_encoder()."
    )


def find_decoder(application: str | None, media_type: str) -> Decoder:
    best: _DecoderEntry | None = None
    best_score = 0
    for entry in _decoders:
        score = entry.specificity(application, media_type)
        if score > best_score:
            best, best_score = entry, score
    if best is None:
        return decode_bytes
    return best.decoder


def encode(obj: Any, encoder: Encoder | None = None) -> Encoded:
    """Encode `obj` with `encoder`, or with the registered encoder for its class."""
    chosen = encoder if encoder is not None else find_encoder(obj)
    try:
        if hasattr(chosen, "encode"):
            encoded = chosen.encode(obj)
        else:
            encoded = chosen(obj)
    except EncodingError:
        raise
    except (ValueError, TypeError) as exc:
        raise EncodingError(f"cannot encode {type(obj).__name__}: {exc}") from exc
    if not isinstance(encoded, Encoded):
        raise EncodingError(
            f"encoder {chosen!r} returned {type(encoded).__name__}, expected Encoded"
        )
    return encoded


def decode(attachment: Attachment, decoder: Decoder | None = None) -> Any:
    """Decode with `decoder`, or with the registered decoder for its types."""
    chosen = (
        decoder
        if decoder is not None
        else find_decoder(attachment.application, attachment.media_type)
    )
    if hasattr(chosen, "decode"):
        return chosen.decode(attachment)
    return chosen(attachment)


def decode_bytes(attachment: Attachment) -> bytes:
    """Return the attachment's bytes: the decoder for unknown types."""
    return attachment.read_bytes()


from . import _builtin  # noqa: E402  (registers the built-in encoders)

_builtin.register_all()
