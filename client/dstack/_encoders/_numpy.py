"""numpy arrays as `.npy` files, loaded without pickle."""

from __future__ import annotations

import io
from typing import Any

from .._exceptions import EncodingError
from . import Attachment, Encoded

NPY = "application/x-npy"


def encode_ndarray(array: Any) -> Encoded:
    import numpy as np

    buffer = io.BytesIO()
    try:
        np.save(buffer, array, allow_pickle=False)
    except ValueError as exc:
        raise EncodingError(
            f"cannot push a numpy array of dtype {array.dtype}: object arrays need "
            "pickle, which dstack does not use. Convert it to a numeric or string "
            "dtype."
        ) from exc
    settings: dict[str, Any] = {
        "numpy_version": np.__version__,
        "dtype": str(array.dtype),
    }
    settings["shape"] = list(array.shape)
    return Encoded(buffer.getvalue(), NPY, "numpy", settings, filename=None)


def decode_ndarray(attachment: Attachment) -> Any:
    import numpy as np

    return np.load(attachment.path, allow_pickle=False)
