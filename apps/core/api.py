"""Pieces every API view uses: the actor, pagination, and the base view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.core.errors import (
    DstackError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    error_response,
)
from apps.users.actors import Actor

MAX_PAGE_SIZE = 500


def actor_of(request: Request) -> Actor:
    actor = getattr(request, "_dstack_actor", None)
    if actor is None:
        actor = Actor.from_request(request)
        request._dstack_actor = actor  # type: ignore[attr-defined]
    return actor


def positive_int(
    value: str | None, *, field: str, default: int, maximum: int | None = None
) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a positive integer", field=field) from None
    if number < 1 or (maximum is not None and number > maximum):
        bound = f" up to {maximum}" if maximum else ""
        raise InvalidInput(f"{field} must be a positive integer{bound}", field=field)
    return number


def paginate(
    request: Request,
    queryset: QuerySet[Any],
    render: Callable[[Any], dict[str, Any]],
    *,
    default_size: int = 50,
) -> dict[str, Any]:
    page = positive_int(request.query_params.get("page"), field="page", default=1)
    size = positive_int(
        request.query_params.get("page_size"),
        field="page_size",
        default=default_size,
        maximum=MAX_PAGE_SIZE,
    )
    count = queryset.count()
    start = (page - 1) * size
    items = list(queryset[start : start + size]) if start < count else []
    base = request.build_absolute_uri(request.path)
    return {
        "count": count,
        "next": f"{base}?page={page + 1}&page_size={size}"
        if start + size < count
        else None,
        "previous": f"{base}?page={page - 1}&page_size={size}" if page > 1 else None,
        "results": [render(item) for item in items],
    }


class ApiView(APIView):
    """The base of our API views.

    An anonymous caller who asks for something it cannot see, or tries to
    change something it can only read, gets 401 rather than 404 or 403:
    signing in might help, and the answer is the same whether the object
    exists or not.
    """

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # No team, model or job name contains NUL, and PostgreSQL rejects a
        # query that does, so such a URL names nothing. Stack paths are left
        # to the stacks app, which answers 400 naming the path.
        for key, value in kwargs.items():
            if key != "path" and isinstance(value, str) and "\x00" in value:
                raise NotFound("not found: the URL contains a NUL character")

    def handle_exception(self, exc: Exception) -> Any:
        anonymous = not actor_of(self.request).is_authenticated
        if isinstance(exc, (NotFound, PermissionDenied)) and anonymous:
            response = error_response(NotAuthenticated("sign in or send an API token"))
            response["WWW-Authenticate"] = 'Bearer realm="api"'
            return response
        return super().handle_exception(exc)

    def require_user(self) -> Actor:
        actor = actor_of(self.request)
        if not actor.is_authenticated:
            raise NotAuthenticated("sign in or send an API token")
        return actor


@csrf_exempt
def endpoint_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Answer an unknown /api URL in the API's error format.

    Without this, /api/... URLs that match no API route would fall through
    to the page routes, which read `api` as a team name.
    """
    return JsonResponse(NotFound("no such endpoint").as_dict(), status=404)


__all__ = ["ApiView", "DstackError", "actor_of", "paginate", "positive_int"]
