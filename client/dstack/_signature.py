"""Model signatures: input columns and types, and the output's shape.

`signature_of(model, flavor, example)` describes the example input and runs
the model on it once to describe the output. A model that fails on its own
example still gets its input described, with a warning.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

from ._flavors import is_instance, resolve

logger = logging.getLogger("dstack")


def describe(value: Any) -> dict[str, Any]:
    """Describe a DataFrame by its columns, anything array-like as a tensor."""
    if is_instance(value, "pandas.core.frame.DataFrame"):
        return {
            "type": "dataframe",
            "columns": [
                {"name": str(name), "type": str(dtype)}
                for name, dtype in value.dtypes.items()
            ],
            "rows": len(value),
        }
    if is_instance(value, "pandas.core.series.Series"):
        return {"type": "series", "name": str(value.name), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {
            "type": "dict",
            "fields": [
                {"name": str(name), **describe(item)} for name, item in value.items()
            ],
        }
    if isinstance(value, (list, tuple)) and value and not _is_number_list(value):
        return {"type": "tuple", "items": [describe(item) for item in value]}
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None:
        import numpy

        array = numpy.asarray(value)
        shape, dtype = array.shape, array.dtype
    dimensions = [int(size) for size in shape]
    if dimensions:
        # The first dimension is the batch, which any number of rows may fill.
        dimensions[0] = -1
    return {
        "type": "tensor",
        "dtype": str(dtype).replace("torch.", ""),
        "shape": dimensions,
    }


def _is_number_list(value: Any) -> bool:
    return all(isinstance(item, (int, float, list)) for item in value)


def _predict(model: Any, flavor: str, example: Any) -> Any:
    if flavor == "pytorch":
        import torch

        tensor = (
            example if isinstance(example, torch.Tensor) else torch.as_tensor(example)
        )
        with torch.no_grad():
            was_training = model.training
            model.eval()
            try:
                return model(tensor)
            finally:
                model.train(was_training)
    if flavor == "keras":
        return model.predict(example, verbose=0)
    if flavor == "xgboost" and is_instance(model, "xgboost.core.Booster"):
        import xgboost

        return model.predict(xgboost.DMatrix(example))
    return model.predict(example)


def _onnx_signature(model: Any) -> dict[str, Any]:
    import onnx

    def value_info(item: Any) -> dict[str, Any]:
        tensor = item.type.tensor_type
        dims = [
            int(dim.dim_value) if dim.HasField("dim_value") else -1
            for dim in tensor.shape.dim
        ]
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        return {"name": item.name, "type": "tensor", "dtype": str(dtype), "shape": dims}

    initializers = {item.name for item in model.graph.initializer}
    return {
        "inputs": {
            "type": "dict",
            "fields": [
                value_info(item)
                for item in model.graph.input
                if item.name not in initializers
            ],
        },
        "outputs": {
            "type": "dict",
            "fields": [value_info(item) for item in model.graph.output],
        },
    }


def signature_of(model: Any, flavor: str, example: Any) -> dict[str, Any] | None:
    """Return the signature for `example`, or the graph's own for ONNX."""
    if flavor == "onnx":
        return _onnx_signature(model)
    if example is None or flavor == "files":
        return None

    signature: dict[str, Any] = {"inputs": describe(example), "outputs": None}
    try:
        output = _predict(model, flavor, example)
    except Exception as exc:  # noqa: BLE001 - a user model may raise anything
        warnings.warn(
            f"the model failed on its input_example, so the signature has no "
            f"outputs: {type(exc).__name__}: {exc}",
            UserWarning,
            stacklevel=4,
        )
        return signature
    if resolve("torch.Tensor") is not None and isinstance(
        output, resolve("torch.Tensor")
    ):  # type: ignore[arg-type]
        output = output.detach().cpu().numpy()
    signature["outputs"] = describe(output)
    return signature
