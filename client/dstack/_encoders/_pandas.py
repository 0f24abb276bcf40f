"""pandas DataFrames and Series as Parquet, with exact round trips.

pyarrow's pandas metadata already restores the index, MultiIndex, nullable
and extension dtypes, string categoricals and time zones. Parquet loses a few
things on its own, which this module records under the `dstack.pandas` key of
the schema metadata and puts back after reading:

- column labels that are not unique or not all strings, ints, floats or
  booleans (pyarrow turns them into strings), and index names that are not
  strings;
- second-resolution datetimes and timedeltas (Parquet stores milliseconds at
  the coarsest);
- categoricals whose categories are not strings (Parquet drops the dictionary
  and returns the plain values);
- the `freq` of a DatetimeIndex or TimedeltaIndex.

Columns of mixed Python objects cannot be stored in Parquet and raise
EncodingError.
"""

from __future__ import annotations

import io
import json
import warnings
from typing import Any

from .._exceptions import EncodingError
from . import Attachment, Encoded

PARQUET = "application/vnd.apache.parquet"
METADATA_KEY = b"dstack.pandas"
_NATIVE_LABEL_TYPES = {"string", "integer", "floating", "boolean"}


class _UntaggableError(Exception):
    pass


def _tag(value: Any) -> list[Any]:
    """Encode a label or category as JSON that keeps its Python type."""
    import numpy as np
    import pandas as pd

    if value is None:
        return ["none"]
    if isinstance(value, (bool, np.bool_)):
        return ["bool", bool(value)]
    if isinstance(value, (int, np.integer)):
        return ["int", int(value)]
    if isinstance(value, (float, np.floating)):
        return ["float", float(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, tuple):
        return ["tuple", [_tag(item) for item in value]]
    if isinstance(value, pd.Timestamp):
        return [
            "timestamp",
            value.value,
            value.unit,
            str(value.tz) if value.tz else None,
        ]
    if isinstance(value, pd.Timedelta):
        return ["timedelta", value.value, value.unit]
    raise _UntaggableError(type(value).__name__)


def _untag(tagged: list[Any]) -> Any:
    import pandas as pd

    kind = tagged[0]
    if kind == "none":
        return None
    if kind in ("bool", "int", "float", "str"):
        return tagged[1]
    if kind == "tuple":
        return tuple(_untag(item) for item in tagged[1])
    if kind == "timestamp":
        stamp = pd.Timestamp(tagged[1], tz="UTC" if tagged[3] else None)
        if tagged[3]:
            stamp = stamp.tz_convert(tagged[3])
        return stamp.as_unit(tagged[2])
    if kind == "timedelta":
        return pd.Timedelta(tagged[1]).as_unit(tagged[2])
    raise EncodingError(f"unknown tagged value {tagged!r} in Parquet metadata")


def _labels_roundtrip_natively(columns: Any) -> bool:
    import pandas as pd

    if not columns.is_unique:
        return False
    if isinstance(columns, pd.MultiIndex):
        return all(level.inferred_type == "string" for level in columns.levels)
    return columns.inferred_type in _NATIVE_LABEL_TYPES or len(columns) == 0


def _dtype_hint(values: Any) -> dict[str, Any] | None:
    """Describe what Parquet would lose of a column's or index level's dtype."""
    import pandas as pd

    dtype = values.dtype
    if dtype.kind in "mM" and _time_unit(dtype) == "s":
        return {"astype": str(dtype)}
    if isinstance(dtype, pd.CategoricalDtype):
        categories = dtype.categories
        if categories.inferred_type == "string":
            return None
        try:
            tagged = [_tag(value) for value in categories]
        except _UntaggableError:
            return None
        return {
            "categories": tagged,
            "categories_dtype": str(categories.dtype),
            "ordered": bool(dtype.ordered),
        }
    return None


def _time_unit(dtype: Any) -> str:
    import numpy as np

    if isinstance(dtype, np.dtype):
        return np.datetime_data(dtype)[0]
    return str(dtype.unit)


def _apply_hint(values: Any, hint: dict[str, Any] | None) -> Any:
    import pandas as pd

    if hint is None:
        return values
    if "astype" in hint:
        return values.astype(hint["astype"])
    categories = pd.Index(
        [_untag(item) for item in hint["categories"]], dtype=hint["categories_dtype"]
    )
    return values.astype(pd.CategoricalDtype(categories, ordered=hint["ordered"]))


def _prepare_frame(frame: Any) -> tuple[Any, dict[str, Any]]:
    """Return a shallow copy that pyarrow can store, and what it must restore."""
    import pandas as pd

    frame = frame.copy(deep=False)
    metadata: dict[str, Any] = {"version": 1}

    index = frame.index
    try:
        metadata["index_names"] = [_tag(name) for name in index.names]
    except _UntaggableError:
        metadata["index_names"] = None
    metadata["index_hints"] = [
        _dtype_hint(index.get_level_values(level)) for level in range(index.nlevels)
    ]
    if isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)) and index.freq:
        metadata["index_freq"] = index.freqstr
    safe_names = [
        name if name is None or isinstance(name, str) else f"__index_level_{level}__"
        for level, name in enumerate(index.names)
    ]
    frame.index = index.set_names(safe_names)

    metadata["column_hints"] = [
        _dtype_hint(frame.iloc[:, position]) for position in range(frame.shape[1])
    ]
    if not _labels_roundtrip_natively(frame.columns):
        metadata["columns"] = _describe_columns(frame.columns)
        frame.columns = _unique_strings(frame.columns)

    return frame, metadata


