"""Flavors save a model object as files and load the files back into the object.

Each flavor knows one library's models: how to tell them apart without
importing the library (an object of a library can only exist once it is
imported), which library versions to record, and how to save and load.
The registry (`dstack.models`) pushes a flavor's files as a version; the
stack encoders push a one-file flavor as an attachment.

    flavor = find_flavor(model)
    saved = flavor.save(model, directory)   # the files' `loader` settings
    model = flavor.load(directory, saved.loader)
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .._exceptions import EncodingError


@dataclass
class Saved:
    """What a flavor wrote: settings for its loader and precomputed digests.

    `digests` maps file paths, relative to the directory, to a sha256 that
    was computed while the file was written, so that large files are not
    read again to hash them.
    """

    loader: dict[str, Any]
    digests: dict[str, str] = field(default_factory=dict)


class Flavor(Protocol):
    name: str

    def matches(self, obj: Any) -> bool: ...

    def libraries(self, obj: Any) -> dict[str, str]:
        """Return the modules the saved files need, with their versions."""
        ...

    def save(self, obj: Any, directory: Path) -> Saved: ...

    def load(self, directory: Path, loader: dict[str, Any]) -> Any: ...


# The module to import for each recorded library, and the distribution to
# name in an install hint, where they differ from the library's own name.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu"}


def resolve(dotted: str) -> type | None:
    """Return the class named `dotted` if its module is imported, else None."""
    module_name, _, attribute = dotted.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        return None
    found = getattr(module, attribute, None)
    return found if isinstance(found, type) else None


def is_instance(obj: Any, *dotted: str) -> bool:
    for name in dotted:
        cls = resolve(name)
        if cls is not None and isinstance(obj, cls):
            return True
    return False


def module_version(module: str) -> str | None:
    """Return the `__version__` of `module` if it can be imported."""
    loaded = sys.modules.get(module)
    if loaded is None:
        try:
            loaded = importlib.import_module(module)
        except ImportError:
            return None
    version = getattr(loaded, "__version__", None)
    return str(version) if version is not None else None


def versions_of(*modules: str) -> dict[str, str]:
    found = {}
    for module in modules:
        version = module_version(module)
        if version is not None:
            found[module] = version
    return found


def qualified_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def import_class(dotted: str) -> Any:
    module_name, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


_flavors: list[Flavor] = []


def register_flavor(flavor: Flavor) -> None:
    """Try `flavor` before the ones registered earlier."""
    _flavors.insert(0, flavor)


def find_flavor(obj: Any, name: str | None = None) -> Flavor:
    """Return the flavor named `name`, or the first that matches `obj`."""
    if name is not None:
        return flavor_named(name)
    for flavor in _flavors:
        if flavor.matches(obj):
            return flavor
    raise EncodingError(
        f"no model flavor for objects of type {qualified_name(obj)}: push a "
        "scikit-learn, PyTorch, ONNX, XGBoost, LightGBM or Keras model, or a "
        "pathlib.Path of a file or folder"
    )


def flavor_named(name: str) -> Flavor:
    for flavor in _flavors:
        if flavor.name == name:
            return flavor
    known = ", ".join(sorted(flavor.name for flavor in _flavors))
    raise EncodingError(f"unknown model flavor {name!r}: this client knows {known}")


from . import _builtin

_builtin.register_all()
