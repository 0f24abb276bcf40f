"""Bad input gets a 4xx with a code and the field at fault, never a 5xx."""

from __future__ import annotations

import hashlib
import uuid
from urllib.parse import quote

import pytest

from apps.stacks.models import Revision, Stack
from tests.pushing import Obj, open_revision, push, stack_url

STACK = "sales/by-region"
DATA = b"some bytes"
SHA = hashlib.sha256(DATA).hexdigest()


def attachment(**changes):
    item = {
        "params": {"region": "EU"},
        "media_type": "application/octet-stream",
        "size": len(DATA),
        "sha256": SHA,
    }
    item.update(changes)
    return item


def open_with(client, body, *, path=STACK, team="acme"):
    url = stack_url(team, quote(path, safe="/"), "/-/revisions")
    return client.post(url, body, format="json")


def open_raw(client, text, *, path=STACK):
    return client.post(
        stack_url("acme", path, "/-/revisions"), text, content_type="application/json"
    )


def assert_error(response, status, code, field):
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["field"] == field, error
    assert error["message"]


@pytest.mark.parametrize(
    "path",
    [
        "ab",
        "a" * 256,
        "a/../b",
        "a/./b",
        "../abc",
        "abc/..",
        "a//b",
        "/abc",
        "abc/",
        "sales by region",
        "sales#1",
        "ventes/régions",
        "a:b:c",
        "a\\b\\c",
        "abc\x00def",
    ],
)
def test_it_rejects_a_bad_stack_path(owner_api, path):
    response = open_with(owner_api, {"attachments": [attachment()]}, path=path)

    assert_error(response, 400, "invalid", "path")
    assert not Stack.objects.exists()


def test_it_accepts_the_longest_stack_path(owner_api):
    path = "a" * 255

    response = open_with(owner_api, {"attachments": [attachment()]}, path=path)

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("path", ["-/abc", "abc/-", "a/-/b"])
def test_it_treats_a_dash_segment_as_no_such_endpoint(owner_api, path):
    # `-` separates a stack's sub-resources, so `a/-/b/-/revisions` names no
    # stack at all.
    response = open_with(owner_api, {"attachments": [attachment()]}, path=path)

    assert_error(response, 404, "not_found", None)
    assert not Stack.objects.exists()


@pytest.mark.parametrize("text", ["null", "[]", "[{}]", "42", '"text"', "true"])
def test_it_rejects_a_body_that_is_not_an_object(owner_api, text):
    response = open_raw(owner_api, text)

    assert_error(response, 400, "invalid", None)


@pytest.mark.parametrize("text", ["{", "{'a': 1}", "\x00"])
def test_it_rejects_a_body_that_is_not_json(owner_api, text):
    response = open_raw(owner_api, text)

    assert_error(response, 400, "parse_error", None)


def test_it_reads_an_empty_body_as_an_empty_object(owner_api):
    response = open_raw(owner_api, "")

    assert_error(response, 400, "invalid", "attachments")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_it_rejects_non_finite_numbers_in_raw_json(owner_api, constant):
    text = (
        '{"attachments": [{"params": {"x": %s}, "media_type": "text/plain", '
        '"size": 10, "sha256": "%s"}]}' % (constant, SHA)
    )

    response = open_raw(owner_api, text)

    assert_error(response, 400, "parse_error", None)
    assert not Revision.objects.exists()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"region": {"nested": "dict"}}, "attachments[0].params.region"),
        ({"region": ["EU", "US"]}, "attachments[0].params.region"),
        ({"region": None}, "attachments[0].params.region"),
        ({"region": "E\x00U"}, "attachments[0].params.region"),
        ({"reg\x00ion": "EU"}, "attachments[0].params"),
        ({"": "EU"}, "attachments[0].params"),
        ({"tab": {"type": "tab", "title": "x", "extra": 1}}, "attachments[0].params.tab"),
        ({"region": "x" * 1001}, "attachments[0].params.region"),
        (["region", "EU"], "attachments[0].params"),
        ("region=EU", "attachments[0].params"),
    ],
)
def test_it_rejects_params_that_are_not_flat(owner_api, params, field):
    response = open_with(owner_api, {"attachments": [attachment(params=params)]})

    assert_error(response, 400, "invalid", field)


def test_it_accepts_a_tab_marker_and_scalars(owner_api):
    params = {"tab": {"type": "tab", "title": "Sales"}, "year": 2020, "ok": True, "x": 1.5}

    response = open_with(owner_api, {"attachments": [attachment(params=params)]})

    assert response.status_code == 201, response.content


