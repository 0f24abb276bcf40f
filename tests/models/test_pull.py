"""Pulling from the registry: versions and aliases, the cache, library
versions and load failures, signatures."""

from __future__ import annotations

import warnings
from typing import Any

import dstack
import numpy
import pandas
import pytest
from dstack._flavors._pickled import SklearnFlavor
from sklearn.linear_model import LinearRegression

FRAME = pandas.DataFrame(
    {"age": [31, 45, 27], "income": [52.5, 71.0, 38.2], "city": ["a", "b", "a"]}
)


def _fitted(slope: float) -> LinearRegression:
    x = numpy.arange(10, dtype="float64").reshape(-1, 1)
    return LinearRegression().fit(x, slope * x[:, 0])


def _slope(model: LinearRegression) -> float:
    return round(float(model.coef_[0]), 6)


def test_pull_picks_version_alias_or_latest(client: dstack.Client) -> None:
    for slope in (1.0, 2.0, 3.0):
        client.models.push("line", _fitted(slope))
    client.models.set_alias("line", "production", 2)

    assert _slope(client.models.pull("line")) == 3.0
    assert _slope(client.models.pull("line", version=1)) == 1.0
    assert _slope(client.models.pull("line", alias="production")) == 2.0


def test_versions_list_and_metadata(client: dstack.Client) -> None:
    client.models.push("line", _fitted(1), metrics={"r2": 0.5}, alias="staging")
    client.models.push("line", _fitted(2), metrics={"r2": 0.9}, params={"fit": True})

    versions = client.models.versions("line")
    listed = client.models.list()

    assert [item.version for item in versions] == [2, 1]
    assert versions[1].aliases == ["staging"]
    assert versions[0].params == {"fit": True}
    assert [(item.name, item.latest, item.aliases) for item in listed] == [
        ("line", 2, {"staging": 1})
    ]


def test_delete_version_removes_it(client: dstack.Client) -> None:
    client.models.push("line", _fitted(1))
    client.models.push("line", _fitted(2))

    client.models.delete_version("line", 2)

    assert [item.version for item in client.models.versions("line")] == [1]
    with pytest.raises(dstack.ModelNotFoundError):
        client.models.pull("line", version=2)


