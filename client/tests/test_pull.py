from __future__ import annotations

import pytest

import dstack

from .fakeserver import API, FakeServer


def downloads(server: FakeServer) -> list[str]:
    return [str(r.url) for r in server.requests if r.url.host == "storage.test"]


def test_it_pulls_the_only_attachment_without_params(client):
    client.push("notes", "hello")

    assert client.pull("notes") == "hello"


def test_it_pulls_the_attachment_with_matching_params(client):
    frame = client.frame("sales")
    frame.add("eu", region="EU")
    frame.add("us", region="US")
    frame.push()

    assert client.pull("sales", region="US") == "us"
    assert client.pull("sales", {"region": "EU"}) == "eu"


def test_it_matches_tabs_by_title(client):
    frame = client.frame("report")
    frame.add("summary", section=dstack.tab("Summary"))
    frame.add("details", section=dstack.tab("Details"))
    frame.push()

    assert client.pull("report", section=dstack.tab("Details")) == "details"
    assert (
        client.pull("report", section={"type": "tab", "title": "Summary"}) == "summary"
    )


def test_it_tells_booleans_from_numbers(client):
    frame = client.frame("flags")
    frame.add("true", flag=True)
    frame.add("one", flag=1)
    frame.push()

    assert client.pull("flags", flag=True) == "true"
    assert client.pull("flags", flag=1.0) == "one"


def test_it_raises_match_error_listing_existing_params(client):
    frame = client.frame("sales")
    frame.add("eu", region="EU")
    frame.add("us", region="US")
    frame.push()

    with pytest.raises(dstack.MatchError) as caught:
        client.pull("sales", region="ASIA")

    message = str(caught.value)
    assert "{'region': 'ASIA'}" in message
    assert "{'region': 'EU'}; {'region': 'US'}" in message
    assert caught.value.available == [{"region": "EU"}, {"region": "US"}]


def test_it_needs_params_when_there_are_several_attachments(client):
    frame = client.frame("sales")
    frame.add("eu", region="EU")
    frame.add("us", region="US")
    frame.push()

    with pytest.raises(dstack.MatchError, match="has 2 attachments, so pass params"):
        client.pull("sales")


def test_it_raises_stack_not_found_for_a_missing_stack(client):
    with pytest.raises(
        dstack.StackNotFoundError, match="alice/missing not found"
    ) as caught:
        client.pull("missing")
    assert caught.value.response.status_code == 404


def test_it_raises_stack_not_found_without_a_committed_revision(client, server):
    server.reject_commit_md5 = True
    client.inline_limit = 10
    with pytest.raises(dstack.ChecksumError):
        client.push("pending", b"x" * 100)

    with pytest.raises(dstack.StackNotFoundError, match="no committed revision"):
        client.pull("pending")


def test_it_pulls_an_older_revision(client):
    client.push("notes", "first")
    client.push("notes", "second")

    assert client.pull("notes") == "second"
    assert client.pull("notes", revision=1) == "first"


def test_it_raises_revision_not_found_for_a_missing_revision(client):
    client.push("notes", "first")

    with pytest.raises(dstack.RevisionNotFoundError, match="revision 7"):
        client.pull("notes", revision=7)


def test_it_raises_checksum_error_for_corrupt_bytes(client, server):
    client.push("notes", "hello")
    server.corrupt_downloads = True

    with pytest.raises(dstack.ChecksumError, match="expected") as caught:
        client.pull("notes")

    assert caught.value.expected != caught.value.actual
    assert list(client.cache_dir.iterdir()) == []


def test_it_serves_a_second_pull_from_the_cache(client, server):
    client.push("notes", "hello")
    client.pull("notes")
    count = len(downloads(server))

    assert client.pull("notes") == "hello"
    assert len(downloads(server)) == count == 1


def test_it_downloads_again_when_the_cached_file_is_corrupt(client, server):
    client.push("notes", "hello")
    client.pull("notes")
    cached = next(client.cache_dir.iterdir())
    cached.write_bytes(b"tampered")

    assert client.pull("notes") == "hello"
    assert len(downloads(server)) == 2


def test_it_honours_dstack_cache_dir(server, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTACK_CACHE_DIR", str(tmp_path / "elsewhere"))
    client = dstack.Client(API, server.token, user="alice", transport=server.transport)
    client.push("notes", "hello")

    client.pull("notes")

    assert len(list((tmp_path / "elsewhere").iterdir())) == 1


def test_it_sends_no_token_to_storage(client, server):
    client.push("notes", "hello")
    client.pull("notes")

    storage = [r for r in server.requests if r.url.host == "storage.test"]
    assert storage
    assert all("authorization" not in r.headers for r in storage)


def test_it_returns_bytes_for_binary_attachments(client):
    client.push("blob", b"\x00\x01")

    assert client.pull("blob") == b"\x00\x01"


def test_file_decoder_writes_the_file(client, tmp_path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    client.push("model", source)

    written = client.pull("model", decoder=dstack.FileDecoder(tmp_path / "out"))

    assert written == tmp_path / "out"
    assert written.read_bytes() == b"weights"


def test_file_decoder_keeps_the_pushed_name_in_a_directory(client, tmp_path):
    source = tmp_path / "model.bin"
    source.write_bytes(b"weights")
    client.push("model", source)
    target = tmp_path / "downloads"
    target.mkdir()

    written = client.pull("model", decoder=dstack.FileDecoder(target))

    assert written == target / "model.bin"


def test_it_pulls_markdown(client):
    client.push("readme", dstack.md("# Title"))

    assert client.pull("readme") == dstack.md("# Title")


def test_it_uses_a_custom_decoder(client):
    client.push("notes", "hello")

    assert client.pull("notes", decoder=lambda attachment: attachment.size) == 5


def test_module_pull_raises_configuration_error_for_unknown_profile():
    with pytest.raises(
        dstack.ConfigurationError, match="profile 'nope' is not configured"
    ):
        dstack.pull("notes", profile="nope")
