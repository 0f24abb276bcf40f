"""A static files finder for the JavaScript bundles of installed packages.

plotly.js ships inside the `plotly` package and BokehJS inside `bokeh`. The
pages load them from our own server under `static/vendor/`, so a server with
no internet access renders charts, and the bundle matches the library the
server has installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.staticfiles.finders import BaseFinder
from django.core.files.storage import FileSystemStorage

# URL name under static/ -> (package, file inside the package)
VENDOR_FILES = {
    "vendor/plotly.min.js": ("plotly", "package_data/plotly.min.js"),
    "vendor/bokeh.min.js": ("bokeh", "server/static/js/bokeh.min.js"),
    "vendor/bokeh-widgets.min.js": ("bokeh", "server/static/js/bokeh-widgets.min.js"),
    "vendor/bokeh-tables.min.js": ("bokeh", "server/static/js/bokeh-tables.min.js"),
    "vendor/bokeh-gl.min.js": ("bokeh", "server/static/js/bokeh-gl.min.js"),
}


def _package_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.is_file() else None


class VendorFinder(BaseFinder):
    def check(self, **kwargs: Any) -> list[Any]:
        return []

    def find(self, path: str, find_all: bool = False, **kwargs: Any) -> Any:
        if path not in VENDOR_FILES:
            return [] if find_all else None
        found = _package_file(*VENDOR_FILES[path])
        if found is None:
            return [] if find_all else None
        return [str(found)] if find_all else str(found)

    def list(self, ignore_patterns: Any) -> Iterator[tuple[str, FileSystemStorage]]:
        for name, (package, relative) in VENDOR_FILES.items():
            found = _package_file(package, relative)
            if found is None:
                continue
            # collectstatic copies `path` from `storage` to the same name under
            # STATIC_ROOT, so the storage is rooted where the name resolves.
            root = Path(str(found)[: -len(name)]) if str(found).endswith(name) else None
            if root is None:
                storage = FileSystemStorage(location=str(found.parent))
                storage.prefix = "vendor"  # type: ignore[attr-defined]
                yield found.name, storage
            else:
                yield name, FileSystemStorage(location=str(root))
