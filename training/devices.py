"""Where torch work runs: the `--device` option of the training and baking commands."""

from __future__ import annotations


def torch_device(name: str) -> str:
    """"auto" is cuda when torch sees a CUDA GPU, else cpu; "cpu" and "cuda[:N]" as given. A cuda device
    on a machine without one, or any other name, is a ValueError naming --device."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"--device must be auto, cpu or cuda[:N], got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: torch sees no CUDA GPU on this machine")
    return name
