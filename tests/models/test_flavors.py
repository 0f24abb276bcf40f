"""Round trips of every flavor: push a model, pull it on a fresh cache, compare
its predictions with the original's."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dstack
import numpy
import pytest
from numpy.testing import assert_allclose, assert_array_equal

RNG = numpy.random.default_rng(11)
X = RNG.normal(size=(200, 4)).astype("float32")
Y = (X[:, 0] + 2 * X[:, 1] > 0).astype("int64")


def test_sklearn_estimator_round_trips(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, Y)

    pushed = client.models.push("forest", model, metrics={"accuracy": 0.93})
    pulled = other_client.models.pull("forest")

    assert pushed.version == 1
    assert pushed.metrics == {"accuracy": 0.93}
    assert pushed.flavor == "sklearn"
    assert_array_equal(pulled.predict_proba(X), model.predict_proba(X))


def test_sklearn_pipeline_with_notebook_function_round_trips(
    client: dstack.Client, other_client: dstack.Client, server_url: str, token: str
) -> None:
    # The function lives in the pushing process's __main__, as in a notebook,
    # so only a pickle of it by value can be loaded here.
    script = textwrap.dedent(
        f"""
        import numpy
        import dstack
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer

        def square_first(features):
            features = features.copy()
            features[:, 0] = features[:, 0] ** 2
            return features

        rng = numpy.random.default_rng(11)
        x = rng.normal(size=(200, 4)).astype("float32")
        y = (x[:, 0] + 2 * x[:, 1] > 0).astype("int64")
        pipeline = make_pipeline(FunctionTransformer(square_first), LogisticRegression())
        pipeline.fit(x, y)
        numpy.save({str(Path(client.cache_dir).parent / "expected.npy")!r},
                   pipeline.predict_proba(x))
        with dstack.Client({server_url + "/api"!r}, {token!r}, team="acme") as client:
            client.models.push("pipeline", pipeline)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)

    pulled = other_client.models.pull("pipeline")

    expected = numpy.load(Path(client.cache_dir).parent / "expected.npy")
    assert_array_equal(pulled.predict_proba(X), expected)
    assert pulled.steps[0][1].func.__name__ == "square_first"


class TinyNet:  # replaced below by a torch module class when torch imports
    pass


def _tiny_net() -> Any:
    import torch

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 3)

        def forward(self, features: Any) -> Any:
            return torch.softmax(self.layer(features), dim=1)

    torch.manual_seed(0)
    return Net()


