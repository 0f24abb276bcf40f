"""PyTorch models: a whole `nn.Module`, or a `state_dict` of tensors.

A whole module is saved with `torch.save` through cloudpickle, so a module
class defined in a notebook loads elsewhere; loading it runs pickle, which
is why it needs `weights_only=False`. A `state_dict` loads with
`weights_only=True`. Both load onto the CPU when this machine has no CUDA
device, whatever device the tensors were saved from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import Saved, is_instance, qualified_name, resolve, versions_of

MODULE_FILE = "model.pt"
STATE_FILE = "state_dict.pt"


def is_state_dict(obj: Any) -> bool:
    tensor = resolve("torch.Tensor")
    if tensor is None or not isinstance(obj, Mapping) or not obj:
        return False
    return all(
        isinstance(key, str) and isinstance(value, tensor) for key, value in obj.items()
    )


def map_location() -> str | None:
    import torch

    return None if torch.cuda.is_available() else "cpu"


class TorchFlavor:
    name = "pytorch"

    def matches(self, obj: Any) -> bool:
        return is_instance(obj, "torch.nn.modules.module.Module") or is_state_dict(obj)

    def libraries(self, obj: Any) -> dict[str, str]:
        found = versions_of("torch")
        if not is_state_dict(obj):
            found.update(versions_of("cloudpickle"))
        return found

    def save(self, obj: Any, directory: Path) -> Saved:
        import torch

        if is_state_dict(obj):
            torch.save(dict(obj), directory / STATE_FILE)
            return Saved(loader={"file": STATE_FILE, "format": "state_dict"})
        import cloudpickle

        torch.save(obj, directory / MODULE_FILE, pickle_module=cloudpickle)
        return Saved(
            loader={
                "file": MODULE_FILE,
                "format": "module",
                "class": qualified_name(obj),
            }
        )

    def load(self, directory: Path, loader: dict[str, Any]) -> Any:
        import torch

        if loader.get("format") == "state_dict":
            return torch.load(
                directory / loader.get("file", STATE_FILE),
                map_location=map_location(),
                weights_only=True,
            )
        import cloudpickle  # noqa: F401  (classes pickled by value need it)

        model = torch.load(
            directory / loader.get("file", MODULE_FILE),
            map_location=map_location(),
            weights_only=False,
        )
        return model
