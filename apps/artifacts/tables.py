"""Read table attachments (Parquet, CSV) for previews and CSV downloads.

The server never unpickles: Parquet is read with pyarrow, and pandas only
turns the Arrow table into rows.
"""

from __future__ import annotations

import io
import math
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from apps.artifacts.models import Blob
from apps.artifacts.storage import get_storage
from apps.core.errors import InvalidInput

PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"
TABLE_TYPES = {PARQUET, CSV}
IN_MEMORY_LIMIT = 32 * 1024 * 1024


def is_table(media_type: str) -> bool:
    return media_type in TABLE_TYPES


def _open_blob(blob: Blob) -> IO[bytes]:
    handle: IO[bytes]
    if blob.size <= IN_MEMORY_LIMIT:
        handle = io.BytesIO(b"".join(get_storage().iter_bytes(blob.key)))
        return handle
    handle = tempfile.TemporaryFile()
    for chunk in get_storage().iter_bytes(blob.key):
        handle.write(chunk)
    handle.seek(0)
    return handle


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    try:
        import pandas

        if pandas.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _frame(media_type: str, handle: IO[bytes]) -> Any:
    import pyarrow.csv
    import pyarrow.parquet

    try:
        if media_type == PARQUET:
            return pyarrow.parquet.read_table(handle).to_pandas()
        return pyarrow.csv.read_csv(handle).to_pandas()
    except Exception as error:  # pyarrow raises ArrowInvalid and OSError subclasses
        raise InvalidInput(
            f"the table could not be read: {error}", field="attachment"
        ) from None


def table_page(
    blob: Blob, media_type: str, *, page: int, page_size: int
) -> dict[str, Any]:
    with _open_blob(blob) as handle:
        frame = _frame(media_type, handle)
    named_index = any(name is not None for name in frame.index.names)
    if named_index or not frame.index.equals(frame.index.__class__(range(len(frame)))):
        frame = frame.reset_index()
    start = (page - 1) * page_size
    rows = frame.iloc[start : start + page_size]
    return {
        "columns": [str(name) for name in frame.columns],
        "dtypes": [str(dtype) for dtype in frame.dtypes],
        "rows": [
            [_json_value(value) for value in row]
            for row in rows.itertuples(index=False)
        ],
        "count": len(frame),
        "page": page,
        "page_size": page_size,
    }


def csv_chunks(blob: Blob, media_type: str) -> Iterator[bytes]:
    """Convert a Parquet blob to CSV a record batch at a time."""
    import pyarrow
    import pyarrow.parquet

    if media_type == CSV:
        yield from get_storage().iter_bytes(blob.key)
        return
    with _open_blob(blob) as handle:
        parquet = pyarrow.parquet.ParquetFile(handle)
        metadata = parquet.schema_arrow.metadata or {}
        first = True
        for batch in parquet.iter_batches(batch_size=20_000):
            frame = (
                pyarrow.Table.from_batches([batch])
                .replace_schema_metadata(metadata)
                .to_pandas()
            )
            has_index = any(name is not None for name in frame.index.names)
            yield frame.to_csv(header=first, index=has_index).encode()
            first = False
        if first:
            yield (
                pyarrow.Table.from_batches([], schema=parquet.schema_arrow)
                .to_pandas()
                .to_csv(index=False)
                .encode()
            )