def test_it_rejects_two_attachments_with_equal_params(owner_api):
    body = {"attachments": [attachment(), attachment()]}

    response = open_with(owner_api, body)

    assert_error(response, 400, "invalid", "attachments[1].params")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "bad\x00message", "attachments": [attachment()]}, "message"),
        ({"message": 42, "attachments": [attachment()]}, "message"),
        ({"message": "x" * 10_001, "attachments": [attachment()]}, "message"),
        ({"attachments": [attachment(filename="a\x00.csv")]}, "attachments[0].filename"),
        ({"attachments": [attachment(filename="../a.csv")]}, "attachments[0].filename"),
        ({"attachments": [attachment(description="d\x00")]}, "attachments[0].description"),
        ({"attachments": [attachment(application="p\x00")]}, "attachments[0].application"),
        ({"attachments": [attachment(media_type="text")]}, "attachments[0].media_type"),
        ({"attachments": [attachment(media_type=None)]}, "attachments[0].media_type"),
        ({"attachments": [attachment(size=-1)]}, "attachments[0].size"),
        ({"attachments": [attachment(size="10")]}, "attachments[0].size"),
        ({"attachments": [attachment(size=True)]}, "attachments[0].size"),
        ({"attachments": [attachment(sha256="ABC")]}, "attachments[0].sha256"),
        ({"attachments": [attachment(sha256=SHA.upper())]}, "attachments[0].sha256"),
        ({"attachments": [attachment(settings=[1])]}, "attachments[0].settings"),
        ({"attachments": [attachment(data="not base64!")]}, "attachments[0].data"),
        ({"attachments": [attachment(data=17)]}, "attachments[0].data"),
        ({"attachments": ["not an object"]}, "attachments[0]"),
        ({"attachments": []}, "attachments"),
        ({"attachments": {"0": attachment()}}, "attachments"),
        ({}, "attachments"),
        ({"access": "secret", "attachments": [attachment()]}, "access"),
        ({"client": "dstack", "attachments": [attachment()]}, "client"),
        ({"client": {"x": "y" * 10_001}, "attachments": [attachment()]}, "client"),
    ],
)
def test_it_rejects_a_bad_push_field(owner_api, body, field):
    response = open_with(owner_api, body)

    assert_error(response, 400, "invalid", field)
    assert not Revision.objects.exists()


def test_it_rejects_inline_data_that_does_not_match(owner_api):
    import base64

    other = base64.b64encode(b"other byte").decode()
    longer = base64.b64encode(DATA + b"!").decode()

    for data in (other, longer):
        response = open_with(owner_api, {"attachments": [attachment(data=data)]})
        assert_error(response, 400, "checksum_mismatch", "attachments[0].data")


def test_it_rejects_a_size_that_contradicts_a_stored_blob(owner_api):
    push(owner_api, "acme", STACK, Obj(DATA, inline=True))

    response = open_with(owner_api, {"attachments": [attachment(size=len(DATA) + 1)]})

    assert_error(response, 400, "checksum_mismatch", "size")


def test_it_rejects_a_body_over_the_inline_limit(owner_api, settings):
    settings.INLINE_LIMIT = 4096
    data = b"x" * 5000
    body = {"attachments": [Obj(data, inline=True).announce()]}

    response = open_with(owner_api, body)

    assert_error(response, 413, "too_large", "body")
    assert not Revision.objects.exists()


