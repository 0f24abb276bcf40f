"""The report page in Chromium: the card editor, shared controls, live news and export.

Each card's Plotly figure is titled "<stack> <region> <year>", so a test
reads which attachment a card shows from the title of its plot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rest_framework.test import APIClient

from apps.reports.models import Card, Report
from apps.reports.tests.helpers import card_add, push_regions, report_create
from apps.users.models import Team, User
from tests.browser.conftest import Server
from tests.pushing import Obj, push

TIMEOUT = 20_000


def card_title(page: Any, position: int) -> str:
    script = (
        "(position) => { const plot = document.querySelectorAll('[data-card-id]')"
        "[position].querySelector('.plot'); return plot && plot.layout"
        " ? plot.layout.title.text : null; }"
    )
    return str(page.evaluate(script, position))


def wait_for_card_title(page: Any, position: int, title: str) -> None:
    page.wait_for_function(
        "([position, title]) => { const plot = document.querySelectorAll("
        "'[data-card-id]')[position].querySelector('.plot');"
        " return plot && plot.layout && plot.layout.title.text === title; }",
        arg=[position, title],
        timeout=TIMEOUT,
    )


def drag(page: Any, card: Any, onto: Any) -> None:
    """Drag `card` by its handle onto the top left of `onto`, in small mouse steps.

    `Locator.drag_to` moves the mouse in one step, which does not start an
    HTML drag in Chromium.
    """
    handle = card.locator(".drag-handle")
    handle.scroll_into_view_if_needed()
    start = handle.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    end = onto.bounding_box()
    page.mouse.move(end["x"] + 20, end["y"] + 10, steps=10)
    page.mouse.up()


def open_report(
    page: Any, server: Server, report: dict[str, Any], query: str = ""
) -> None:
    page.goto(f"{server.url}/acme/-/reports/{report['id']}{query}")
    page.wait_for_selector("#report[data-ready=true]", timeout=TIMEOUT)


def test_card_editor_builds_a_report(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/by-region")
    push_regions(owner_api, "acme", "sales/by-product")
    push_regions(owner_api, "acme", "hr/headcount")
    report = report_create(owner_api, title="Draft")
    page = signed_in(member)
    open_report(page, asgi_server, report, "?edit=1")

    # Search the picker and add two stacks.
    page.fill("#picker-search", "sales")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=picker-result]').length === 2",
        timeout=TIMEOUT,
    )
    assert "hr/headcount" not in page.inner_text("#picker-results")
    page.click("#picker-results button[data-stack='sales/by-region']")
    page.wait_for_selector("#report[data-cards='1']", timeout=TIMEOUT)
    page.click("#picker-results button[data-stack='sales/by-product']")
    page.wait_for_selector("#report[data-cards='2']", timeout=TIMEOUT)

    # Give the first card a title and half the row.
    first = page.locator("[data-card-id]").nth(0)
    first.locator("input[type=text]").fill("Regions")
    first.locator("select[aria-label=Width]").select_option("half")
    first.locator("button.card-save").click()
    page.wait_for_selector("[data-card-id].width-half", timeout=TIMEOUT)
    assert (
        page.locator("[data-card-id]").nth(0).locator(".card-title").inner_text()
        == "Regions"
    )

    # Drag the second card above the first.
    ids = [
        int(value)
        for value in page.eval_on_selector_all(
            "[data-card-id]", "nodes => nodes.map(node => node.dataset.cardId)"
        )
    ]
    drag(
        page,
        page.locator("[data-card-id]").nth(1),
        page.locator("[data-card-id]").nth(0),
    )
    page.wait_for_selector(f"#report[data-order='{ids[1]},{ids[0]}']", timeout=TIMEOUT)
    assert list(
        Card.objects.filter(report_id=report["id"])
        .order_by("position")
        .values_list("pk", flat=True)
    ) == [ids[1], ids[0]]

    # Rename the report, with math in its description.
    page.fill("#report-title-input", "Sales in 2021")
    page.fill("#report-description-input", "Growth: $g = \\frac{a}{b}$")
    page.click("#report-save")
    page.wait_for_function(
        "document.getElementById('report-title').textContent === 'Sales in 2021'",
        timeout=TIMEOUT,
    )
    page.wait_for_selector("#report-description .katex", timeout=TIMEOUT)
    saved = Report.objects.get(pk=report["id"])
    assert (saved.title, saved.description) == (
        "Sales in 2021",
        "Growth: $g = \\frac{a}{b}$",
    )

    # Remove the card of sales/by-product.
    page.locator(f"[data-card-id='{ids[1]}'] button.card-remove").click()
    page.wait_for_selector("#report[data-cards='1']", timeout=TIMEOUT)
    card = Card.objects.get(report_id=report["id"])
    assert (card.pk, card.title, card.width, card.position) == (
        ids[0],
        "Regions",
        "half",
        0,
    )


def test_card_editor_shows_a_bad_revision(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/by-region")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/by-region")
    page = signed_in(member)
    open_report(page, asgi_server, report, "?edit=1")

    card = page.locator("[data-card-id]").nth(0)
    card.locator("select[aria-label=Revision]").select_option("pin")
    card.locator("input[aria-label='Revision number']").fill("9")
    card.locator("button.card-save").click()

    error = card.locator(".field-error")
    error.wait_for(state="visible", timeout=TIMEOUT)
    assert "revision 9 of stack sales/by-region does not exist" in error.inner_text()


def shared_report(owner_api: APIClient) -> dict[str, Any]:
    push_regions(owner_api, "acme", "sales/a", access="internal")
    push_regions(owner_api, "acme", "sales/b", access="internal")
    push(
        owner_api,
        "acme",
        "notes",
        Obj(b"# Notes", {}, "text/markdown", inline=True),
        access="internal",
    )
    report = report_create(owner_api, access="internal")
    card_add(owner_api, report, "sales/a")
    card_add(owner_api, report, "sales/b")
    card_add(owner_api, report, "notes")
    return report


def test_a_shared_control_moves_every_card_with_its_param(
    asgi_server: Server,
    signed_in: Any,
    owner_api: APIClient,
    outsider: User,
    acme: Team,
) -> None:
    report = shared_report(owner_api)
    page = signed_in(outsider)
    open_report(page, asgi_server, report)
    wait_for_card_title(page, 0, "sales/a EU 2020")
    wait_for_card_title(page, 1, "sales/b EU 2020")
    # One control per param that both cards use; none per card.
    assert page.locator("#shared-controls [data-key]").count() == 2
    assert page.locator(".card-controls").count() == 0

    page.select_option("#shared-controls select[data-param=region]", label="US")
    wait_for_card_title(page, 0, "sales/a US 2020")
    wait_for_card_title(page, 1, "sales/b US 2020")
    slider = page.locator("#shared-controls input[data-param=year]")
    slider.focus()
    slider.press("ArrowRight")
    wait_for_card_title(page, 0, "sales/a US 2021")
    wait_for_card_title(page, 1, "sales/b US 2021")
    assert "region=US" in page.url
    assert "year=2021" in page.url
    # The Markdown card has no params and ignores the controls.
    notes = page.locator("[data-card-id]").nth(2)
    notes.scroll_into_view_if_needed()
    assert notes.locator(".output .prose h1").inner_text() == "Notes"

    # The link reproduces the view.
    other = signed_in(outsider)
    other.goto(page.url)
    wait_for_card_title(other, 0, "sales/a US 2021")
    wait_for_card_title(other, 1, "sales/b US 2021")
    assert other.input_value("#shared-controls select[data-param=region]") == "1"


def test_a_param_of_one_card_gets_its_own_control(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/a")
    push(
        owner_api,
        "acme",
        "sales/c",
        *[
            Obj(
                json.dumps(
                    {"data": [], "layout": {"title": {"text": f"c {metric}"}}}
                ).encode(),
                {"metric": metric},
                "application/json",
                application="plotly",
                inline=True,
            )
            for metric in ("revenue", "units")
        ],
    )
    report = report_create(owner_api)
    view = card_add(owner_api, report, "sales/a")
    view = card_add(owner_api, report, "sales/c")
    second = view["cards"][1]["id"]
    page = signed_in(member)
    open_report(page, asgi_server, report)
    wait_for_card_title(page, 1, "c revenue")

    page.select_option(
        f"[data-card-id='{second}'] select[data-param=metric]", label="units"
    )

    wait_for_card_title(page, 1, "c units")
    assert f"c{second}.metric=units" in page.url
    assert card_title(page, 0) == "sales/a EU 2020"
    assert page.locator("#shared-controls").is_hidden()


def test_an_unreadable_card_is_unavailable(
    asgi_server: Server,
    signed_in: Any,
    owner_api: APIClient,
    outsider: User,
    acme: Team,
) -> None:
    push_regions(owner_api, "acme", "secret/figures")
    push_regions(owner_api, "acme", "open/figures", access="public")
    report = report_create(owner_api, access="public")
    card_add(owner_api, report, "secret/figures", title="Secret")
    card_add(owner_api, report, "open/figures")
    page = signed_in(outsider)
    open_report(page, asgi_server, report)

    unavailable = page.locator("[data-card-id]").nth(0)
    assert "unavailable" in unavailable.get_attribute("class")
    assert "you cannot read its stack" in unavailable.inner_text()
    assert unavailable.locator(".output").count() == 0
    wait_for_card_title(page, 1, "open/figures EU 2020")
    assert "secret/figures" not in page.content()


def test_cards_load_their_attachments_as_they_scroll_into_view(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    for _ in range(20):
        view = card_add(owner_api, report, "sales/a", width="full")
    last = view["cards"][-1]["id"]
    page = signed_in(member)
    downloads: list[str] = []
    page.on(
        "request",
        lambda request: (
            downloads.append(request.url) if "/download" in request.url else None
        ),
    )

    open_report(page, asgi_server, report)
    wait_for_card_title(page, 0, "sales/a EU 2020")
    loaded_first = len(downloads)
    last_output = page.locator(f"[data-card-id='{last}'] .output")
    assert last_output.get_attribute("data-rendered") is None

    last_output.scroll_into_view_if_needed()
    wait_for_card_title(page, 19, "sales/a EU 2020")

    assert 1 <= loaded_first < 20
    assert len(downloads) > loaded_first


def test_a_push_updates_the_open_page_and_says_what_changed(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/a")
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")
    page = signed_in(member)
    open_report(page, asgi_server, report)
    page.wait_for_selector("body[data-live=open]", timeout=TIMEOUT)
    wait_for_card_title(page, 0, "sales/a EU 2020")

    push(
        owner_api,
        "acme",
        "sales/a",
        Obj(
            json.dumps(
                {"data": [], "layout": {"title": {"text": "new EU 2020"}}}
            ).encode(),
            {"region": "EU", "year": 2020},
            "application/json",
            application="plotly",
            inline=True,
        ),
        message="fix EU",
    )

    wait_for_card_title(page, 0, "new EU 2020")
    banner = page.locator("#live-banner")
    assert "sales/a has revision 2 (was 1) by alice: “fix EU”" in banner.inner_text()
    assert "1 attachment changed, 3 attachments removed" in banner.inner_text()
    assert "revision 2" in page.locator("[data-card-id] .card-meta").inner_text()
    assert "Updated:" in page.locator("[data-card-id] .card-news").inner_text()


def test_the_export_opens_offline_with_interactive_charts(
    asgi_server: Server,
    signed_in: Any,
    owner_api: APIClient,
    member: User,
    acme: Team,
    tmp_path: Path,
) -> None:
    report = shared_report(owner_api)
    page = signed_in(member)
    with page.expect_download() as download:
        page.goto(f"{asgi_server.url}/acme/-/reports/{report['id']}")
        page.click("#export-link")
    target = tmp_path / "report.html"
    download.value.save_as(target)

    context = page.context.browser.new_context()
    context.set_offline(True)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    offline = context.new_page()
    offline.goto(target.as_uri())
    offline.wait_for_selector("#report[data-ready=true]", timeout=TIMEOUT)
    wait_for_card_title(offline, 0, "sales/a EU 2020")
    offline.select_option("#shared-controls select[data-param=region]", label="US")
    wait_for_card_title(offline, 0, "sales/a US 2020")
    wait_for_card_title(offline, 1, "sales/b US 2020")
    # The chart is live Plotly, with its hover and zoom.
    assert offline.locator("[data-card-id] .plot .main-svg").count() >= 2
    notes = offline.locator("[data-card-id]").nth(2)
    notes.scroll_into_view_if_needed()
    assert notes.locator(".output .prose h1").inner_text() == "Notes"
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    context.close()


def tabbed(path: str) -> list[Obj]:
    """Plotly figures with a tab param and a boolean, titled "<path> <tab> <log>"."""
    objects = []
    for tab in ("Overview", "Detail"):
        for log in (False, True):
            title = f"{path} {tab} {log}"
            objects.append(
                Obj(
                    json.dumps(
                        {"data": [], "layout": {"title": {"text": title}}}
                    ).encode(),
                    {"view": {"type": "tab", "title": tab}, "log": log},
                    "application/json",
                    application="plotly",
                    inline=True,
                )
            )
    return objects


def test_shared_tabs_and_checkbox_move_both_cards(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push(owner_api, "acme", "tabs/a", *tabbed("a"))
    push(owner_api, "acme", "tabs/b", *tabbed("b"))
    report = report_create(owner_api)
    card_add(owner_api, report, "tabs/a", width="half")
    card_add(owner_api, report, "tabs/b", width="half")
    page = signed_in(member)
    open_report(page, asgi_server, report)
    wait_for_card_title(page, 0, "a Overview False")

    page.click("#shared-controls [data-control=tabs] button:has-text('Detail')")
    wait_for_card_title(page, 0, "a Detail False")
    wait_for_card_title(page, 1, "b Detail False")
    page.check("#shared-controls input[data-param=log]")
    wait_for_card_title(page, 0, "a Detail True")
    wait_for_card_title(page, 1, "b Detail True")

    assert "view=Detail" in page.url
    assert "log=true" in page.url


def test_shared_slider_keeps_its_value_when_a_revision_inserts_one(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/a", years=(1952, 2007))
    push_regions(owner_api, "acme", "sales/b", years=(1952, 2007))
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")
    card_add(owner_api, report, "sales/b")
    page = signed_in(member)
    open_report(page, asgi_server, report, "?year=2007")
    page.wait_for_selector("body[data-live=open]", timeout=TIMEOUT)
    wait_for_card_title(page, 1, "sales/b EU 2007")

    # The new revision puts 2002 between the two years the slider had.
    push_regions(owner_api, "acme", "sales/a", years=(1952, 2002, 2007))

    page.locator("#live-banner").wait_for(state="visible", timeout=TIMEOUT)
    page.wait_for_function(
        "() => document.querySelector('#shared-controls input[data-param=year]')"
        ".max === '2'",
        timeout=TIMEOUT,
    )
    slider = page.locator("#shared-controls input[data-param=year]")
    assert slider.input_value() == "2"
    assert page.locator("#shared-controls output").inner_text() == "2007"
    wait_for_card_title(page, 0, "sales/a EU 2007")
    wait_for_card_title(page, 1, "sales/b EU 2007")
    assert "year=2007" in page.url


def test_card_shows_the_nearest_number_its_stack_has(
    asgi_server: Server, signed_in: Any, owner_api: APIClient, member: User, acme: Team
) -> None:
    push_regions(owner_api, "acme", "sales/a", years=(1952, 2002, 2007))
    push_regions(owner_api, "acme", "sales/b", years=(1952, 2007))
    report = report_create(owner_api)
    card_add(owner_api, report, "sales/a")
    card_add(owner_api, report, "sales/b")
    page = signed_in(member)
    open_report(page, asgi_server, report, "?year=2002")

    wait_for_card_title(page, 0, "sales/a EU 2002")
    # sales/b has no 2002: 2007 is nearer than 1952.
    wait_for_card_title(page, 1, "sales/b EU 2007")
    note = page.locator("[data-card-id]").nth(1).locator(".card-note")
    assert note.inner_text() == "No attachment has year 2002; showing year 2007."
