"""The test S3 server rejects what a real store rejects, so tests can trust it."""

from __future__ import annotations

import datetime
from unittest import mock

import httpx
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def stored_key(s3_server, s3_bucket):
    key = "probe/object"
    s3_server.client().put_object(Bucket=s3_bucket, Key=key, Body=b"secret bytes")
    return key


def test_it_rejects_an_unsigned_get(s3_server, s3_bucket, stored_key):
    response = httpx.get(f"{s3_server.endpoint_url}/{s3_bucket}/{stored_key}")

    assert response.status_code == 403
    assert b"secret bytes" not in response.content


def test_it_rejects_an_unsigned_put(s3_server, s3_bucket):
    response = httpx.put(f"{s3_server.endpoint_url}/{s3_bucket}/anonymous", content=b"x")

    assert response.status_code == 403
    assert "anonymous" not in s3_server.object_keys(s3_bucket, "anonymous")


def test_it_rejects_a_wrong_secret(s3_server, s3_bucket, stored_key):
    client = s3_server.client(secret_key="not-the-secret")

    with pytest.raises(ClientError) as caught:
        client.get_object(Bucket=s3_bucket, Key=stored_key)

    assert caught.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_it_serves_a_valid_presigned_url(s3_server, s3_bucket, stored_key):
    url = s3_server.client().generate_presigned_url(
        "get_object", Params={"Bucket": s3_bucket, "Key": stored_key}, ExpiresIn=60
    )

    response = httpx.get(url)

    assert response.status_code == 200
    assert response.content == b"secret bytes"


def test_it_rejects_an_expired_presigned_url(s3_server, s3_bucket, stored_key):
    # Sign as if it were two hours ago, for one minute.
    two_hours_ago = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(
        hours=2
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=two_hours_ago):
        url = s3_server.client().generate_presigned_url(
            "get_object", Params={"Bucket": s3_bucket, "Key": stored_key}, ExpiresIn=60
        )

    response = httpx.get(url)

    assert response.status_code == 403
    assert b"secret bytes" not in response.content


def test_it_rejects_a_presigned_url_for_another_key(s3_server, s3_bucket, stored_key):
    url = s3_server.client().generate_presigned_url(
        "get_object", Params={"Bucket": s3_bucket, "Key": stored_key}, ExpiresIn=60
    )

    response = httpx.get(url.replace("probe/object", "probe/other"))

    assert response.status_code == 403
