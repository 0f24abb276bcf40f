"""No API endpoint returns a 5xx, whatever it is sent.

The test walks every URL pattern of `dstack_platform/api_urls.py`, fills
each of its parameters with awkward values, and sends each HTTP method with
awkward bodies, as the owner of the team and without credentials. A second
test takes valid bodies of the push and change endpoints and replaces one
field at a time, nested fields included, with a value of every JSON type.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern

from apps.registry.tests.pushing import model_push
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
    # Lists and objects cannot be hashed, so a set or dict lookup of them fails.
    (
        "application/json",
        b'{"flavor": ["files"], "role": {}, "scope": [], "access": []}',
    ),
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


def walk_order() -> list[tuple[str, str]]:
    """List each URL with each method, deletions last and the deepest URL first.

    Deleting the team `acme` earlier would leave every later request about
    it a 404 that reaches no validation.
    """
    others = [method for method in METHODS if method != "delete"]
    requests = list(itertools.product(ALL_URLS, others))
    requests += [(url, "delete") for url in reversed(ALL_URLS)]
    return requests


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

    for url, method in walk_order():
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


# Values of every JSON type, each put in place of one field of a valid body.
# A set or dict lookup of a string field fails on a list or an object.
SHAPES: list[object] = [[], {}, [{}], {"a": []}, 1, -1, 1.5, 2**64, True, None, ""]
BYTES = b"model bytes"
INLINE = {
    "size": len(BYTES),
    "sha256": hashlib.sha256(BYTES).hexdigest(),
    "data": base64.b64encode(BYTES).decode(),
}
WRITES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "post",
        "/api/teams/acme/models/churn/versions",
        {
            "flavor": "files",
            "loader": {"kind": "file", "name": "model.bin"},
            "files": [{"path": "model.bin", **INLINE}],
            "metrics": {"auc": 0.9},
            "params": {"depth": 4},
            "tags": {"stage": "test"},
            "signature": {"inputs": {"type": "tensor"}},
            "libraries": {"python": "3.11"},
            "lineage": {"job": "nightly"},
            "client": {"version": "1"},
            "alias": "staging",
            "description": "A model.",
            "part_headers": True,
        },
    ),
    (
        "post",
        "/api/teams/acme/stacks/fuzzed/-/revisions",
        {
            "message": "a push",
            "access": "private",
            "client": {"version": "1"},
            "attachments": [
                {
                    "params": {"region": "EU"},
                    "media_type": "text/csv",
                    "settings": {"header": True},
                    "filename": "sales.csv",
                    "application": "table",
                    "description": "Sales.",
                    **INLINE,
                }
            ],
        },
    ),
    (
        "patch",
        "/api/teams/acme/models/churn",
        {"description": "A model.", "tags": {"stage": "test"}, "access": "private"},
    ),
    ("patch", "/api/teams/acme/models/churn/versions/1", {"tags": {"stage": "test"}}),
    ("put", "/api/teams/acme/models/churn/aliases/production", {"version": 1}),
]


def field_paths(
    body: dict[str, Any], prefix: tuple[Any, ...] = ()
) -> Iterator[tuple[Any, ...]]:
    """Yield the path of every field of `body`, into objects and first list items."""
    for name, value in body.items():
        yield (*prefix, name)
        if isinstance(value, dict):
            yield from field_paths(value, (*prefix, name))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            yield from field_paths(value[0], (*prefix, name, 0))


def with_field(
    body: dict[str, Any], path: tuple[Any, ...], value: object
) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    parent: Any = changed
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return changed


@pytest.mark.usefixtures("filesystem_storage")
def test_no_write_answers_5xx_for_any_field_type(owner_api):
    model_push(owner_api, "acme", "churn", inline=True)
    owner_api.raise_request_exception = True
    failures = []

    for method, url, body in WRITES:
        valid = getattr(owner_api, method)(url, body, format="json")
        assert valid.status_code < 300, (url, valid.content)
        for path, value in itertools.product(field_paths(body), SHAPES):
            sent = with_field(body, path, value)
            try:
                response = getattr(owner_api, method)(url, sent, format="json")
            except Exception as error:  # a 500 in production; record, go on
                failures.append(f"{method.upper()} {url} {path}={value!r}: {error!r}")
                continue
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {url} {path}={value!r}: 500")

    assert failures == []
