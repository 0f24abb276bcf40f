"""GET /metrics: who may read it, and what it counts."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import Client

from apps.users import services as user_services
from apps.users.models import Team
from tests.cast import api_client, user_make
from tests.pushing import Obj, push, stack_url

METRICS_TOKEN = "metrics-token-" + "m" * 40


@pytest.fixture
def metrics_token(settings: Any) -> str:
    settings.DSTACK_METRICS_TOKEN = METRICS_TOKEN
    return METRICS_TOKEN


@pytest.fixture
def staff(db: Any) -> Any:
    return user_services.user_create(username="root", password=None, is_staff=True)


def scrape(client: Client | None = None, **headers: str) -> Any:
    return (client or Client()).get("/metrics", **headers)


def sample(body: str, name: str, labels: str = "") -> float:
    """Return the value of one sample of the text format, 0 if absent."""
    pattern = re.escape(name) + (re.escape("{" + labels + "}") if labels else "")
    match = re.search(rf"^{pattern} (\S+)$", body, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_it_serves_the_text_format_to_the_metrics_token(db, metrics_token):
    response = scrape(HTTP_AUTHORIZATION=f"Bearer {metrics_token}")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    body = response.content.decode()
    assert "# TYPE dstack_http_requests_total counter" in body
    assert "# TYPE dstack_pushes_total counter" in body
    assert "# TYPE dstack_pulled_bytes_total counter" in body


def test_it_rejects_a_wrong_metrics_token_with_401(db, metrics_token):
    response = scrape(HTTP_AUTHORIZATION="Bearer " + "x" * 54)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_rejects_anonymous_callers_with_401(db, metrics_token):
    response = scrape()

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_it_serves_a_signed_in_staff_user(staff):
    browser = Client()
    browser.force_login(staff)

    assert scrape(browser).status_code == 200


def test_it_serves_a_staff_users_token(staff):
    client = api_client(staff, scope="read")

    response = scrape(HTTP_AUTHORIZATION=f"Bearer {client.secret}")

    assert response.status_code == 200


def test_it_rejects_a_staff_token_limited_to_one_team_with_403(staff):
    team = Team.objects.get(name="root")
    client = api_client(staff, team=team)

    response = scrape(HTTP_AUTHORIZATION=f"Bearer {client.secret}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_it_rejects_a_team_owner_with_403(db):
    owner = user_make("olga")
    browser = Client()
    browser.force_login(owner)

    assert scrape(browser).status_code == 403


def test_it_counts_pushes_and_their_bytes(
    db, metrics_token, django_capture_on_commit_callbacks
):
    owner = user_make("pat")
    api = api_client(owner)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {metrics_token}"}
    before = scrape(**auth).content.decode()

    # A push is counted once its transaction commits.
    with django_capture_on_commit_callbacks(execute=True):
        push(api, "pat", "sales", Obj(b"a" * 100, {"n": 1}, inline=True))
        push(api, "pat", "sales", Obj(b"b" * 50, {"n": 1}, inline=True))
    after = scrape(**auth).content.decode()

    pushes = sample(after, "dstack_pushes_total") - sample(before, "dstack_pushes_total")
    assert pushes == 2
    pushed = sample(after, "dstack_pushed_bytes_total") - sample(
        before, "dstack_pushed_bytes_total"
    )
    assert pushed == 150


def test_it_counts_pulls_and_their_bytes(db, metrics_token):
    owner = user_make("quinn")
    api = api_client(owner)
    push(api, "quinn", "sales", Obj(b"c" * 70, {"n": 1}, inline=True))
    auth = {"HTTP_AUTHORIZATION": f"Bearer {metrics_token}"}
    before = scrape(**auth).content.decode()

    answer = api.get(stack_url("quinn", "sales", "/-/revisions/1/attachments/0"))
    after = scrape(**auth).content.decode()

    assert answer.status_code == 200
    assert sample(after, "dstack_pulls_total") - sample(before, "dstack_pulls_total") == 1
    pulled = sample(after, "dstack_pulled_bytes_total") - sample(
        before, "dstack_pulled_bytes_total"
    )
    assert pulled == 70


def test_it_counts_requests_by_url_pattern_and_status(db, metrics_token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {metrics_token}"}
    labels = 'method="GET",route="livez",status="200"'
    before = sample(scrape(**auth).content.decode(), "dstack_http_requests_total", labels)

    Client().get("/livez")
    Client().get("/livez")
    after = sample(scrape(**auth).content.decode(), "dstack_http_requests_total", labels)

    assert after - before == 2


def test_it_labels_requests_by_url_pattern_not_by_path(db, metrics_token):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {metrics_token}"}
    secret_path = f"/no-such-page-{uuid.uuid4().hex}/x/y"

    Client().get(secret_path)
    body = scrape(**auth).content.decode()

    assert secret_path.strip("/") not in body


@pytest.fixture
def own_queue(settings: Any) -> Iterator[tuple[redis.Redis, str]]:
    """A queue of this test alone: other runs share the Redis server."""
    from dstack_platform.celery import app

    url = "redis://127.0.0.1:6379/12"
    settings.CELERY_BROKER_URL = url
    name = f"metrics-test-{uuid.uuid4().hex}"
    saved = app.conf.task_default_queue
    app.conf.task_default_queue = name
    client = redis.Redis.from_url(url)
    try:
        yield client, name
    finally:
        client.delete(name)
        client.close()
        app.conf.task_default_queue = saved


def test_it_reports_the_depth_of_each_queue(db, metrics_token, own_queue):
    client, name = own_queue
    client.rpush(name, "task-1", "task-2", "task-3")

    body = scrape(HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode()

    assert sample(body, "dstack_queue_depth", f'queue="{name}"') == 3


def test_it_reports_runs_by_status(db, metrics_token):
    from apps.jobs import services as job_services
    from apps.jobs.models import Run
    from apps.users.actors import Actor

    owner = user_make("rita")
    team = Team.objects.get(name="rita")
    job = job_services.job_create(
        actor=Actor(owner), team=team, body={"name": "nightly", "code": "print(1)\n"}
    )
    Run.objects.create(team=team, job=job, number=1, status="failed", trigger="manual")
    Run.objects.create(team=team, job=job, number=2, status="failed", trigger="manual")
    Run.objects.create(team=team, job=job, number=3, status="succeeded", trigger="manual")

    body = scrape(HTTP_AUTHORIZATION=f"Bearer {metrics_token}").content.decode()

    assert sample(body, "dstack_runs", 'status="failed"') == 2
    assert sample(body, "dstack_runs", 'status="succeeded"') == 1
    assert sample(body, "dstack_runs", 'status="running"') == 0
    assert 'dstack_runs{status="queued"} 0.0' in body
