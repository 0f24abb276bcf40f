"""ONNX graphs and Keras 3 models, each in its library's one-file format."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from . import Saved, is_instance, versions_of

ONNX_FILE = "model.onnx"
KERAS_FILE = "model.keras"


class OnnxFlavor:
    """`onnx.ModelProto`, pulled back as a `ModelProto` for onnxruntime."""

    name = "onnx"

    def matches(self, obj: Any) -> bool:
        return is_instance(obj, "onnx.ModelProto", "onnx.onnx_ml_pb2.ModelProto")

    def libraries(self, obj: Any) -> dict[str, str]:
        return versions_of("onnx")

    def save(self, obj: Any, directory: Path) -> Saved:
        import onnx

        onnx.save_model(obj, str(directory / ONNX_FILE))
        return Saved(loader={"file": ONNX_FILE, "opset": _opset(obj)})

    def load(self, directory: Path, loader: dict[str, Any]) -> Any:
        import onnx

        return onnx.load(str(directory / loader.get("file", ONNX_FILE)))


def _opset(model: Any) -> int | None:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


class KerasFlavor:
    """Keras 3 models in the `.keras` format, on the backend they were saved with.

    The backend is chosen by `KERAS_BACKEND` before Keras is imported; a
    pull on another backend warns through the library version check.
    """

    name = "keras"

    def matches(self, obj: Any) -> bool:
        return is_instance(obj, "keras.Model", "keras.src.models.model.Model")

    def libraries(self, obj: Any) -> dict[str, str]:
        import keras

        backend = keras.backend.backend()
        found = versions_of("keras")
        module = {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}.get(
            backend
        )
        if module is not None:
            found.update(versions_of(module))
        return found

    def save(self, obj: Any, directory: Path) -> Saved:
        import keras

        obj.save(str(directory / KERAS_FILE))
        return Saved(loader={"file": KERAS_FILE, "backend": keras.backend.backend()})

    def load(self, directory: Path, loader: dict[str, Any]) -> Any:
        if "keras" not in sys.modules and loader.get("backend"):
            # Keras reads its backend once, on import: without a choice of
            # the user's, take the one the model was saved with.
            os.environ.setdefault("KERAS_BACKEND", str(loader["backend"]))
        import keras

        return keras.saving.load_model(str(directory / loader.get("file", KERAS_FILE)))