class TestCommitInput:
    @pytest.fixture
    def opened(self, owner_api):
        return open_revision(owner_api, "acme", STACK, Obj(b"x" * 100))

    def commit(self, client, number, body, *, team="acme", path=STACK):
        url = stack_url(team, path, f"/-/revisions/{number}/commit")
        if isinstance(body, str):
            return client.post(url, body, content_type="application/json")
        return client.post(url, body, format="json")

    def test_it_rejects_an_unknown_revision(self, owner_api, opened):
        response = self.commit(owner_api, opened["number"] + 1, {"uploads": []})

        assert_error(response, 404, "not_found", "revision")

    def test_it_rejects_another_teams_revision(self, owner_api, outsider_api, opened):
        theirs = open_revision(outsider_api, "eve", STACK, Obj(b"eve's bytes"))

        response = self.commit(owner_api, theirs["number"], {"uploads": []}, team="eve")

        assert_error(response, 404, "not_found", "stack")
        assert Revision.objects.get(team__name="eve").state == "pending"

    def test_it_rejects_an_upload_of_another_revision(self, owner_api, opened):
        other = open_revision(owner_api, "acme", "other/stack", Obj(b"y" * 100))
        upload_id = other["attachments"][0]["upload"]["id"]
        parts = [{"number": 1, "md5": "0" * 32}]

        response = self.commit(
            owner_api, opened["number"], {"uploads": [{"id": upload_id, "parts": parts}]}
        )

        assert_error(response, 400, "invalid", "uploads")

    def test_it_rejects_an_unknown_upload_id(self, owner_api, opened):
        body = {"uploads": [{"id": str(uuid.uuid4()), "parts": []}]}

        response = self.commit(owner_api, opened["number"], body)

        assert_error(response, 400, "invalid", "uploads")

    @pytest.mark.parametrize("upload_id", ["nope", "", None, 17, "8f2c" * 9, ["x"]])
    def test_it_rejects_a_malformed_upload_id(self, owner_api, opened, upload_id):
        body = {"uploads": [{"id": upload_id, "parts": []}]}

        response = self.commit(owner_api, opened["number"], body)

        assert_error(response, 400, "invalid", "uploads[0].id")

    def test_it_rejects_a_commit_that_leaves_out_an_upload(self, owner_api, opened):
        response = self.commit(owner_api, opened["number"], {"uploads": []})

        assert_error(response, 400, "invalid", "uploads")
        assert Revision.objects.get().state == "pending"

    @pytest.mark.parametrize(
        ("parts", "field"),
        [
            ("all", "uploads[0].parts"),
            ([17], "uploads[0].parts[0]"),
            ([{"number": 0, "md5": "0" * 32}], "uploads[0].parts[0]"),
            ([{"number": "1", "md5": "0" * 32}], "uploads[0].parts[0]"),
            ([{"number": 1, "md5": "xyz"}], "uploads[0].parts[0]"),
            ([{"number": 1, "md5": None}], "uploads[0].parts[0]"),
        ],
    )
    def test_it_rejects_malformed_parts(self, owner_api, opened, parts, field):
        upload_id = opened["attachments"][0]["upload"]["id"]

        response = self.commit(
            owner_api, opened["number"], {"uploads": [{"id": upload_id, "parts": parts}]}
        )

        assert_error(response, 400, "invalid", field)

    def test_it_rejects_parts_that_do_not_cover_the_upload(self, owner_api, opened):
        upload_id = opened["attachments"][0]["upload"]["id"]
        parts = [{"number": 2, "md5": "0" * 32}]

        response = self.commit(
            owner_api, opened["number"], {"uploads": [{"id": upload_id, "parts": parts}]}
        )

        assert_error(response, 400, "invalid", f"uploads.{upload_id}.parts")

    @pytest.mark.parametrize("text", ["[]", "42", '{"uploads": {"a": 1}}', '{"uploads": NaN}'])
    def test_it_rejects_a_malformed_commit_body(self, owner_api, opened, text):
        response = self.commit(owner_api, opened["number"], text)

        assert response.status_code == 400, response.content
        assert response.json()["error"]["code"] in {"invalid", "parse_error"}


class TestUploadIds:
    def test_it_answers_404_for_an_unknown_upload(self, owner_api):
        response = owner_api.get(f"/api/teams/acme/uploads/{uuid.uuid4()}")

        assert_error(response, 404, "not_found", "upload")

    def test_it_answers_404_for_a_malformed_upload_id(self, owner_api):
        response = owner_api.get("/api/teams/acme/uploads/not-a-uuid")

        assert_error(response, 404, "not_found", None)

    def test_it_hides_an_upload_of_another_team(self, owner_api, outsider_api):
        theirs = open_revision(outsider_api, "eve", STACK, Obj(b"eve's bytes"))
        upload_id = theirs["attachments"][0]["upload"]["id"]

        response = owner_api.get(f"/api/teams/acme/uploads/{upload_id}")

        assert_error(response, 404, "not_found", "upload")

    @pytest.mark.parametrize("token", ["garbage", "a" * 500, "x:y:z", "%00"])
    def test_it_answers_404_for_a_forged_part_url(self, owner_api, token):
        response = owner_api.put(
            f"/api/transfers/parts/{token}", b"x", content_type="application/octet-stream"
        )

        assert_error(response, 404, "not_found", None)

    @pytest.mark.parametrize("token", ["garbage", "a" * 500, "x:y:z"])
    def test_it_answers_404_for_a_forged_download_url(self, anonymous_api, token):
        response = anonymous_api.get(f"/api/transfers/blobs/{token}")

        assert_error(response, 404, "not_found", None)


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=0", "page"), ("page=x", "page"), ("page_size=501", "page_size"), ("page=-1", "page")],
)
def test_it_rejects_bad_pagination(owner_api, query, field):
    response = owner_api.get(f"/api/teams/acme/stacks?{query}")

    assert_error(response, 400, "invalid", field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"access": "secret"}, "access"),
        ({"access": None}, "access"),
        ({"head": "1"}, "head"),
        ({"head": 99}, "head"),
        ({"head": True}, "head"),
        ({"retention": 0}, "retention"),
        ({"retention": "5"}, "retention"),
        ({"path": "new/path"}, "path"),
    ],
)
def test_it_rejects_a_bad_stack_change(owner_api, body, field):
    push(owner_api, "acme", STACK, Obj(DATA))

    response = owner_api.patch(stack_url("acme", STACK), body, format="json")

    assert_error(response, 400, "invalid", field)


@pytest.mark.parametrize("text", ["null", "[]", "7"])
def test_it_rejects_a_stack_change_that_is_not_an_object(owner_api, text):
    push(owner_api, "acme", STACK, Obj(DATA))

    response = owner_api.patch(stack_url("acme", STACK), text, content_type="application/json")

    assert_error(response, 400, "invalid", None)

