"""No API endpoint returns a 5xx, whatever it is sent.

The test walks every URL pattern of `dstack_platform/api_urls.py`, fills
each of its parameters with awkward values, and sends each HTTP method with
awkward bodies, as the owner of the team and without credentials.
"""

from __future__ import annotations

import itertools
import re

import pytest
from django.urls import URLPattern

from dstack_platform import api_urls
from tests.pushing import Obj, push

# Values for each converter of the URL patterns, sent as URL text.
VALUES = {
    "str": ["acme", "nope", "x" * 300, "%00", "%C3%A9", "api"],
    "path": ["sales/by-region", "a/../b", "%00/x", "a" * 300, "x/-/y"],
    "int": ["1", "0", "99999999999999999999", "2147483648"],
    "uuid": ["00000000-0000-0000-0000-000000000000"],
}
BODIES = [
    ("application/json", b"{"),
    ("application/json", b"null"),
    ("application/json", b"[1, 2]"),
    ("application/json", b'{"attachments": [{"params": {"a": NaN}}], "uploads": 5}'),
    ("application/json", b'{"head": 99999999999999999999, "retention": -1, "access": []}'),
    ("application/json", b'{"name": "\\u0000", "scope": "all", "expires_at": "soon"}'),
    ("text/plain", b"\x00\xff\xfe"),
]
METHODS = ["get", "post", "put", "patch", "delete"]
CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


def urls_for(pattern: URLPattern) -> list[str]:
    route = str(pattern.pattern)
    if route == "":
        return ["/api/nothing/here"]
    names = CONVERTER.findall(route)
    choices = [VALUES[kind or "str"] for kind, _ in names]
    urls = []
    for combination in itertools.islice(itertools.product(*choices), 12):
        values = iter(combination)
        urls.append("/api/" + CONVERTER.sub(lambda _: next(values), route))
    return urls


ALL_URLS = sorted({url for pattern in api_urls.urlpatterns for url in urls_for(pattern)})


@pytest.fixture
def data(owner_api):
    push(owner_api, "acme", "sales/by-region", Obj(b"table", {}, "text/csv", inline=True))


def test_the_walk_covers_every_pattern():
    routes = {str(pattern.pattern) for pattern in api_urls.urlpatterns}

    assert len(routes) == len(api_urls.urlpatterns)
    assert len(ALL_URLS) > len(routes)


@pytest.mark.usefixtures("filesystem_storage", "data")
@pytest.mark.parametrize("actor", ["owner_api", "anonymous_api"])
def test_no_endpoint_answers_5xx(request, actor):
    client = request.getfixturevalue(actor)
    client.raise_request_exception = True
    failures = []

    for url, method in itertools.product(ALL_URLS, METHODS):
        bodies = BODIES if method in {"post", "put", "patch"} else [(None, b"")]
        for content_type, body in bodies:
            try:
                if content_type is None:
                    response = getattr(client, method)(url)
                else:
                    response = getattr(client, method)(url, body, content_type=content_type)
            except Exception as error:  # a 500 in production; record, go on
                failures.append(f"{method.upper()} {url} {body[:30]!r}: {error!r}")
                continue
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} {body[:30]!r}: {response.status_code}")
            elif response.status_code >= 400 and response.get("Content-Type", "").startswith(
                "application/json"
            ):
                assert "error" in response.json(), (method, url, response.content)

    assert failures == []
