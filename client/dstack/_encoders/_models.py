"""Models as plain stack attachments: `dstack.push("churn/model", model)`.

The attachment is the one file the model's flavor writes, with the flavor,
its loader settings and the library versions in the attachment's
settings. It lives in the stack, outside the registry; `dstack.models`
pushes registry versions.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from .._exceptions import EncodingError
from .._flavors import find_flavor, flavor_named
from . import Attachment, Encoded

OCTET_STREAM = "application/octet-stream"
# The application of each flavor's attachments.
APPLICATIONS = ("sklearn", "pytorch", "onnx", "xgboost", "lightgbm", "keras")
# The classes the stack encoders take, as dotted names.
MODEL_CLASSES = (
    "sklearn.base.BaseEstimator",
    "onnx.ModelProto",
    "torch.nn.modules.module.Module",
    "keras.Model",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMModel",
    "xgboost.core.Booster",
    "xgboost.sklearn.XGBModel",
)


def encode_model(obj: Any) -> Encoded:
    """Save `obj` with its flavor into a temporary file and describe it."""
    from .._registry import platform_libraries

    flavor = find_flavor(obj)
    folder = Path(tempfile.mkdtemp(prefix="dstack-model-"))
    try:
        saved = flavor.save(obj, folder)
        files = [path for path in folder.rglob("*") if path.is_file()]
        if len(files) != 1:
            raise EncodingError(
                f"the {flavor.name} flavor wrote {len(files)} files, and a stack "
                "attachment holds one: push it with dstack.models.push instead"
            )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    encoded = Encoded(
        files[0],
        OCTET_STREAM,
        flavor.name,
        settings={
            "flavor": flavor.name,
            "loader": saved.loader,
            "libraries": platform_libraries(flavor, obj),
        },
        filename=files[0].name,
    )
    # The file is read when the frame is pushed; it goes with the encoding.
    weakref.finalize(encoded, shutil.rmtree, folder, True)
    return encoded


def decode_model(attachment: Attachment) -> Any:
    """Load a model attachment with the flavor it was pushed with."""
    from .._registry import check_libraries, load_with

    settings = attachment.settings
    flavor = flavor_named(str(settings.get("flavor") or attachment.application))
    libraries = settings.get("libraries") or {}
    check_libraries(libraries, f"the {flavor.name} model")
    loader = settings.get("loader") or {}
    filename = str(loader.get("file") or attachment.filename or "model")
    with tempfile.TemporaryDirectory(prefix="dstack-model-") as folder:
        target = Path(folder) / filename
        try:
            os.link(attachment.path, target)
        except OSError:
            shutil.copyfile(attachment.path, target)
        return load_with(
            flavor, Path(folder), loader, libraries, f"the {flavor.name} model"
        )
