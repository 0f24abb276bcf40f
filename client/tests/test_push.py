from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

import dstack

from .fakeserver import API, FakeServer

PAYLOAD = bytes(range(256)) * 20  # 5120 bytes: five 1024-byte parts


@pytest.fixture
def small_inline_client(server: FakeServer, tmp_path: Path) -> dstack.Client:
    """A client whose inline limit forces uploads for PAYLOAD."""
    return dstack.Client(
        API,
        server.token,
        user="alice",
        transport=server.transport,
        cache_dir=tmp_path / "cache",
        inline_limit=2000,
        retry_backoff=0,
    )


def puts(server: FakeServer) -> list[str]:
    return [r.url.path for r in server.requests if r.method == "PUT"]


def test_it_pushes_small_object_inline(client, server):
    client.push("sales/notes", "hello")

    body = server.open_bodies[0]
    assert base64.b64decode(body["attachments"][0]["data"]) == b"hello"
    assert puts(server) == []
    assert server.commit_bodies == [{"uploads": []}]


def test_it_describes_the_attachment(client, server):
    client.push("sales/notes", "hello", "A greeting", region="EU")

    entry = server.open_bodies[0]["attachments"][0]
    assert entry["params"] == {"region": "EU"}
    assert entry["media_type"] == "text/plain"
    assert entry["description"] == "A greeting"
    assert entry["size"] == 5
    assert entry["sha256"] == hashlib.sha256(b"hello").hexdigest()


def test_it_sends_client_info(client, server):
    client.push("sales/notes", "hello")

    info = server.open_bodies[0]["client"]
    assert info["name"] == "dstack-client"
    assert info["version"] == dstack.__version__
    assert info["python"].count(".") == 2
    assert set(info["os"]) == {"sysname", "release", "version", "machine"}


def test_it_returns_the_page_url(client):
    result = client.push("sales/notes", "hello")

    assert result.url == "http://dstack.test/alice/sales/notes"
    assert str(result) == result.url
    assert result.number == 1
    assert result.stack == "alice/sales/notes"


def test_push_result_renders_a_link_in_jupyter(client):
    result = client.push("sales/notes", "hello")

    html = result._repr_html_()
    assert 'href="http://dstack.test/alice/sales/notes"' in html
    assert "revision 1" in html


def test_it_numbers_revisions(client):
    first = client.push("sales/notes", "one")
    second = client.push("sales/notes", "two")

    assert (first.number, second.number) == (1, 2)


def test_it_sends_the_message_and_access(client, server):
    client.push("sales/notes", "hello", access="public", message="first")

    assert server.open_bodies[0]["message"] == "first"
    assert server.open_bodies[0]["access"] == "public"


def test_it_reads_the_message_from_meta(client, server):
    client.push("sales/notes", "hello", meta=dstack.FrameMeta(message="from meta"))
    client.push("sales/notes", "hello", meta={"message": "from dict"})

    assert [body["message"] for body in server.open_bodies] == [
        "from meta",
        "from dict",
    ]


def test_it_rejects_message_in_both_meta_and_argument(client):
    with pytest.raises(ValueError, match="not both"):
        client.push("sales/notes", "x", meta={"message": "a"}, message="b")


def test_it_rejects_an_unknown_access_level(client):
    with pytest.raises(ValueError, match="invalid access 'secret'"):
        client.push("sales/notes", "x", access="secret")


def test_it_rejects_nan_params(client, server):
    with pytest.raises(ValueError, match="finite"):
        client.push("sales/notes", "x", rate=float("nan"))
    assert server.requests == []


@pytest.mark.parametrize("year", [10**400, 2**63, -(2**63) - 1])
def test_it_rejects_integer_params_beyond_64_bits(client, server, year):
    with pytest.raises(ValueError, match="param 'year' must be a 64-bit integer"):
        client.push("sales/notes", "hello", year=year)
    assert server.requests == []


def test_it_accepts_the_largest_64_bit_integer_param(client, server):
    client.push("sales/notes", "hello", year=2**63 - 1)
    assert server.requests


def test_it_converts_numpy_scalar_params(client, server):
    import numpy

    client.push("sales/notes", "x", year=numpy.int64(2020), share=numpy.float32(0.5))

    assert server.open_bodies[0]["attachments"][0]["params"] == {
        "year": 2020,
        "share": 0.5,
    }


def test_it_sends_tab_params_in_wire_form(client, server):
    client.push("sales/notes", "x", section=dstack.tab("Summary"))

    params = server.open_bodies[0]["attachments"][0]["params"]
    assert params == {"section": {"type": "tab", "title": "Summary"}}


