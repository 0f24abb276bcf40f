"""Storage backends for blobs: a folder on disk, or an S3-compatible bucket.

Both speak the same multipart vocabulary, so the push flow does not care
which one is configured: an upload has numbered parts, each part is stored
with its MD5, and completing the upload joins the parts into the object.
A part may also carry the sha256 it must have. The store then rejects other
bytes on arrival and records the sha256 with the part.

S3 is used through boto3 directly rather than django-storages: the push needs
presigned multipart part uploads and ListParts, which django-storages does
not expose, and its file objects read a whole object before the first byte.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from django.conf import settings

from dstack_platform.config import StorageConfig

CHUNK_SIZE = 1024 * 1024
# Reads of whole objects and ranges go in larger pieces, because each piece
# of a download costs the web server a thread hop and an ASGI message.
# Measured on a streamed 1 GiB pull: about a tenth less CPU at 4 MiB than 1 MiB.
READ_CHUNK_SIZE = 4 * CHUNK_SIZE


@dataclass(frozen=True)
class StoredPart:
    number: int
    size: int
    md5: str
    # Hex sha256 that the store checked on arrival. None when the part
    # carried none, or when the store does not list part checksums.
    sha256: str | None = None


def sha256_header(sha256: str) -> str:
    """Encode a hex sha256 as S3's `x-amz-checksum-sha256` value (base64)."""
    return base64.b64encode(bytes.fromhex(sha256)).decode()


def _sha256_hex(header: object) -> str | None:
    if not isinstance(header, str) or not header:
        return None
    try:
        return base64.b64decode(header, validate=True).hex()
    except ValueError:
        return None


class StorageError(Exception):
    """The store failed, or contains something other than what was expected."""


class ChecksumError(StorageError):
    """The store rejected a part whose bytes do not have the sha256 it carried."""


