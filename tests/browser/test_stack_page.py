"""The stack page in Chromium: a gapminder stack with a year slider and a continent select."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from apps.users.models import Team, User
from tests.browser.conftest import Server
from tests.pushing import Obj, push

PLOT_TITLE = "document.getElementById('plot') && document.getElementById('plot').layout.title.text"


def gapminder_objects() -> list[Obj]:
    """One plotly figure per year and continent, titled "<continent>, <year>"."""
    import plotly.express as px

    frame = px.data.gapminder()
    objects = []
    for (year, continent), rows in frame.groupby(["year", "continent"]):
        figure = px.scatter(
            rows,
            x="gdpPercap",
            y="lifeExp",
            size="pop",
            hover_name="country",
            log_x=True,
            title=f"{continent}, {year}",
        )
        objects.append(
            Obj(
                figure.to_json().encode(),
                {"year": int(year), "continent": str(continent)},
                media_type="application/json",
                application="plotly",
                description=f"Life expectancy against GDP per capita in **{continent}**.",
                inline=True,
            )
        )
    return objects


@pytest.fixture
def gapminder(owner_api: Any, acme: Team) -> str:
    push(owner_api, "acme", "world/gapminder", *gapminder_objects(), message="gapminder")
    return "/acme/world/gapminder"


def plot_title(page: Any) -> str:
    return str(page.evaluate(PLOT_TITLE))


def wait_for_title(page: Any, title: str) -> None:
    page.wait_for_function(f"({PLOT_TITLE}) === {title!r}", timeout=20_000)


def test_slider_changes_the_chart(
    asgi_server: Server, signed_in: Any, member: User, gapminder: str, tmp_path: Path
) -> None:
    page = signed_in(member)
    page.goto(asgi_server.url + gapminder + "?continent=Asia")
    wait_for_title(page, "Asia, 1952")
    assert page.locator("#param-2-value, output.value").first.inner_text() != ""

    slider = page.locator('input[data-param="year"]')
    slider.focus()
    slider.press("ArrowRight")
    wait_for_title(page, "Asia, 1957")
    assert "year=1957" in page.url
    assert "continent=Asia" in page.url
    countries = page.evaluate("document.getElementById('plot').data[0].hovertext")
    assert "China" in countries
    assert "France" not in countries

    page.select_option('select[data-param="continent"]', label="Europe")
    wait_for_title(page, "Europe, 1957")
    countries = page.evaluate("document.getElementById('plot').data[0].hovertext")
    assert "France" in countries
    assert "<strong>Europe</strong>" in page.inner_html("#description")
    snippet = page.inner_text("#pull-snippet")
    assert 'dstack.pull(\n    "/acme/world/gapminder",\n    year=1957,\n' in snippet
    assert '    continent="Europe",\n)' in snippet

    screenshot = tmp_path / "stack-page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    if os.environ.get("DSTACK_SCREENSHOT_DIR"):
        shutil.copy(screenshot, Path(os.environ["DSTACK_SCREENSHOT_DIR"]) / screenshot.name)


def test_link_reproduces_the_view(
    asgi_server: Server, signed_in: Any, viewer: User, gapminder: str
) -> None:
    page = signed_in(viewer)
    page.goto(asgi_server.url + gapminder + "?year=2007&continent=Oceania")
    wait_for_title(page, "Oceania, 2007")
    assert page.input_value('input[data-param="year"]') == "11"
    assert page.locator('select[data-param="continent"] option:checked').inner_text() == "Oceania"


def test_page_hears_of_a_new_revision(
    asgi_server: Server, signed_in: Any, member: User, owner_api: Any, gapminder: str
) -> None:
    page = signed_in(member)
    page.goto(asgi_server.url + gapminder)
    wait_for_title(page, "Africa, 1952")
    page.wait_for_function("document.body.dataset.live === 'open'", timeout=10_000)

    push(owner_api, "acme", "world/gapminder", *gapminder_objects()[:2], message="again")
    banner = page.locator("#live-banner")
    banner.wait_for(state="visible", timeout=10_000)
    assert "Revision 2 was pushed." in banner.inner_text()
    assert plot_title(page) == "Africa, 1952"

    page.click("#live-show")
    page.wait_for_function("JSON.parse(document.getElementById('stack-data').textContent).revision === 2")


def test_tables_page_and_markdown_renders(
    asgi_server: Server, signed_in: Any, owner_api: Any, viewer: User, acme: Team
) -> None:
    rows = "".join(f"{number},row {number}\n" for number in range(120))
    push(
        owner_api,
        "acme",
        "reports/mixed",
        Obj(f"n,label\n{rows}".encode(), {"view": "table"}, media_type="text/csv", inline=True),
        Obj(b"# Notes\n\n<script>alert(1)</script>Plain *words*.", {"view": "notes"},
            media_type="text/markdown", inline=True),
    )
    page = signed_in(viewer)
    page.goto(asgi_server.url + "/acme/reports/mixed")
    page.wait_for_function("document.getElementById('output').dataset.rendered === '0'")
    assert page.locator("#output table tbody tr").count() == 50
    assert page.locator("a", has_text="Download CSV").count() == 1

    page.click("text=Next →")
    page.wait_for_selector("text=Rows 51–100 of 120")
    assert page.locator("#output table tbody tr").first.inner_text().startswith("50")

    page.select_option('select[data-param="view"]', label="notes")
    page.wait_for_selector("#output h1")
    assert page.inner_text("#output h1") == "Notes"
    assert "<script" not in page.inner_html("#output")
    assert "view=notes" in page.url


def test_wide_table_fits_a_phone(
    asgi_server: Server, signed_in: Any, owner_api: Any, viewer: User, acme: Team
) -> None:
    # The table scrolls sideways in its own box, so the page keeps the
    # width of the screen, a common phone's 390 CSS pixels.
    header = ",".join(f"column_{number}" for number in range(12))
    rows = "".join(",".join(["12345.678"] * 12) + "\n" for _ in range(5))
    push(
        owner_api,
        "acme",
        "reports/wide",
        Obj(f"{header}\n{rows}".encode(), media_type="text/csv", inline=True),
    )
    page = signed_in(viewer)
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto(asgi_server.url + "/acme/reports/wide")
    page.wait_for_selector("#output table")
    box = page.locator("#output .table-wrap")

    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert box.evaluate("box => box.scrollWidth > box.clientWidth")
