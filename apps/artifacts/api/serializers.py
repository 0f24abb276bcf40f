"""The JSON of artifact responses that several apps' endpoints share."""

from __future__ import annotations

from typing import TypedDict

from apps.artifacts.services import Recheck


class RecheckData(TypedDict):
    state: str
    rechecked: bool
    rechecked_at: str | None


def recheck_data(recheck: Recheck) -> RecheckData:
    return {
        "state": recheck.state,
        "rechecked": recheck.rechecked,
        "rechecked_at": (
            recheck.rechecked_at.isoformat() if recheck.rechecked_at else None
        ),
    }
