from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from apps.users.models import Team


class BlobState(models.TextChoices):
    PENDING = "pending"  # announced by a push, bytes not complete yet
    STORED = "stored"  # complete; sizes and part checksums matched
    VERIFIED = "verified"  # re-read in the background, whole sha256 matched
    CORRUPT = "corrupt"  # the re-read found other bytes


READABLE_STATES = (BlobState.STORED, BlobState.VERIFIED)


class Blob(models.Model):
    """Bytes in object storage, addressed by their sha256 within one team.

    Blobs are per team rather than global so that deleting a team frees its
    storage without asking other teams, and so that a push cannot learn
    whether another team holds some bytes.

    A large push may announce its bytes by size alone and send the sha256
    with the commit, so that the client hashes while it uploads. Until that
    commit the blob has no sha256 and its bytes go to a key of their own,
    `storage_key`, where they stay: S3 has no rename, and copying an object
    to its content address would read and write it once more.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="blobs")
    # NULL until the commit of a push that announced the bytes by size only.
    # The unique constraint ignores NULLs, so such blobs never deduplicate.
    sha256 = models.CharField(max_length=64, null=True, blank=True)
    size = models.BigIntegerField()
    state = models.CharField(
        max_length=16, choices=BlobState.choices, default=BlobState.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    # When a reader's report of a failed sha256 last made the server re-read
    # the bytes. `blob_recheck` claims this column in one conditional update,
    # so a blob is re-read at most once per `BLOB_RECHECK_SECONDS`.
    rechecked_at = models.DateTimeField(null=True, blank=True)
    # The object's key when it is not the content address that `key` derives.
    storage_key = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["team", "sha256"], name="blob_unique_sha256"
            )
        ]

    @property
    def key(self) -> str:
        if self.storage_key:
            return self.storage_key
        assert self.sha256 is not None, "a blob without sha256 has a storage_key"
        return f"teams/{self.team_id}/blobs/{self.sha256[:2]}/{self.sha256}"

    @property
    def is_readable(self) -> bool:
        return self.state in READABLE_STATES


class UploadState(models.TextChoices):
    OPEN = "open"
    COMPLETED = "completed"
    ABORTED = "aborted"


class Upload(models.Model):
    """A multipart transfer of one blob's bytes into storage.

    One open upload per blob: a push of bytes whose earlier push was
    interrupted finds the same upload and sends only the missing parts.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="uploads")
    blob = models.ForeignKey(Blob, on_delete=models.CASCADE, related_name="uploads")
    part_size = models.BigIntegerField()
    # One part that carries the blob's sha256: the store rejects other bytes
    # on arrival, so the completed blob needs no re-read.
    sha256_part = models.BooleanField(default=False)
    backend_id = models.CharField(max_length=1024)
    state = models.CharField(
        max_length=16, choices=UploadState.choices, default=UploadState.OPEN
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["blob"],
                condition=models.Q(state="open"),
                name="upload_one_open_per_blob",
            )
        ]

    @property
    def part_count(self) -> int:
        return max(1, -(-self.blob.size // self.part_size))

    def part_length(self, number: int) -> int:
        if number < self.part_count:
            return self.part_size
        return self.blob.size - self.part_size * (self.part_count - 1)