def test_second_pull_downloads_nothing(
    client: dstack.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.models.push("line", _fitted(4))
    client.models.pull("line")

    def no_download(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the second pull downloaded a file")

    monkeypatch.setattr("dstack._registry.download", no_download)
    again = client.models.pull("line")

    assert _slope(again) == 4.0


def test_changed_cache_file_is_downloaded_again(client: dstack.Client) -> None:
    pushed = client.models.push("line", _fitted(5))
    client.models.pull("line")
    sha = client.models.versions("line")[0]
    cached = [
        path
        for path in client.cache_dir.iterdir()
        if path.is_file() and len(path.name) == 64
    ]
    # Cached blobs are read-only, but a user can change that and write.
    cached[0].chmod(0o600)
    cached[0].write_bytes(b"corrupted")

    again = client.models.pull("line", version=pushed.version)

    assert sha.version == 1
    assert _slope(again) == 5.0


def test_unknown_alias_and_version_raise_not_found(client: dstack.Client) -> None:
    client.models.push("line", _fitted(1))

    with pytest.raises(dstack.ModelNotFoundError, match="alias 'production'"):
        client.models.pull("line", alias="production")
    with pytest.raises(dstack.ModelNotFoundError, match="version 9"):
        client.models.pull("line", version=9)
    with pytest.raises(dstack.ModelNotFoundError):
        client.models.pull("nothing")


def test_bad_arguments_raise_before_any_request(client: dstack.Client) -> None:
    with pytest.raises(ValueError, match="finite"):
        client.models.push("line", _fitted(1), metrics={"r2": float("nan")})
    with pytest.raises(ValueError, match="invalid alias"):
        client.models.push("line", _fitted(1), alias="42")
    with pytest.raises(ValueError, match="invalid model name"):
        client.models.push("bad name", _fitted(1))
    with pytest.raises(ValueError, match="version or alias"):
        client.models.pull("line", version=1, alias="production")


def test_other_library_version_warns_with_both_versions(
    client: dstack.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn

    monkeypatch.setattr(
        SklearnFlavor, "libraries", lambda self, obj: {"sklearn": "0.24.2"}
    )
    client.models.push("line", _fitted(1))
    monkeypatch.undo()

    with pytest.warns(dstack.LibraryVersionWarning) as caught:
        model = client.models.pull("line")

    message = str(caught[0].message)
    assert "sklearn 0.24.2" in message
    assert f"sklearn {sklearn.__version__}" in message
    assert "pip install 'scikit-learn==0.24.2'" in message
    assert _slope(model) == 1.0


def test_same_minor_version_does_not_warn(client: dstack.Client) -> None:
    client.models.push("line", _fitted(1))

    with warnings.catch_warnings():
        warnings.simplefilter("error", dstack.LibraryVersionWarning)
        client.models.pull("line")


def test_load_failure_names_the_version_to_install(
    client: dstack.Client, tmp_path: Any
) -> None:
    broken = tmp_path / "model.pkl"
    broken.write_bytes(b"not a pickle")
    client.models.push("broken", broken)
    # Pushed as a file, then read back as if it were a pickled estimator
    # saved with another scikit-learn.
    version = client.models.get("broken")
    body = client.http.request_json(
        "GET", f"teams/acme/models/broken/versions/{version.version}", context="x"
    )
    body["flavor"] = "sklearn"
    body["loader"] = {"file": "model.pkl"}
    body["libraries"] = {"sklearn": "0.24.2"}
    models = client.models
    tree = models._materialize("teams/acme/models/broken", body)
    from dstack._registry import load_with

    with pytest.raises(dstack.ModelLoadError) as raised:
        load_with(SklearnFlavor(), tree, body["loader"], body["libraries"], "broken")

    assert "pip install 'scikit-learn==0.24.2'" in str(raised.value)
    assert "sklearn 0.24.2 (installed:" in str(raised.value)


def test_missing_library_says_what_to_install(
    client: dstack.Client, tmp_path: Any
) -> None:
    from dstack._registry import load_with

    class NeedsMissing:
        name = "missing"

        def load(self, directory: Any, loader: Any) -> Any:
            import dstack_no_such_library  # type: ignore[import-not-found]  # noqa: F401

    with pytest.raises(dstack.ModelLoadError) as raised:
        load_with(
            NeedsMissing(),  # type: ignore[arg-type]
            tmp_path,
            {},
            {"dstack_no_such_library": "2.1.0"},
            "model m version 1",
        )

    assert "dstack_no_such_library is not installed" in str(raised.value)
    assert "pip install 'dstack_no_such_library==2.1.0'" in str(raised.value)


def test_signature_comes_from_input_example(client: dstack.Client) -> None:
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    pipeline = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough"),
        LinearRegression(),
    ).fit(FRAME, [1.0, 2.0, 3.0])

    pushed = client.models.push("priced", pipeline, input_example=FRAME)

    assert pushed.signature == {
        "inputs": {
            "type": "dataframe",
            "columns": [
                {"name": "age", "type": "int64"},
                {"name": "income", "type": "float64"},
                {"name": "city", "type": str(FRAME.dtypes["city"])},
            ],
            "rows": 3,
        },
        "outputs": {"type": "tensor", "dtype": "float64", "shape": [-1]},
    }


def test_description_and_lineage_are_recorded(
    client: dstack.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DSTACK_JOB", "nightly-train")
    monkeypatch.setenv("DSTACK_RUN_ID", "42")
    monkeypatch.setenv("DSTACK_RUN_NUMBER", "7")

    client.models.push("line", _fitted(1), description="Fits *a line*.")

    model = client.http.request_json("GET", "teams/acme/models/line", context="x")
    version = client.http.request_json(
        "GET", "teams/acme/models/line/versions/1", context="x"
    )
    assert model["description"] == "Fits *a line*."
    assert version["lineage"]["job"] == "nightly-train"
    assert version["lineage"]["run"] == "42"
    assert version["lineage"]["run_number"] == "7"
    assert version["lineage"]["environment"]["python"]
    assert version["client"]["name"] == "dstack-client"


def test_large_model_goes_through_parts(
    client: dstack.Client, other_client: dstack.Client, settings: Any
) -> None:
    settings.UPLOAD_PART_SIZE = 5 * 1024 * 1024
    model = LinearRegression()
    model.coef_ = numpy.random.default_rng(3).normal(size=2_000_000)
    model.intercept_ = 0.5

    client.models.push("wide", model)
    pulled = other_client.models.pull("wide")

    numpy.testing.assert_array_equal(pulled.coef_, model.coef_)


def test_pull_takes_alias_latest_as_the_newest_version(client: dstack.Client) -> None:
    client.models.push("line", _fitted(1.0))
    client.models.push("line", _fitted(2.0))

    assert _slope(client.models.pull("line", alias="latest")) == 2.0
    assert client.models.get("line", alias="latest").version == 2


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"params": {"grid": [1, 2]}}, "'grid'"),
        ({"params": {"big": 10**400}}, "'big'"),
        ({"metrics": {"auc": 10**400}}, "'auc'"),
    ],
)
def test_push_rejects_values_the_server_cannot_keep(
    client: dstack.Client, fields: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        client.models.push("line", _fitted(1.0), **fields)

    assert client.models.list() == []
