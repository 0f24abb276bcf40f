"""Cases found by using the client against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import numpy
import plotly.graph_objects as go
import pytest

import dstack
from dstack._encoders import Attachment, decode, encode


def attachment_of(encoded, tmp_path: Path) -> Attachment:
    path = tmp_path / "blob"
    data = encoded.data.read_bytes() if isinstance(encoded.data, Path) else encoded.data
    path.write_bytes(data)
    return Attachment(
        path=path,
        media_type=encoded.media_type,
        application=encoded.application,
        settings=encoded.settings,
        filename=encoded.filename,
        params={},
        description=None,
        size=len(data),
        sha256="0" * 64,
    )


def test_pulled_plotly_figure_equals_the_pushed_one(tmp_path):
    figure = go.Figure(go.Scatter(x=numpy.array([1, 2, 3]), y=numpy.array([0.5, 1.5, 2.5])))

    pulled = decode(attachment_of(encode(figure), tmp_path))

    assert isinstance(pulled.data[0].x, numpy.ndarray)
    assert list(pulled.data[0].x) == [1, 2, 3]
    assert json.loads(pulled.to_json()) == json.loads(figure.to_json())


@pytest.mark.parametrize("name", ["data.json", "table.csv", "notes.txt", "readme.md"])
def test_a_pushed_file_pulls_back_as_bytes(tmp_path, name):
    source = tmp_path / name
    source.write_bytes(b"not json, not csv: just bytes\x00\x01")

    pulled = decode(attachment_of(encode(source), tmp_path))

    assert pulled == source.read_bytes()


def test_server_address_without_api_gets_a_hint():
    def login_redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "/accounts/login"})

    client = dstack.Client(
        "http://127.0.0.1:9/", "token", transport=httpx.MockTransport(login_redirect)
    )

    with pytest.raises(dstack.ServerError) as raised:
        client.user_info()

    assert "usually ends in /api" in str(raised.value)
