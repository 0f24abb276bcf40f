"""A reader's report that an object failed its sha256, and the re-read it makes.

`POST …/attachments/{index}/verify` and `POST …/files/{index}/verify` make
the server read the blob back, at most once per blob and
`BLOB_RECHECK_SECONDS`, and mark it corrupt when its bytes differ.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.artifacts.models import Blob, BlobState
from apps.artifacts.storage import get_storage
from apps.audit.models import AuditEvent
from apps.registry.tests.pushing import model_push, model_url
from tests.pushing import Obj, push, stack_url

STACK = "sales/by-region"
DATA = b"attachment bytes" * 100
VERIFY = stack_url("acme", STACK, "/-/revisions/1/attachments/0/verify")


@pytest.fixture
def blob(owner_api: Any) -> Blob:
    push(owner_api, "acme", STACK, Obj(DATA, inline=True))
    return Blob.objects.get()


def _report(api: Any, url: str = VERIFY) -> dict[str, Any]:
    response = api.post(url)
    assert response.status_code == 200, response.content
    return response.json()  # type: ignore[no-any-return]


def _a_while_ago(blob: Blob, settings: Any) -> None:
    """Move the blob's last re-read back beyond the interval, as time passing would."""
    earlier = timezone.now() - timedelta(seconds=settings.BLOB_RECHECK_SECONDS + 1)
    Blob.objects.filter(pk=blob.pk).update(rechecked_at=earlier)


def test_report_of_intact_bytes_keeps_them(blob: Blob, viewer_api: Any) -> None:
    found = _report(viewer_api)

    assert found["state"] == "verified"
    assert found["rechecked"] is True
    assert found["rechecked_at"] is not None
    blob.refresh_from_db()
    assert blob.state == BlobState.VERIFIED
    assert not AuditEvent.objects.filter(action="blob.found_corrupt").exists()


def test_report_of_changed_bytes_marks_corrupt(blob: Blob, viewer_api: Any) -> None:
    get_storage().put(blob.key, b"X" * len(DATA))

    found = _report(viewer_api)

    assert found["state"] == "corrupt"
    assert found["rechecked"] is True
    blob.refresh_from_db()
    assert blob.state == BlobState.CORRUPT
    reads = viewer_api.get(stack_url("acme", STACK, "/-/revisions/1/attachments/0"))
    assert reads.status_code == 409
    assert reads.json()["error"]["code"] == "corrupt"


def test_corrupt_blob_lands_in_audit_log(blob: Blob, viewer_api: Any) -> None:
    get_storage().put(blob.key, b"X" * len(DATA))

    _report(viewer_api)
    _report(viewer_api)

    events = list(AuditEvent.objects.filter(action="blob.found_corrupt"))
    assert len(events) == 1
    assert events[0].team_id == blob.team_id
    assert events[0].details["blob"] == blob.pk
    assert STACK in events[0].target_label


def test_report_of_missing_object_marks_corrupt(blob: Blob, viewer_api: Any) -> None:
    get_storage().delete([blob.key])

    found = _report(viewer_api)

    assert found["state"] == "corrupt"
    blob.refresh_from_db()
    assert blob.state == BlobState.CORRUPT


def test_reports_reread_once_per_interval(
    blob: Blob, viewer_api: Any, settings: Any
) -> None:
    # Given a report that found the bytes intact, and bytes changed after it
    first = _report(viewer_api)
    get_storage().put(blob.key, b"X" * len(DATA))

    # When reports follow within the interval, then none reads the bytes
    for _ in range(3):
        again = _report(viewer_api)
        assert again["rechecked"] is False
        assert again["state"] == "verified"
        assert again["rechecked_at"] == first["rechecked_at"]

    # When the interval has passed, then the next report reads them
    _a_while_ago(blob, settings)
    later = _report(viewer_api)
    assert later["rechecked"] is True
    assert later["state"] == "corrupt"


def test_report_of_corrupt_blob_reads_nothing(blob: Blob, viewer_api: Any) -> None:
    Blob.objects.filter(pk=blob.pk).update(state=BlobState.CORRUPT)

    found = _report(viewer_api)

    assert found == {"state": "corrupt", "rechecked": False, "rechecked_at": None}


def test_push_after_corrupt_report_uploads_again(
    blob: Blob, owner_api: Any, viewer_api: Any
) -> None:
    # Given bytes a report found corrupt
    get_storage().put(blob.key, b"X" * len(DATA))
    _report(viewer_api)

    # When the same bytes are pushed again, then the server takes them
    pushed = push(owner_api, "acme", STACK, Obj(DATA))
    assert pushed.opened["attachments"][0]["status"] == "upload"

    # Then the blob, which the first revision shares, holds the right bytes
    blob.refresh_from_db()
    assert blob.state in (BlobState.STORED, BlobState.VERIFIED)
    assert b"".join(get_storage().iter_bytes(blob.key)) == DATA


def test_report_of_model_file_marks_corrupt(owner_api: Any, viewer_api: Any) -> None:
    model_push(owner_api, "acme", "churn", {"model.bin": b"model bytes"}, inline=True)
    model_blob = Blob.objects.get()
    get_storage().put(model_blob.key, b"model bytez")

    found = _report(
        viewer_api, model_url("acme", "churn", "/versions/1/files/0/verify")
    )

    assert found["state"] == "corrupt"
    event = AuditEvent.objects.get(action="blob.found_corrupt")
    assert event.target_label == "acme/churn version 1 file model.bin"


def test_report_of_unknown_attachment_is_404(blob: Blob, viewer_api: Any) -> None:
    response = viewer_api.post(
        stack_url("acme", STACK, "/-/revisions/1/attachments/5/verify")
    )

    assert response.status_code == 404
