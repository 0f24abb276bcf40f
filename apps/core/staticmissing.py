"""A missing static file is 404, not a sign-in redirect.

WhiteNoise, just before this middleware, serves every file that exists
under STATIC_URL. A request it passes on names a file that does not, and
would otherwise reach the stack pages' `<team>/<path>` pattern, which sends
a signed-out browser to the sign-in page.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseNotFound
from django.utils.deprecation import MiddlewareMixin


class MissingStaticMiddleware(MiddlewareMixin):
    """Answer 404 for any path under STATIC_URL that WhiteNoise did not serve."""

    def process_request(self, request: HttpRequest) -> HttpResponseNotFound | None:
        if request.path_info.startswith(settings.STATIC_URL):
            return HttpResponseNotFound(
                b"No such static file.\n", content_type="text/plain"
            )
        return None
