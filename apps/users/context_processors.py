from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def accounts(request: HttpRequest) -> dict[str, str]:
    """Add `signup_mode` (open, invite or closed) for the sign-in links."""
    return {"signup_mode": settings.DSTACK_SIGNUP}
