"""The registry's pages in Chromium: sort versions, compare them, move an alias."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from apps.registry.tests.pushing import model_push
from apps.users.models import Team, User
from tests.browser.conftest import Server

SIGNATURE = {
    "inputs": {
        "type": "dataframe",
        "columns": [
            {"name": "tenure", "type": "int64"},
            {"name": "plan", "type": "str"},
        ],
        "rows": 5,
    },
    "outputs": {"type": "tensor", "dtype": "float64", "shape": [-1, 2]},
}


@pytest.fixture
def churn(owner_api: Any, acme: Team) -> str:
    for number, (auc, loss) in enumerate([(0.71, 0.6), (0.93, 0.2), (0.85, 0.3)]):
        model_push(
            owner_api,
            "acme",
            "churn",
            {"model.pkl": f"model {number}".encode()},
            flavor="sklearn",
            loader={"file": "model.pkl"},
            metrics={"auc": auc, "loss": loss},
            params={"trees": 100 * (number + 1), "depth": 6},
            signature=SIGNATURE,
            libraries={"python": "3.11.7", "sklearn": "1.9.1", "numpy": "2.4.6"},
            lineage={"job": "nightly-train", "run": str(number + 1)},
            description="# Churn\n\nGradient boosting on **monthly** usage.",
            inline=True,
        )
    owner_api.put(
        "/api/teams/acme/models/churn/aliases/production", {"version": 2}, format="json"
    )
    return "/acme/-/models/churn"


# The viewport of a common phone (iPhone 12 to 15) in CSS pixels.
PHONE = {"width": 390, "height": 844}
WIDTHS = """() => ({
    page: document.documentElement.scrollWidth,
    topbar: document.querySelector(".topbar").getBoundingClientRect().width,
})"""


def _versions(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "[data-testid=versions] tbody tr", "rows => rows.map(r => r.dataset.version)"
    )


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("DSTACK_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_models_list_links_to_model(
    signed_in: Any, asgi_server: Server, owner: User, churn: str
) -> None:
    page = signed_in(owner)

    page.goto(f"{asgi_server.url}/acme/-/models")
    _shoot(page, "models.png")
    badge = page.locator("[data-testid=models] .badge-alias").first.inner_text()
    page.click("text=churn")

    page.wait_for_url(f"{asgi_server.url}{churn}")
    assert badge.startswith("production")


def test_versions_sort_by_a_metric_column(
    signed_in: Any, asgi_server: Server, owner: User, churn: str
) -> None:
    page = signed_in(owner)
    page.goto(f"{asgi_server.url}{churn}")
    assert _versions(page) == ["3", "2", "1"]
    _shoot(page, "model.png")

    page.click("[data-sort='metrics.auc']")
    page.wait_for_url("**order=-metrics.auc")
    descending = _versions(page)
    page.click("[data-sort='metrics.auc']")
    page.wait_for_url("**order=metrics.auc")

    assert descending == ["2", "3", "1"]
    assert _versions(page) == ["1", "3", "2"]
    row = page.locator("[data-testid=versions] tr[data-version='2']")
    assert row.locator(".badge-alias").inner_text() == "production"


def test_two_versions_compare_side_by_side(
    signed_in: Any, asgi_server: Server, owner: User, churn: str
) -> None:
    page = signed_in(owner)
    page.goto(f"{asgi_server.url}{churn}")

    page.check("input[name=v][value='1']")
    page.check("input[name=v][value='3']")
    page.click("[data-testid=compare]")
    page.wait_for_url("**/compare?**")
    _shoot(page, "compare.png")

    cells = page.locator("[data-metric=auc] td").all_inner_texts()
    assert cells[0] == "auc"
    assert cells[1].startswith("0.71")
    assert cells[2].startswith("0.85")
    assert page.locator("[data-param=trees]").get_attribute("class") == "differs"


def test_alias_moves_from_the_model_page(
    signed_in: Any, asgi_server: Server, owner: User, churn: str
) -> None:
    page = signed_in(owner)
    page.goto(f"{asgi_server.url}{churn}")

    page.fill("#id_alias", "production")
    page.select_option("#id_version", "3")
    page.click("[data-testid=move-alias] button[type=submit]")
    page.wait_for_selector(".message.success")

    row = page.locator("[data-testid=versions] tr[data-version='3']")
    assert row.locator(".badge-alias").inner_text() == "production"
    old = page.locator("[data-testid=versions] tr[data-version='2'] .badge-alias")
    assert old.count() == 0


def test_version_page_shows_signature_and_files(
    signed_in: Any, asgi_server: Server, owner: User, churn: str
) -> None:
    page = signed_in(owner)

    page.goto(f"{asgi_server.url}{churn}/versions/2")
    _shoot(page, "version.png")

    inputs = page.locator("[data-testid=signature-inputs] tbody tr").all_inner_texts()
    assert inputs[0].split("\t")[:2] == ["tenure", "int64"]
    assert (
        'alias="production"'
        in page.locator("[data-testid=pull-snippet]").last.inner_text()
    )
    with page.expect_download() as download:
        page.click("[data-testid=files] a")
    assert Path(download.value.path()).read_bytes() == b"model 1"


def test_deleting_last_version_shows_empty_model(
    signed_in: Any, asgi_server: Server, owner: User, owner_api: Any, acme: Team
) -> None:
    model_push(owner_api, "acme", "retired", {"model.bin": b"only version"})
    page = signed_in(owner)
    page.goto(f"{asgi_server.url}/acme/-/models/retired/versions/1")

    page.click("text=Delete version 1")
    page.wait_for_url(f"{asgi_server.url}/acme/-/models/retired")
    _shoot(page, "model-without-versions.png")

    empty = page.locator("[data-testid=no-versions]")
    assert "the next push becomes version 2" in empty.inner_text()
    assert 'dstack.models.push("/acme/retired"' in empty.inner_text()
    assert page.locator("[data-testid=pull-snippet]").count() == 0
    assert page.locator("[data-testid=versions]").count() == 0
    assert page.locator("[data-testid=move-alias]").count() == 0
    page.goto(f"{asgi_server.url}/acme/-/models")
    listed = page.locator("[data-testid=models] tbody tr").first
    assert listed.locator("[data-testid=no-versions]").inner_text() == "no versions"


def test_model_shared_from_its_page_reaches_the_other_user(
    signed_in: Any, asgi_server: Server, owner: User, outsider: User, churn: str
) -> None:
    page = signed_in(owner)
    page.goto(f"{asgi_server.url}{churn}")

    page.fill("#id_recipient", "eve")
    page.select_option("#id_share_role", "editor")
    page.click("[data-testid=share-form] button[type=submit]")
    page.wait_for_selector(".message.success")
    _shoot(page, "model-sharing.png")
    rows = page.locator("[data-testid=shares] tbody tr").all_inner_texts()

    assert [row.split("\t")[:2] for row in rows] == [["eve", "editor"]]

    other = signed_in(outsider)
    other.goto(f"{asgi_server.url}/shared")
    other.click("[data-testid=shared-models] >> text=acme/churn")
    other.wait_for_url(f"{asgi_server.url}{churn}")

    assert _versions(other) == ["3", "2", "1"]
    assert other.locator("[data-testid=move-alias]").count() == 1
    assert other.locator("[data-testid=sharing]").count() == 0

    other.goto(f"{asgi_server.url}/acme/-/models")
    listed = other.locator("[data-testid=models] .stack-link").all_inner_texts()
    assert listed == ["churn"]


@pytest.mark.parametrize(
    "path",
    [
        "/acme/-/models",
        "/acme/-/models/churn",
        "/acme/-/models/churn/versions/2",
        "/acme/-/models/churn/compare?v=1&v=2&v=3",
    ],
)
def test_registry_page_fits_a_phone(
    signed_in: Any, asgi_server: Server, owner: User, churn: str, path: str
) -> None:
    # A wide table scrolls inside its own box, so the page, and with it the
    # top bar, keeps the screen's width.
    page = signed_in(owner)
    page.set_viewport_size(PHONE)

    page.goto(f"{asgi_server.url}{path}")
    _shoot(page, "phone" + path.split("?")[0].replace("/", "-") + ".png")
    widths = page.evaluate(WIDTHS)

    assert widths["page"] <= PHONE["width"]
    assert widths["topbar"] == PHONE["width"]


def test_versions_table_scrolls_on_a_phone(
    signed_in: Any, asgi_server: Server, owner: User, churn: str
) -> None:
    page = signed_in(owner)
    page.set_viewport_size(PHONE)

    page.goto(f"{asgi_server.url}{churn}")
    box = page.locator(".table-wrap:has([data-testid=versions])")
    client_width = box.evaluate("box => box.clientWidth")
    scroll_width = box.evaluate("box => box.scrollWidth")

    assert client_width < PHONE["width"]
    assert scroll_width > client_width
