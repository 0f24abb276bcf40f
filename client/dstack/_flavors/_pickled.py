"""Pickled models: scikit-learn estimators and pipelines, and any LightGBM
model of the scikit-learn API.

cloudpickle pickles functions and classes defined in a notebook (in
`__main__`) by value, so a pipeline with a `FunctionTransformer` of a
notebook function loads in another process. Everything importable is still
pickled by reference, as `pickle` does. The file is hashed while it is
written, so a large model is not read again to hash it.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import IO, Any

from . import Saved, is_instance, qualified_name, versions_of

FILENAME = "model.pkl"


class HashingWriter:
    """A binary file that updates a sha256 with every write."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.digest = hashlib.sha256()

    def write(self, data: Any) -> int:
        self.digest.update(data)
        return self.file.write(data)


def dump(obj: Any, path: Path) -> str:
    """Pickle `obj` into `path` with cloudpickle; return the file's sha256."""
    import cloudpickle

    with path.open("wb") as file:
        writer = HashingWriter(file)
        cloudpickle.dump(obj, writer, protocol=pickle.HIGHEST_PROTOCOL)
    return writer.digest.hexdigest()


def load(path: Path) -> Any:
    # Functions pickled by value need cloudpickle's helpers at load time.
    import cloudpickle  # noqa: F401

    with path.open("rb") as file:
        return pickle.load(file)


class SklearnFlavor:
    name = "sklearn"

    def matches(self, obj: Any) -> bool:
        return is_instance(obj, "sklearn.base.BaseEstimator")

    def libraries(self, obj: Any) -> dict[str, str]:
        return versions_of("sklearn", "numpy", "scipy", "cloudpickle")

    def save(self, obj: Any, directory: Path) -> Saved:
        digest = dump(obj, directory / FILENAME)
        loader = {
            "file": FILENAME,
            "format": "cloudpickle",
            "class": qualified_name(obj),
        }
        return Saved(loader=loader, digests={FILENAME: digest})

    def load(self, directory: Path, loader: dict[str, Any]) -> Any:
        return load(directory / loader.get("file", FILENAME))
