"""Helpers of the report tests: stacks pushed through the API and reports built on them."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.test import APIClient

from tests.pushing import Obj, push

PLOTLY = "application/json"


def figure(title: str) -> bytes:
    return json.dumps(
        {
            "data": [{"type": "bar", "x": [1, 2], "y": [3, 4]}],
            "layout": {"title": {"text": title}},
        }
    ).encode()


def push_regions(
    client: APIClient,
    team: str,
    path: str,
    years: tuple[int, ...] = (2020, 2021),
    **options: Any,
) -> int:
    """Push a stack of Plotly figures with params region and year; return its number."""
    objects = [
        Obj(
            figure(f"{path} {region} {year}"),
            {"region": region, "year": year},
            PLOTLY,
            application="plotly",
            inline=True,
        )
        for region in ("EU", "US")
        for year in years
    ]
    return push(client, team, path, *objects, **options).number


def reports_url(team: str, suffix: str = "") -> str:
    return f"/api/teams/{team}/reports{suffix}"


def report_create(
    client: APIClient, team: str = "acme", title: str = "Sales", **body: Any
) -> dict[str, Any]:
    response = client.post(reports_url(team), {"title": title, **body}, format="json")
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]


def card_add(
    client: APIClient, report: dict[str, Any], stack: str, **body: Any
) -> dict[str, Any]:
    response = client.post(
        reports_url(report["team"], f"/{report['id']}/cards"),
        {"stack": stack, **body},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()  # type: ignore[no-any-return]
