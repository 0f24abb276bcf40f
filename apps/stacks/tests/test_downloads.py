"""Downloads: file names that survive the trip, table previews and CSV export."""

from __future__ import annotations

import io
from urllib.parse import unquote

import pandas
import pytest

from tests.pushing import Obj, push, stack_url, transfer_get

STACK = "sales/by-region"
ATTACHMENT = stack_url("acme", STACK, "/-/revisions/1/attachments/0")
PARQUET = "application/vnd.apache.parquet"

FILENAMES = [
    "sales report.csv",
    "q#1.csv",
    "100%.csv",
    'say "hi".txt',
    "it's.txt",
    "ventes-été.csv",
    "naïve 日本語.txt",
    "semi;colon,comma.txt",
]


def disposition_filename(header: str) -> str:
    """Return the name a browser takes from `filename*` (RFC 6266)."""
    assert header.startswith("attachment;"), header
    encoded = header.split("filename*=UTF-8''", 1)[1]
    assert ";" not in encoded and " " not in encoded, header
    return unquote(encoded, errors="strict")


def fallback_filename(header: str) -> str:
    quoted = header.split('filename="', 1)[1].split('"', 1)[0]
    return quoted


@pytest.mark.usefixtures("any_storage")
@pytest.mark.parametrize("filename", FILENAMES)
def test_a_file_name_round_trips(owner_api, filename):
    push(owner_api, "acme", STACK, Obj(b"file body", {}, "text/plain", filename))

    attachment = owner_api.get(ATTACHMENT).json()
    fetched = transfer_get(attachment["download_url"])

    assert attachment["filename"] == filename
    assert fetched.status == 200
    assert fetched.body == b"file body"
    header = fetched.headers["content-disposition"]
    assert disposition_filename(header) == filename
    fallback = fallback_filename(header)
    assert fallback.isascii()
    assert len(fallback) == len(filename)


def test_the_download_endpoint_redirects_to_the_bytes(owner_api):
    push(owner_api, "acme", STACK, Obj(b"file body", {}, "text/plain", "a b.txt"))

    response = owner_api.get(ATTACHMENT + "/download")

    assert response.status_code == 302
    assert transfer_get(response["Location"]).body == b"file body"


def test_a_download_through_the_server_is_sandboxed(filesystem_storage, owner_api):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    push(owner_api, "acme", STACK, Obj(svg, {}, "image/svg+xml"))

    fetched = transfer_get(owner_api.get(ATTACHMENT).json()["download_url"])

    assert fetched.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in fetched.headers["content-security-policy"]
    assert fetched.headers["x-content-type-options"] == "nosniff"


def test_through_server_keeps_the_bytes_on_this_origin(s3_storage, owner_api, settings):
    push(owner_api, "acme", STACK, Obj(b'{"data": []}', {}, "application/json"))

    direct = owner_api.get(ATTACHMENT).json()["download_url"]
    proxied = owner_api.get(ATTACHMENT + "?through=server").json()["download_url"]
    redirect = owner_api.get(ATTACHMENT + "/download?through=server")

    assert not direct.startswith(settings.PUBLIC_URL)
    assert proxied.startswith(settings.PUBLIC_URL + "/api/transfers/blobs/")
    assert redirect["Location"].startswith(settings.PUBLIC_URL + "/api/transfers/")
    assert transfer_get(proxied).body == b'{"data": []}'


def test_it_rejects_an_unknown_through_value(owner_api):
    push(owner_api, "acme", STACK, Obj(b"x", {}, "text/plain"))

    response = owner_api.get(ATTACHMENT + "?through=store")

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "through"


def test_a_range_request_gets_part_of_the_bytes(filesystem_storage, owner_api):
    push(owner_api, "acme", STACK, Obj(b"0123456789", {}, "text/plain"))
    url = owner_api.get(ATTACHMENT).json()["download_url"]

    middle = transfer_get(url, headers={"Range": "bytes=2-5"})
    suffix = transfer_get(url, headers={"Range": "bytes=-3"})
    beyond = transfer_get(url, headers={"Range": "bytes=20-"})

    assert middle.status == 206
    assert middle.body == b"2345"
    assert middle.headers["content-range"] == "bytes 2-5/10"
    assert suffix.body == b"789"
    assert beyond.status == 416


