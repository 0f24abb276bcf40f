"""XGBoost and LightGBM models in their libraries' own file formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import Saved, import_class, is_instance, qualified_name, versions_of
from ._pickled import FILENAME as PICKLE_FILE
from ._pickled import dump, load

XGBOOST_FILE = "model.ubj"
LIGHTGBM_FILE = "model.txt"


class XGBoostFlavor:
    """`xgboost.Booster` and the scikit-learn wrappers (`XGBClassifier`, …).

    Both are saved with `save_model` as UBJSON, which later XGBoost versions
    read. A wrapper is rebuilt from its class and then loads the file.
    """

    name = "xgboost"

    def matches(self, obj: Any) -> bool:
        return is_instance(obj, "xgboost.core.Booster", "xgboost.sklearn.XGBModel")

    def libraries(self, obj: Any) -> dict[str, str]:
        found = versions_of("xgboost", "numpy")
        if is_instance(obj, "xgboost.sklearn.XGBModel"):
            found.update(versions_of("sklearn"))
        return found

    def save(self, obj: Any, directory: Path) -> Saved:
        obj.save_model(str(directory / XGBOOST_FILE))
        return Saved(
            loader={"file": XGBOOST_FILE, "format": "ubj", "class": qualified_name(obj)}
        )

    def load(self, directory: Path, loader: dict[str, Any]) -> Any:
        import xgboost

        path = str(directory / loader.get("file", XGBOOST_FILE))
        cls_name = loader.get("class", "xgboost.core.Booster")
        if cls_name == "xgboost.core.Booster":
            booster = xgboost.Booster()
            booster.load_model(path)
            return booster
        model = import_class(cls_name)()
        model.load_model(path)
        return model


class LightGBMFlavor:
    """`lightgbm.Booster` as its text format; scikit-learn wrappers pickled.

    The text format holds the trees only, so `LGBMClassifier` and its kin,
    whose fitted state also holds the classes and parameters, are pickled.
    """

    name = "lightgbm"

    def matches(self, obj: Any) -> bool:
        return is_instance(obj, "lightgbm.basic.Booster", "lightgbm.sklearn.LGBMModel")

    def libraries(self, obj: Any) -> dict[str, str]:
        found = versions_of("lightgbm", "numpy")
        if is_instance(obj, "lightgbm.sklearn.LGBMModel"):
            found.update(versions_of("sklearn", "cloudpickle"))
        return found

    def save(self, obj: Any, directory: Path) -> Saved:
        if is_instance(obj, "lightgbm.basic.Booster"):
            obj.save_model(str(directory / LIGHTGBM_FILE))
            return Saved(loader={"file": LIGHTGBM_FILE, "format": "text"})
        digest = dump(obj, directory / PICKLE_FILE)
        return Saved(
            loader={
                "file": PICKLE_FILE,
                "format": "cloudpickle",
                "class": qualified_name(obj),
            },
            digests={PICKLE_FILE: digest},
        )

    def load(self, directory: Path, loader: dict[str, Any]) -> Any:
        import lightgbm

        path = directory / loader.get("file", LIGHTGBM_FILE)
        if loader.get("format") == "cloudpickle":
            return load(path)
        return lightgbm.Booster(model_file=str(path))
