"""The storage `collectstatic` writes production's static files with."""

from __future__ import annotations

from typing import Any

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Hashed, compressed static files, tolerant of missing font fallbacks.

    Vendored stylesheets name font formats that are not shipped: KaTeX's CSS
    lists woff2, woff and ttf for each font, and only the woff2 files are
    vendored, which every supported browser loads first. Django's manifest
    storage fails `collectstatic` on such a reference; this one leaves the
    reference unhashed instead, as it would 404 in any case.
    """

    def hashed_name(
        self, name: str, content: Any = None, filename: str | None = None
    ) -> str:
        try:
            return str(super().hashed_name(name, content, filename))
        except ValueError:
            if content is not None or self.exists(filename or name):
                raise
            return name
