"""Property-style round trips of DataFrames and Series through Parquet.

Each seed builds a random frame from the column kinds that must survive a
push and pull exactly, with a random kind of index and of column labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow  # noqa: F401 - fails loudly when missing
import pytest

import dstack  # noqa: E402

from .helpers import round_trip  # noqa: E402

ROWS = 7


def column_int64(rng):
    values = rng.integers(-(2**63), 2**63 - 1, size=ROWS, dtype="int64", endpoint=True)
    values[0] = np.iinfo("int64").max
    return pd.Series(values)


def column_float(rng):
    values = rng.normal(size=ROWS)
    values[1] = np.nan
    return pd.Series(values)


def column_nullable_int(rng):
    values = pd.array(rng.integers(-5, 5, size=ROWS), dtype="Int64")
    values[2] = pd.NA
    return pd.Series(values)


def column_nullable_boolean(rng):
    values = pd.array(rng.integers(0, 2, size=ROWS).astype(bool), dtype="boolean")
    values[3] = pd.NA
    return pd.Series(values)


def column_string(rng):
    values = [f"s{n}" for n in rng.integers(0, 100, size=ROWS)]
    values[4] = None
    return pd.Series(pd.array(values, dtype="string"))


def column_ordered_categorical(rng):
    categories = ["low", "mid", "high", "unused"]
    values = rng.choice(categories[:3], size=ROWS)
    return pd.Series(pd.Categorical(values, categories=categories, ordered=True))


def column_integer_categorical(rng):
    return pd.Series(
        pd.Categorical(rng.choice([10, 20, 30], size=ROWS), categories=[30, 10, 20])
    )


def column_tz_datetime(rng):
    seconds = rng.integers(0, 10**9, size=ROWS)
    return pd.Series(
        pd.to_datetime(seconds, unit="s", utc=True).tz_convert("Asia/Kolkata")
    )


def column_naive_datetime(rng):
    values = pd.Series(pd.to_datetime(rng.integers(0, 10**18, size=ROWS)))
    values[5] = pd.NaT
    return values


def column_second_datetime(rng):
    return pd.Series(
        pd.to_datetime(rng.integers(0, 10**9, size=ROWS), unit="s").as_unit("s")
    )


def column_timedelta(rng):
    values = pd.Series(pd.to_timedelta(rng.integers(-(10**12), 10**12, size=ROWS)))
    values[6] = pd.NaT
    return values


COLUMN_KINDS = [
    column_int64,
    column_float,
    column_nullable_int,
    column_nullable_boolean,
    column_string,
    column_ordered_categorical,
    column_integer_categorical,
    column_tz_datetime,
    column_naive_datetime,
    column_second_datetime,
    column_timedelta,
]


def make_index(rng, kind):
    if kind == "range":
        return pd.RangeIndex(start=5, stop=5 + 3 * ROWS, step=3)
    if kind == "named":
        return pd.Index([f"row{n}" for n in range(ROWS)], name="row")
    if kind == "integer_name":
        return pd.Index(rng.permutation(ROWS), name=42)
    if kind == "datetime_with_freq":
        return pd.date_range(
            "2021-03-01", periods=ROWS, freq="D", tz="Europe/Paris", name="day"
        )
    if kind == "multi":
        return pd.MultiIndex.from_arrays(
            [["a", "b"] * 3 + ["c"], list(range(ROWS))], names=["letter", None]
        )
    raise ValueError(kind)


def make_labels(rng, kind, count):
    if kind == "strings":
        return [f"col_{n}" for n in range(count)]
    if kind == "integers":
        return list(range(100, 100 + count))
    if kind == "mixed":
        return [n if n % 2 else f"col_{n}" for n in range(count)]
    if kind == "duplicates":
        return ["same"] * count
    if kind == "multi":
        return pd.MultiIndex.from_tuples(
            [("group", n) for n in range(count)], names=["g", "n"]
        )
    raise ValueError(kind)


INDEX_KINDS = ["range", "named", "integer_name", "datetime_with_freq", "multi"]
LABEL_KINDS = ["strings", "integers", "mixed", "duplicates", "multi"]


def make_frame(seed):
    rng = np.random.default_rng(seed)
    count = rng.integers(1, len(COLUMN_KINDS) + 1)
    kinds = rng.choice(len(COLUMN_KINDS), size=count, replace=False)
    columns = [COLUMN_KINDS[k](rng) for k in kinds]
    index = make_index(rng, INDEX_KINDS[seed % len(INDEX_KINDS)])
    frame = pd.concat([c.set_axis(range(ROWS)) for c in columns], axis=1)
    frame.index = index
    label_kind = LABEL_KINDS[(seed // len(INDEX_KINDS)) % len(LABEL_KINDS)]
    frame.columns = make_labels(rng, label_kind, len(columns))
    return frame


@pytest.mark.parametrize("seed", range(50))
def test_random_dataframe_round_trips_exactly(seed, tmp_path):
    frame = make_frame(seed)

    encoded, decoded = round_trip(frame, tmp_path)

    assert encoded.media_type == "application/vnd.apache.parquet"
    assert encoded.application == "pandas/dataframe"
    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)


@pytest.mark.parametrize("kind", COLUMN_KINDS, ids=lambda kind: kind.__name__)
def test_every_column_kind_round_trips(kind, tmp_path):
    frame = kind(np.random.default_rng(1)).to_frame(name="value")

    _, decoded = round_trip(frame, tmp_path)

    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)


@pytest.mark.parametrize("kind", COLUMN_KINDS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("name", [None, "sales", 7])
def test_series_round_trips(kind, name, tmp_path):
    series = kind(np.random.default_rng(2)).rename(name)

    encoded, decoded = round_trip(series, tmp_path)

    assert encoded.application == "pandas/series"
    pd.testing.assert_series_equal(decoded, series, check_exact=True)


def test_empty_frame_round_trips(tmp_path):
    frame = pd.DataFrame(
        {"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="string")}
    )

    _, decoded = round_trip(frame, tmp_path)

    pd.testing.assert_frame_equal(decoded, frame, check_exact=True)


def test_column_axis_name_round_trips(tmp_path):
    frame = pd.DataFrame({"a": [1], "b": [2]}).rename_axis(columns="metric")

    _, decoded = round_trip(frame, tmp_path)

    assert decoded.columns.name == "metric"


def test_mixed_object_column_is_rejected():
    with pytest.raises(dstack.EncodingError, match="astype"):
        dstack._encoders.encode(pd.DataFrame({"o": pd.Series([1, "a"], dtype=object)}))


def test_parquet_keeps_string_column_names_for_other_readers(tmp_path):
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"region": ["EU"], "sales": [3]})
    encoded, _ = round_trip(frame, tmp_path)

    assert pq.read_table(tmp_path / "blob").column_names == ["region", "sales"]
    assert encoded.settings["shape"] == [1, 2]