def parquet_bytes(frame: pandas.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow")
    return buffer.getvalue()


@pytest.fixture
def sales() -> pandas.DataFrame:
    return pandas.DataFrame(
        {
            "region": ["EU", "US", "JP", "BR", "IN"],
            "sales": [10, 20, 5, 7, 3],
            "share": [0.5, 0.25, float("nan"), 0.1, 0.05],
        }
    )


@pytest.mark.usefixtures("any_storage")
class TestTables:
    def test_it_previews_a_parquet_table(self, owner_api, sales):
        push(
            owner_api,
            "acme",
            STACK,
            Obj(parquet_bytes(sales), {}, PARQUET, "sales.parquet"),
        )

        response = owner_api.get(ATTACHMENT + "/table?page=2&page_size=2")

        assert response.status_code == 200, response.content
        table = response.json()
        assert table["columns"] == ["region", "sales", "share"]
        assert table["rows"] == [["JP", 5, None], ["BR", 7, 0.1]]
        assert table["count"] == 5
        assert (table["page"], table["page_size"]) == (2, 2)

    def test_a_page_past_the_end_is_empty(self, owner_api, sales):
        push(owner_api, "acme", STACK, Obj(parquet_bytes(sales), {}, PARQUET))

        table = owner_api.get(ATTACHMENT + "/table?page=9").json()

        assert table["rows"] == []
        assert table["count"] == 5

    def test_it_exports_parquet_as_csv(self, owner_api, sales):
        push(
            owner_api,
            "acme",
            STACK,
            Obj(parquet_bytes(sales), {}, PARQUET, "sales.parquet"),
        )

        response = owner_api.get(ATTACHMENT + "/download?format=csv")
        fetched = transfer_get(response["Location"])

        assert response.status_code == 302
        assert fetched.status == 200
        assert fetched.headers["content-type"].startswith("text/csv")
        assert (
            disposition_filename(fetched.headers["content-disposition"]) == "sales.csv"
        )
        assert fetched.body.decode() == sales.to_csv(index=False)

    def test_it_keeps_a_named_index_in_the_csv(self, owner_api, sales):
        indexed = sales.set_index("region")
        push(owner_api, "acme", STACK, Obj(parquet_bytes(indexed), {}, PARQUET))

        fetched = transfer_get(
            owner_api.get(ATTACHMENT + "/download?format=csv")["Location"]
        )

        assert fetched.body.decode() == indexed.to_csv()
        table = owner_api.get(ATTACHMENT + "/table").json()
        assert table["columns"][0] == "region"

    def test_it_rejects_a_table_view_of_something_else(self, owner_api):
        push(owner_api, "acme", STACK, Obj(b"not a table", {}, "text/plain"))

        for suffix in ("/table", "/download?format=csv"):
            response = owner_api.get(ATTACHMENT + suffix)
            assert response.status_code == 400, suffix
            assert response.json()["error"]["field"] in {"attachment", "format"}

    def test_it_rejects_an_unknown_format(self, owner_api, sales):
        push(owner_api, "acme", STACK, Obj(parquet_bytes(sales), {}, PARQUET))

        response = owner_api.get(ATTACHMENT + "/download?format=xlsx")

        assert response.status_code == 400
        assert response.json()["error"]["field"] == "format"

    def test_it_rejects_a_damaged_parquet_file(self, owner_api):
        push(owner_api, "acme", STACK, Obj(b"PAR1 but not really", {}, PARQUET))

        response = owner_api.get(ATTACHMENT + "/table")

        assert response.status_code == 400
        assert response.json()["error"]["field"] == "attachment"


def test_a_reversed_range_gets_the_whole_object(filesystem_storage, owner_api):
    push(owner_api, "acme", STACK, Obj(b"0123456789", {}, "text/plain"))
    url = owner_api.get(ATTACHMENT).json()["download_url"]

    reversed_range = transfer_get(url, headers={"Range": "bytes=8-2"})

    assert reversed_range.status == 200
    assert reversed_range.body == b"0123456789"