def _describe_columns(columns: Any) -> dict[str, Any] | None:
    import pandas as pd

    try:
        return {
            "labels": [_tag(label) for label in columns],
            "names": [_tag(name) for name in columns.names],
            "multi": isinstance(columns, pd.MultiIndex),
            "dtype": str(columns.dtype),
        }
    except _UntaggableError as exc:
        warnings.warn(
            f"column labels of type {exc} are stored as strings in Parquet",
            stacklevel=4,
        )
        return None


def _unique_strings(columns: Any) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for position, label in enumerate(columns):
        name = str(label)
        if name in seen:
            name = f"{name}.{position}"
        seen.add(name)
        names.append(name)
    return names


def _restore_frame(frame: Any, metadata: dict[str, Any]) -> Any:
    import pandas as pd

    for position, hint in enumerate(metadata.get("column_hints") or []):
        if hint is not None:
            frame.isetitem(position, _apply_hint(frame.iloc[:, position], hint))

    columns = metadata.get("columns")
    if columns:
        labels = [_untag(item) for item in columns["labels"]]
        names = [_untag(item) for item in columns["names"]]
        if columns["multi"]:
            frame.columns = pd.MultiIndex.from_tuples(labels, names=names)
        else:
            restored = pd.Index(labels, name=names[0], tupleize_cols=False)
            if str(restored.dtype) != columns["dtype"]:
                restored = restored.astype(columns["dtype"])
            frame.columns = restored

    frame.index = _restore_index(frame.index, metadata)
    return frame


def _restore_index(index: Any, metadata: dict[str, Any]) -> Any:
    import pandas as pd

    hints = metadata.get("index_hints") or []
    if any(hint is not None for hint in hints):
        levels = [
            _apply_hint(index.get_level_values(level), hints[level])
            for level in range(index.nlevels)
        ]
        if index.nlevels == 1:
            index = pd.Index(levels[0], name=index.name)
        else:
            index = pd.MultiIndex.from_arrays(levels, names=index.names)

    if metadata.get("index_names") is not None:
        index = index.set_names([_untag(name) for name in metadata["index_names"]])

    frequency = metadata.get("index_freq")
    if frequency and isinstance(index, pd.DatetimeIndex):
        index = pd.DatetimeIndex(index, freq=frequency)
    elif frequency and isinstance(index, pd.TimedeltaIndex):
        index = pd.TimedeltaIndex(index, freq=frequency)
    return index


def _write_parquet(frame: Any, metadata: dict[str, Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise EncodingError(
            f"cannot store the table in Parquet: {exc}. Columns of mixed Python "
            "objects must be converted first, for example with astype(str)"
        ) from exc

    schema_metadata = dict(table.schema.metadata or {})
    schema_metadata[METADATA_KEY] = json.dumps(metadata).encode("utf-8")
    table = table.replace_schema_metadata(schema_metadata)

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _settings(shape: tuple[int, ...]) -> dict[str, Any]:
    import pandas as pd
    import pyarrow as pa

    return {
        "pandas_version": pd.__version__,
        "pyarrow_version": pa.__version__,
        "shape": list(shape),
    }


def encode_dataframe(frame: Any) -> Encoded:
    prepared, metadata = _prepare_frame(frame)
    data = _write_parquet(prepared, metadata)
    return Encoded(data, PARQUET, "pandas/dataframe", _settings(frame.shape))


def encode_series(series: Any) -> Encoded:
    try:
        name_tag = _tag(series.name)
    except _UntaggableError as exc:
        raise EncodingError(f"cannot store a Series name of type {exc}") from exc

    column = series.name if isinstance(series.name, str) else "values"
    prepared, metadata = _prepare_frame(series.to_frame(name=column))
    metadata["series_name"] = name_tag
    data = _write_parquet(prepared, metadata)
    return Encoded(data, PARQUET, "pandas/series", _settings(series.shape))


def _read_parquet(attachment: Attachment) -> tuple[Any, dict[str, Any]]:
    import pyarrow.parquet as pq

    table = pq.read_table(attachment.path)
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    metadata = json.loads(raw) if raw else {}
    return table.to_pandas(), metadata


def decode_dataframe(attachment: Attachment) -> Any:
    """Read a Parquet attachment into a DataFrame, as it was pushed."""
    frame, metadata = _read_parquet(attachment)
    return _restore_frame(frame, metadata)


def decode_series(attachment: Attachment) -> Any:
    frame, metadata = _read_parquet(attachment)
    frame = _restore_frame(frame, metadata)
    series = frame.iloc[:, 0]
    if "series_name" in metadata:
        series.name = _untag(metadata["series_name"])
    return series