def test_pytorch_module_round_trips(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    import torch

    net = _tiny_net().eval()

    pushed = client.models.push("net", net, input_example=X[:5])
    pulled = other_client.models.pull("net")

    with torch.no_grad():
        expected = net(torch.from_numpy(X)).numpy()
        actual = pulled(torch.from_numpy(X)).numpy()
    assert pushed.flavor == "pytorch"
    assert_array_equal(actual, expected)
    assert pushed.signature is not None
    assert pushed.signature["outputs"]["shape"] == [-1, 3]


def test_pytorch_state_dict_round_trips(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    import torch

    net = _tiny_net()

    client.models.push("weights", net.state_dict())
    state = other_client.models.pull("weights")
    fresh = _tiny_net()
    torch.nn.init.zeros_(fresh.layer.weight)
    fresh.load_state_dict(state)

    with torch.no_grad():
        assert_array_equal(fresh(torch.from_numpy(X)), net(torch.from_numpy(X)))
    assert all(tensor.device.type == "cpu" for tensor in state.values())


def test_pytorch_weights_saved_on_a_gpu_load_on_the_cpu(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    import torch
    import torch.serialization as serialization

    # A tagger that names every storage as CUDA's, as a GPU machine's
    # torch.save does; this machine has no CUDA, so loading them as saved
    # would fail.
    entry = (0, lambda storage: "cuda:0", lambda storage, location: None)
    serialization._package_registry.insert(0, entry)
    try:
        client.models.push("gpu-weights", {"weight": torch.arange(6.0)})
    finally:
        serialization._package_registry.remove(entry)

    state = other_client.models.pull("gpu-weights")

    assert state["weight"].device.type == "cpu"
    assert state["weight"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def _onnx_linear() -> Any:
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(
        RNG.normal(size=(4, 2)).astype("float32"), name="weights"
    )
    bias = numpy_helper.from_array(numpy.array([0.5, -0.5], "float32"), name="bias")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "weights"], ["product"]),
            helper.make_node("Add", ["product", "bias"], ["scores"]),
        ],
        "linear",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [None, 2])],
        [weights, bias],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_model_round_trips(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    import onnxruntime

    model = _onnx_linear()

    pushed = client.models.push("linear", model)
    pulled = other_client.models.pull("linear")

    def run(proto: Any) -> Any:
        session = onnxruntime.InferenceSession(
            proto.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        return session.run(None, {"features": X})[0]

    assert_array_equal(run(pulled), run(model))
    inputs = pushed.signature["inputs"]["fields"]  # type: ignore[index]
    assert inputs == [
        {"name": "features", "type": "tensor", "dtype": "float32", "shape": [-1, 4]}
    ]


def test_xgboost_models_round_trip(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    import xgboost

    regressor = xgboost.XGBRegressor(n_estimators=10, max_depth=3).fit(X, X[:, 0])
    booster = xgboost.train(
        {"max_depth": 2}, xgboost.DMatrix(X, label=Y), num_boost_round=5
    )

    client.models.push("xgb", regressor)
    client.models.push("xgb-booster", booster)
    pulled = other_client.models.pull("xgb")
    pulled_booster = other_client.models.pull("xgb-booster")

    assert type(pulled) is xgboost.XGBRegressor
    assert_array_equal(pulled.predict(X), regressor.predict(X))
    assert_array_equal(
        pulled_booster.predict(xgboost.DMatrix(X)), booster.predict(xgboost.DMatrix(X))
    )


def test_lightgbm_models_round_trip(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    import lightgbm

    classifier = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, Y)
    booster = lightgbm.train(
        {"objective": "regression", "verbose": -1},
        lightgbm.Dataset(X, label=X[:, 1]),
        num_boost_round=5,
    )

    pushed = client.models.push("lgbm", classifier, input_example=X[:3])
    client.models.push("lgbm-booster", booster)
    pulled = other_client.models.pull("lgbm")
    pulled_booster = other_client.models.pull("lgbm-booster")

    assert pushed.flavor == "lightgbm"
    assert_array_equal(pulled.predict_proba(X), classifier.predict_proba(X))
    assert_allclose(pulled_booster.predict(X), booster.predict(X), rtol=1e-12)


def test_keras_model_round_trips(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    import keras

    assert keras.backend.backend() == "torch"
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(X, Y, epochs=1, verbose=0)

    pushed = client.models.push("keras", model, input_example=X[:2])
    pulled = other_client.models.pull("keras")

    assert pushed.flavor == "keras"
    assert pushed.libraries["keras"] == keras.__version__
    assert_allclose(
        pulled.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6
    )


def test_file_round_trips(
    client: dstack.Client, other_client: dstack.Client, tmp_path: Path
) -> None:
    source = tmp_path / "vocab.txt"
    source.write_text("alpha\nbeta\n")

    pushed = client.models.push("vocab", source)
    pulled = other_client.models.pull("vocab")

    assert pushed.flavor == "files"
    assert pulled.name == "vocab.txt"
    assert pulled.read_text() == "alpha\nbeta\n"


def test_folder_round_trips(
    client: dstack.Client, other_client: dstack.Client, tmp_path: Path
) -> None:
    folder = tmp_path / "bundle"
    (folder / "weights").mkdir(parents=True)
    (folder / "config.json").write_text('{"layers": 2}')
    (folder / "weights" / "w.bin").write_bytes(bytes(range(256)) * 64)

    client.models.push("bundle", folder)
    pulled = other_client.models.pull("bundle")

    files = sorted(path.relative_to(pulled).as_posix() for path in pulled.rglob("*"))
    assert files == ["config.json", "weights", "weights/w.bin"]
    assert (pulled / "weights" / "w.bin").read_bytes() == bytes(range(256)) * 64


def test_stack_push_of_model_stays_an_attachment(
    client: dstack.Client, other_client: dstack.Client
) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(X, Y)

    client.push("models/churn", model, message="as a stack")
    pulled = other_client.pull("models/churn")

    assert_array_equal(pulled.predict_proba(X), model.predict_proba(X))
    assert client.models.list() == []


@pytest.mark.parametrize("flavor", ["pytorch", "xgboost"])
def test_stack_push_round_trips_other_flavors(
    client: dstack.Client, other_client: dstack.Client, flavor: str
) -> None:
    if flavor == "pytorch":
        import torch

        model = _tiny_net().eval()
        client.push("models/net", model)
        pulled = other_client.pull("models/net")
        with torch.no_grad():
            assert_array_equal(pulled(torch.from_numpy(X)), model(torch.from_numpy(X)))
    else:
        import xgboost

        model = xgboost.XGBClassifier(n_estimators=5).fit(X, Y)
        client.push("models/xgb", model)
        pulled = other_client.pull("models/xgb")
        assert_array_equal(pulled.predict_proba(X), model.predict_proba(X))
