"""The request being served, for audit events recorded deep inside services.

Services such as `token_create` do not take the request, yet their audit
events need its address and user agent. `AuditRequestMiddleware` keeps the
current request in a context variable, which asgiref carries into the
threads that serve synchronous views.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse

current_request: ContextVar[Any | None] = ContextVar("audit_request", default=None)


class AuditRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        marker = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(marker)