def test_it_puts_stacks_in_the_profile_team(server, tmp_path):
    client = dstack.Client(
        API, server.token, user="alice", team="acme", transport=server.transport
    )
    server.teams.append({"name": "acme", "role": "member"})

    result = client.push("sales/notes", "x")

    assert result.stack == "acme/sales/notes"


def test_it_reads_the_team_from_a_leading_slash(client, server):
    server.teams.append({"name": "acme", "role": "member"})

    result = client.push("/acme/sales/notes", "x")

    assert result.stack == "acme/sales/notes"


def test_it_asks_the_server_for_the_personal_team(server):
    client = dstack.Client(API, server.token, transport=server.transport)

    result = client.push("notes", "x")

    assert result.stack == "alice/notes"


def test_it_uploads_a_large_object_in_parts(small_inline_client, server):
    small_inline_client.push("data/blob", PAYLOAD)

    assert "data" not in server.open_bodies[0]["attachments"][0]
    assert len(puts(server)) == 5
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    assert server.stored_blob("alice", sha256) == PAYLOAD


def test_it_commits_the_md5_of_every_part(small_inline_client, server):
    small_inline_client.push("data/blob", PAYLOAD)

    parts = server.commit_bodies[0]["uploads"][0]["parts"]
    expected = [
        {
            "number": n + 1,
            "md5": hashlib.md5(PAYLOAD[n * 1024 : (n + 1) * 1024]).hexdigest(),
        }
        for n in range(5)
    ]
    assert parts == expected


def test_it_sends_storage_puts_without_extra_headers(small_inline_client, server):
    small_inline_client.push("data/blob", PAYLOAD)

    for request in server.requests:
        if request.method == "PUT":
            assert set(request.headers) == {"host", "content-length"}


def test_it_skips_parts_the_server_already_has(small_inline_client, server):
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    server.interrupted[sha256] = {1: PAYLOAD[:1024], 2: PAYLOAD[1024:2048]}

    small_inline_client.push("data/blob", PAYLOAD)

    assert [path.rsplit("/", 1)[1] for path in puts(server)] == ["3", "4", "5"]
    assert server.stored_blob("alice", sha256) == PAYLOAD


def test_it_reuploads_a_stored_part_with_another_md5(small_inline_client, server):
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    server.interrupted[sha256] = {1: b"\0" * 1024}

    small_inline_client.push("data/blob", PAYLOAD)

    assert len(puts(server)) == 5
    assert server.stored_blob("alice", sha256) == PAYLOAD


def test_it_retries_a_failed_part(small_inline_client, server):
    server.fail_puts[2] = 2

    small_inline_client.push("data/blob", PAYLOAD)

    part_two = [path for path in puts(server) if path.endswith("/2")]
    assert len(part_two) == 3
    assert server.stored_blob("alice", hashlib.sha256(PAYLOAD).hexdigest()) == PAYLOAD


def test_it_gives_up_on_a_part_after_four_attempts(small_inline_client, server):
    server.fail_puts[3] = 10

    with pytest.raises(dstack.UploadError, match="part 3 failed after 4 attempts"):
        small_inline_client.push("data/blob", PAYLOAD)
    assert server.commit_bodies == []


def test_it_fetches_fresh_urls_when_they_expired(small_inline_client, server):
    server.expire_after_open = True

    small_inline_client.push("data/blob", PAYLOAD)

    upload_id = server.commit_bodies[0]["uploads"][0]["id"]
    refreshes = server.requests_to(f"GET .*/uploads/{upload_id}$")
    assert 1 <= len(refreshes) <= 5
    assert server.stored_blob("alice", hashlib.sha256(PAYLOAD).hexdigest()) == PAYLOAD


def test_it_raises_checksum_error_when_commit_is_rejected(small_inline_client, server):
    server.reject_commit_md5 = True

    with pytest.raises(dstack.ChecksumError) as caught:
        small_inline_client.push("data/blob", PAYLOAD)

    assert caught.value.code == "checksum_mismatch"
    assert caught.value.response.status_code == 400
    assert server.stacks[("alice", "data/blob")]["head"] is None


def test_it_uploads_equal_bytes_once(small_inline_client, server):
    frame = small_inline_client.frame("data/blob")
    frame.add(PAYLOAD, region="EU")
    frame.add(PAYLOAD, region="US")
    frame.push()

    assert len(server.commit_bodies[0]["uploads"]) == 1
    assert len(puts(server)) == 5


