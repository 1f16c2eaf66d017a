"""A trained recipe network -> the folder the runtime loads (vaf.runtime.recipe_model)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from vaf.export.encoders import OPSET
from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.recipe_model import FORMAT, MANIFEST
from vaf.runtime.segment_geometry import GEOMETRY_DIM
from vaf.training.generator.models import RuntimeRecipe
from vaf.training.generator.train import load_generator


def export_generator(checkpoint: str | Path, out: str | Path, encoders: OnnxEncoders, source: dict | None = None,
                     modes_out: int | None = None, fold_bands: int | None = None) -> Path:
    """Writes recipe.onnx, prototypes.npy and generator.json into a new folder. `encoders` are the
    ones whose features the model was trained on (their fingerprint goes into the manifest).
    `modes_out` and `fold_bands` override the model config's runtime recipe (models.fold_modes):
    the network is the same, the recipe it ships is cheaper or richer."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder (nothing was overwritten)")
    state = torch.load(checkpoint, weights_only=False)
    if "prototypes" not in state:
        raise ValueError(f"{checkpoint}: not a finished generator.pt (no prototypes); finish training first")
    net = load_generator(checkpoint)
    overrides = {k: v for k, v in (("modes_out", modes_out), ("fold_bands", fold_bands)) if v is not None}
    net.config = c = replace(net.config, **overrides)  # RecipeConfig checks the values, naming the field
    if c.input != "features":
        raise ValueError(f"{checkpoint}: a {c.input!r}-input model is a baseline; only feature models run in the runtime")
    if c.feature_dim != encoders.dim:
        raise ValueError(f"{checkpoint}: features of dim {c.feature_dim}, encoders {encoders.path} give {encoders.dim}")
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        inputs = {"features": torch.zeros(2, c.levels, c.feature_dim)}
        if c.geometry:
            inputs["geometry"] = torch.zeros(2, GEOMETRY_DIM)
        outputs = ["freq_hz", "decay_per_s", "gain", "noise", "material_probs"]
        torch.onnx.export(RuntimeRecipe(net).eval(), tuple(inputs.values()), str(out / "recipe.onnx"),
                          input_names=list(inputs), output_names=outputs,
                          dynamic_axes={name: {0: "batch"} for name in [*inputs, *outputs]},
                          opset_version=OPSET, dynamo=False)
    np.save(out / "prototypes.npy", np.asarray(state["prototypes"], np.float32))
    manifest = {"format": FORMAT, "version": 1, "onnx": "recipe.onnx", "prototypes": "prototypes.npy",
                "ood_threshold": state["ood_threshold"], "levels": c.levels, "dim": c.feature_dim,
                "geometry": c.geometry, "materials": c.materials,
                "modes": c.modes_out, "fold_bands": c.fold_bands, "encoders": encoders.fingerprint, "room": net.learnt_room(),
                "source": source or {"checkpoint": str(checkpoint)}}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out
