"""The OpenAPI schema generator of the API, on drf-spectacular.

The API's views are plain `APIView`s, one class per route, so the stock
generator guesses badly in two places: it names the list and the detail
read of a collection alike ("retrieve"), and it warns for every view with no
serializer to inspect. Both warnings fail `manage.py check --deploy`, which
runs the generator.
"""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from rest_framework.generics import GenericAPIView

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


class AutoSchema(openapi.AutoSchema):
    def get_operation_id(self) -> str:
        """Name the operation after its view class and method: `stack_list_get`.

        A view class serves one route, so the pair is unique; the path-based
        default gives `/teams` and `/teams/{team}` the same name.
        """
        name = _CAMEL_BOUNDARY.sub("_", type(self.view).__name__).lower()
        return f"{name.removesuffix('_view')}_{self.method.lower()}"

    def _get_serializer(self) -> Any:
        # A view without serializers takes and returns plain JSON objects;
        # `extend_schema` on the view says more where it matters.
        view = self.view
        if isinstance(view, GenericAPIView) or hasattr(view, "serializer_class"):
            return super()._get_serializer()
        return OpenApiTypes.OBJECT


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    """API tokens (`dst_...`) sent as `Authorization: Bearer TOKEN`."""

    target_class = "apps.users.authentication.TokenAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "dst_..."}
