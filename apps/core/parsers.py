"""A JSON parser that turns every malformed body into a 400.

DRF's parser lets two kinds of input through as server errors: nesting deep
enough to exhaust Python's recursion limit, and `\\ud800`-style escapes that
decode to lone surrogates, which no database can store as UTF-8.
"""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class StrictJSONParser(JSONParser):
    def parse(
        self, stream: Any, media_type: Any = None, parser_context: Any = None
    ) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(
                "JSON parse error: the body is nested too deeply"
            ) from None
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except RecursionError:
            raise ParseError(
                "JSON parse error: the body is nested too deeply"
            ) from None
        except UnicodeEncodeError:
            raise ParseError(
                "JSON parse error: the body contains a lone surrogate escape, "
                "which is not valid Unicode"
            ) from None
        return data