def test_it_falls_back_to_uploads_when_inline_data_is_rejected(server, tmp_path):
    server.inline_limit = 1500
    client = dstack.Client(
        API, server.token, user="alice", transport=server.transport, inline_limit=4000
    )

    client.push("data/blob", b"x" * 2000)

    assert len(server.open_bodies) == 1
    assert "data" not in server.open_bodies[0]["attachments"][0]
    assert len(puts(server)) == 2


def test_it_streams_a_file_path(small_inline_client, server, tmp_path):
    path = tmp_path / "report.csv"
    path.write_bytes(PAYLOAD)

    small_inline_client.push("data/file", path)

    entry = server.open_bodies[0]["attachments"][0]
    assert entry["filename"] == "report.csv"
    assert entry["media_type"] == "text/csv"
    assert server.stored_blob("alice", entry["sha256"]) == PAYLOAD


def test_frame_pushes_several_objects_as_one_revision(client, server):
    frame = client.frame("sales/by-region")
    frame.add("eu", region="EU")
    frame.add("us", params={"region": "US"})
    result = frame.push(message="both")

    assert result.number == 1
    params = [entry["params"] for entry in server.open_bodies[0]["attachments"]]
    assert params == [{"region": "EU"}, {"region": "US"}]


def test_frame_rejects_equal_params(client):
    frame = client.frame("sales/by-region")
    frame.add("eu", region="EU")

    with pytest.raises(ValueError, match="already has an attachment"):
        frame.add("again", region="EU")


def test_frame_rejects_an_empty_push(client):
    with pytest.raises(ValueError, match="empty"):
        client.frame("sales/by-region").push()


def test_frame_with_auto_push_keeps_objects_in_files(client, server):
    frame = client.frame("sales/by-region", auto_push=True)
    frame.add("eu", region="EU")

    assert isinstance(frame._pending[0].source, Path)
    frame.push()
    assert base64.b64decode(server.open_bodies[0]["attachments"][0]["data"]) == b"eu"


def test_frame_rejects_a_read_only_role(server, tmp_path):
    server.teams.append({"name": "acme", "role": "viewer"})
    client = dstack.Client(API, server.token, user="alice", transport=server.transport)

    with pytest.raises(dstack.PermissionDeniedError, match="read-only role viewer"):
        client.frame("/acme/sales")


def test_frame_rejects_a_team_the_user_is_not_in(client):
    with pytest.raises(dstack.PermissionDeniedError, match="is not a member"):
        client.frame("/other/sales")


def test_commit_alias_warns_and_adds(client):
    frame = client.frame("sales/by-region")

    with pytest.warns(DeprecationWarning, match="add"):
        frame.commit("eu", region="EU")
    assert len(frame._pending) == 1


def test_it_raises_authentication_error_for_a_bad_token(server):
    client = dstack.Client(API, "wrong", user="alice", transport=server.transport)

    with pytest.raises(dstack.AuthenticationError) as caught:
        client.push("sales/notes", "x")
    assert caught.value.code == "invalid_token"
    assert caught.value.request.url.path.endswith("/-/revisions")


def test_it_raises_encoding_error_for_unknown_objects(client):
    with pytest.raises(dstack.EncodingError, match="no encoder for objects of type"):
        client.push("sales/notes", object())


def test_module_push_uses_the_configured_profile(server, monkeypatch):
    dstack.configure(server=API, user="alice", token=server.token)
    original = dstack.Client.__init__

    def with_transport(self, *args, **kwargs):
        kwargs.setdefault("transport", server.transport)
        original(self, *args, **kwargs)

    monkeypatch.setattr(dstack.Client, "__init__", with_transport)

    result = dstack.push("sales/notes", "hello", region="EU")

    assert result.stack == "alice/sales/notes"
    assert server.open_bodies[0]["attachments"][0]["params"] == {"region": "EU"}


def test_push_frame_warns_and_pushes(server, monkeypatch):
    dstack.configure(server=API, user="alice", token=server.token)
    original = dstack.Client.__init__
    monkeypatch.setattr(
        dstack.Client,
        "__init__",
        lambda self, *a, **k: original(
            self, *a, **{"transport": server.transport, **k}
        ),
    )

    with pytest.warns(DeprecationWarning, match="push_frame"):
        dstack.push_frame("sales/notes", "hello", message="old style")
    assert server.open_bodies[0]["message"] == "old style"
