"""Registration of the built-in flavors."""

from __future__ import annotations

from . import register_flavor
from ._boosters import LightGBMFlavor, XGBoostFlavor
from ._files import FilesFlavor
from ._graphs import KerasFlavor, OnnxFlavor
from ._pickled import SklearnFlavor
from ._torch import TorchFlavor


def register_all() -> None:
    # Later registrations are tried first. XGBoost's and LightGBM's
    # scikit-learn wrappers are scikit-learn estimators too, so those two
    # come after (and so before) the scikit-learn flavor.
    register_flavor(FilesFlavor())
    register_flavor(SklearnFlavor())
    register_flavor(OnnxFlavor())
    # A Keras model on the torch backend is a torch module as well.
    register_flavor(TorchFlavor())
    register_flavor(KerasFlavor())
    register_flavor(LightGBMFlavor())
    register_flavor(XGBoostFlavor())