class FilesystemStorage:
    """Blobs as files under `root/objects`, parts under `root/uploads`."""

    direct = False

    def __init__(self, root: Path):
        self.root = root
        self.objects = root / "objects"
        self.uploads = root / "uploads"

    def _path(self, key: str) -> Path:
        return self.objects / key

    def check(self) -> None:
        self.objects.mkdir(parents=True, exist_ok=True)
        probe = self.root / ".healthz"
        probe.write_bytes(b"ok")
        probe.unlink()

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target and rename, so a reader never sees half a file.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def iter_bytes(
        self, key: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        """Yield the object's bytes from `start` up to `end` (exclusive), in chunks."""
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise StorageError(f"object {key} is missing") from None
        with handle:
            handle.seek(start)
            position = start
            while end is None or position < end:
                want = (
                    READ_CHUNK_SIZE
                    if end is None
                    else min(READ_CHUNK_SIZE, end - position)
                )
                chunk = handle.read(want)
                if not chunk:
                    return
                position += len(chunk)
                yield chunk

    def open(self, key: str) -> IO[bytes]:
        return self._path(key).open("rb")

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def create_multipart(self, key: str, *, sha256_parts: bool = False) -> str:
        backend_id = uuid.uuid4().hex
        (self.uploads / backend_id).mkdir(parents=True, exist_ok=True)
        return backend_id

    def part_url(
        self, key: str, backend_id: str, number: int, size: int, sha256: str | None
    ) -> str | None:
        return None

    def write_part(
        self,
        key: str,
        backend_id: str,
        number: int,
        stream: IO[bytes],
        size: int,
        sha256: str | None = None,
    ) -> StoredPart:
        """Store one part; with `sha256`, reject bytes that do not have it."""
        folder = self.uploads / backend_id
        if not folder.is_dir():
            raise StorageError(f"upload {backend_id} is not open")
        digest = hashlib.md5(usedforsecurity=False)
        whole = hashlib.sha256() if sha256 is not None else None
        written = 0
        try:
            with tempfile.NamedTemporaryFile(dir=folder, delete=False) as handle:
                while written < size and (
                    chunk := stream.read(min(CHUNK_SIZE, size - written))
                ):
                    handle.write(chunk)
                    digest.update(chunk)
                    if whole is not None:
                        whole.update(chunk)
                    written += len(chunk)
            if written != size:
                os.unlink(handle.name)
                raise StorageError(
                    f"part {number} has {written} bytes, expected {size}"
                )
            if whole is not None and whole.hexdigest() != sha256:
                os.unlink(handle.name)
                raise ChecksumError(f"part {number} does not match its sha256 {sha256}")
            os.replace(handle.name, folder / f"{number}.part")
            (folder / f"{number}.md5").write_text(digest.hexdigest())
            if sha256 is not None:
                (folder / f"{number}.sha256").write_text(sha256)
        except FileNotFoundError:
            # The upload was completed or aborted while this part arrived.
            raise StorageError(f"upload {backend_id} is not open") from None
        return StoredPart(
            number=number, size=written, md5=digest.hexdigest(), sha256=sha256
        )

    def list_parts(self, key: str, backend_id: str) -> dict[int, StoredPart]:
        folder = self.uploads / backend_id
        parts: dict[int, StoredPart] = {}
        if not folder.is_dir():
            return parts
        for checksum in folder.glob("*.md5"):
            number = int(checksum.stem)
            data = folder / f"{number}.part"
            if data.exists():
                sha256 = folder / f"{number}.sha256"
                parts[number] = StoredPart(
                    number,
                    data.stat().st_size,
                    checksum.read_text(),
                    sha256.read_text() if sha256.exists() else None,
                )
        return parts

    def complete(
        self,
        key: str,
        backend_id: str,
        numbers: list[int],
        sha256s: dict[int, str] | None = None,
    ) -> None:
        folder = self.uploads / backend_id
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as target:
            for number in numbers:
                with (folder / f"{number}.part").open("rb") as part:
                    shutil.copyfileobj(part, target, CHUNK_SIZE)
        os.replace(target.name, path)
        shutil.rmtree(folder, ignore_errors=True)

    def abort(self, key: str, backend_id: str) -> None:
        shutil.rmtree(self.uploads / backend_id, ignore_errors=True)

    def object_has_sha256(self, key: str, sha256: str) -> bool:
        # Joined files keep no checksums. The commit reads a checked part's
        # sha256 from `list_parts` before the parts are joined.
        return False

    def download_url(
        self, key: str, *, filename: str | None, media_type: str
    ) -> str | None:
        return None


class S3Storage:
    """Blobs as objects in one bucket of an S3-compatible store."""

    def __init__(self, config: StorageConfig):
        import boto3
        from botocore.config import Config

        self.bucket = config.bucket
        self.direct = config.transfer == "direct"
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            region_name=config.region,
        )
        client_config = Config(
            signature_version="s3v4",
            # Parts carry Content-MD5 and every object is re-read against its
            # sha256, so signing each payload (which botocore does over plain
            # HTTP unless configured otherwise) would be one more pass for nothing.
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
            # Parts carry Content-MD5 and objects are checked by sha256, so
            # botocore's extra CRC32 pass over every body buys nothing here.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = session.client(
            "s3", endpoint_url=config.endpoint_url, config=client_config
        )
        # Presigned URLs carry the host they were signed for, so URLs handed to
        # clients are signed for the address the clients use.
        public = config.public_endpoint_url or config.endpoint_url
        self.signer = (
            session.client("s3", endpoint_url=public, config=client_config)
            if public != config.endpoint_url
            else self.client
        )

    def check(self) -> None:
        self.client.head_bucket(Bucket=self.bucket)

    def ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError

        try:
            return int(
                self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {
                "404",
                "NoSuchKey",
                "NotFound",
            }:
                return None
            raise

    def iter_bytes(
        self, key: str, start: int = 0, end: int | None = None
    ) -> Iterator[bytes]:
        from botocore.exceptions import ClientError

        extra: dict[str, Any] = {}
        if start or end is not None:
            last = "" if end is None else str(end - 1)
            extra["Range"] = f"bytes={start}-{last}"
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]
        except ClientError as error:
            raise StorageError(f"object {key} could not be read: {error}") from None
        try:
            yield from body.iter_chunks(READ_CHUNK_SIZE)
        finally:
            body.close()

    def delete(self, keys: list[str]) -> None:
        # DeleteObjects takes at most 1,000 keys a call.
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )

    def create_multipart(self, key: str, *, sha256_parts: bool = False) -> str:
        # S3 takes part checksums only in an upload opened for them.
        extra = {"ChecksumAlgorithm": "SHA256"} if sha256_parts else {}
        return str(
            self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)[
                "UploadId"
            ]
        )

    def part_url(
        self, key: str, backend_id: str, number: int, size: int, sha256: str | None
    ) -> str | None:
        """Sign a part's PUT; with `sha256`, the URL requires its checksum header."""
        if not self.direct:
            return None
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "UploadId": backend_id,
            "PartNumber": number,
        }
        if sha256 is not None:
            params["ChecksumSHA256"] = sha256_header(sha256)
        return str(
            self.signer.generate_presigned_url(
                "upload_part",
                Params=params,
                ExpiresIn=settings.SIGNED_URL_SECONDS,
                HttpMethod="PUT",
            )
        )

    def write_part(
        self,
        key: str,
        backend_id: str,
        number: int,
        stream: IO[bytes],
        size: int,
        sha256: str | None = None,
    ) -> StoredPart:
        """Send one part to the store and return the MD5 it computed (its ETag).

        With `sha256` the part carries that checksum, and the store rejects
        other bytes.

        The part goes without Content-MD5: hashing it here would be one more
        pass over every byte streamed through this server, and the commit
        compares the client's MD5 of each part with the store's anyway, so a
        part damaged on the way is caught there. A seekable stream (the ASGI
        server has already spooled the request body) is sent as it is, so
        botocore can rewind it for a retry; anything else is spooled first,
        which keeps memory bounded either way.
        """
        seekable = getattr(stream, "seekable", lambda: False)()
        if seekable:
            return self._send_part(key, backend_id, number, stream, size, sha256)
        with tempfile.SpooledTemporaryFile(max_size=8 * CHUNK_SIZE) as spool:
            copied = 0
            while copied < size and (
                chunk := stream.read(min(CHUNK_SIZE, size - copied))
            ):
                spool.write(chunk)
                copied += len(chunk)
            spool.seek(0)
            return self._send_part(key, backend_id, number, spool, size, sha256)

    def _send_part(
        self,
        key: str,
        backend_id: str,
        number: int,
        body: IO[bytes],
        size: int,
        sha256: str | None,
    ) -> StoredPart:
        from botocore.exceptions import ClientError

        start = body.tell()
        available = body.seek(0, os.SEEK_END) - start
        body.seek(start)
        if available != size:
            raise StorageError(f"part {number} has {available} bytes, expected {size}")
        extra = {"ChecksumSHA256": sha256_header(sha256)} if sha256 else {}
        try:
            answer = self.client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=backend_id,
                PartNumber=number,
                Body=body,
                ContentLength=size,
                **extra,
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {
                "BadDigest",
                "InvalidDigest",
            }:
                raise ChecksumError(
                    f"part {number} does not match its sha256 {sha256}"
                ) from None
            raise
        etag = str(answer.get("ETag", "")).strip('"').lower()
        return StoredPart(number=number, size=size, md5=etag, sha256=sha256)

    def list_parts(self, key: str, backend_id: str) -> dict[int, StoredPart]:
        from botocore.exceptions import ClientError

        parts: dict[int, StoredPart] = {}
        paginator = self.client.get_paginator("list_parts")
        try:
            for page in paginator.paginate(
                Bucket=self.bucket, Key=key, UploadId=backend_id
            ):
                for part in page.get("Parts", []):
                    number = int(part["PartNumber"])
                    parts[number] = StoredPart(
                        number,
                        int(part["Size"]),
                        part["ETag"].strip('"'),
                        _sha256_hex(part.get("ChecksumSHA256")),
                    )
        except ClientError as error:
            raise StorageError(
                f"upload {backend_id} could not be listed: {error}"
            ) from None
        return parts

    def complete(
        self,
        key: str,
        backend_id: str,
        numbers: list[int],
        sha256s: dict[int, str] | None = None,
    ) -> None:
        """Join the parts; `sha256s` are the checksums parts carried, by number.

        S3 requires the checksum of every part of an upload opened for
        them, and not every store lists them (SeaweedFS 4 does not).
        """
        stored = self.list_parts(key, backend_id)
        sha256s = sha256s or {}
        parts = []
        for number in numbers:
            part: dict[str, Any] = {
                "PartNumber": number,
                "ETag": f'"{stored[number].md5}"',
            }
            sha256 = sha256s.get(number) or stored[number].sha256
            if sha256 is not None:
                part["ChecksumSHA256"] = sha256_header(sha256)
            parts.append(part)
        self.client.complete_multipart_upload(
            Bucket=self.bucket,
            Key=key,
            UploadId=backend_id,
            MultipartUpload={"Parts": parts},
        )

    def object_has_sha256(self, key: str, sha256: str) -> bool:
        """Tell whether the store recorded `sha256` for the object on arrival.

        An object joined from one part that carried its sha256 has the
        composite checksum of that one part: the base64 sha256 of the part's
        binary sha256, followed by `-1`. The S3 API defines it so, and
        SeaweedFS 4 follows it. A whole-object checksum is compared as it is.
        """
        from botocore.exceptions import ClientError

        try:
            answer = self.client.head_object(
                Bucket=self.bucket, Key=key, ChecksumMode="ENABLED"
            )
        except ClientError:
            return False  # then the blob is read back instead
        recorded = answer.get("ChecksumSHA256")
        if not isinstance(recorded, str):
            return False
        digest = bytes.fromhex(sha256)
        if recorded.endswith("-1"):
            return recorded == sha256_header(hashlib.sha256(digest).hexdigest()) + "-1"
        return recorded == sha256_header(sha256)

    def abort(self, key: str, backend_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=backend_id
            )
        except ClientError:
            pass  # already completed or aborted

    def download_url(
        self, key: str, *, filename: str | None, media_type: str
    ) -> str | None:
        if not self.direct:
            return None
        params = {"Bucket": self.bucket, "Key": key, "ResponseContentType": media_type}
        if filename:
            params["ResponseContentDisposition"] = content_disposition(filename)
        return str(
            self.signer.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=settings.SIGNED_URL_SECONDS
            )
        )


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """Build a Content-Disposition header that keeps any file name intact.

    The quoted `filename` gets an ASCII stand-in; `filename*` (RFC 6266 and
    RFC 5987) carries the real name percent-encoded as UTF-8.
    """
    from urllib.parse import quote

    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\%' else "_"
        for c in filename
    )
    kind = "inline" if inline else "attachment"
    return (
        f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
    )


Storage = FilesystemStorage | S3Storage


@lru_cache(maxsize=1)
def get_storage() -> Storage:
    config: StorageConfig = settings.STORAGE
    if config.backend == "filesystem":
        assert config.root is not None
        return FilesystemStorage(config.root)
    return S3Storage(config)
