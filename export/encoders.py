"""Trained encoders -> ONNX files plus encoders.json, the folder the runtime loads (vaf.runtime.encoders)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import torch

from vaf.runtime.encoders import MANIFEST, FORMAT
from vaf.training.encoders.train import load_encoders
from vaf.training.features.crops import WINDOW_M

OPSET = 17


def export_encoders(checkpoint: str | Path, out: str | Path, source: dict | None = None) -> Path:
    """Writes audio_encoder.onnx, image_encoder.onnx and encoders.json into a new folder."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder (nothing was overwritten)")
    out.mkdir(parents=True, exist_ok=True)
    model = load_encoders(checkpoint)
    audio_cfg, image_cfg = model.audio, model.image
    samples = int(0.5 * audio_cfg.sample_rate)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    # nn.MultiheadAttention's inference fast path (CLIP towers) has no ONNX export; the plain path is the same math
    torch.backends.mha.set_fastpath_enabled(False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model.audio, (torch.zeros(2, samples),), str(out / "audio_encoder.onnx"), input_names=["audio"],
                          output_names=["embedding"], dynamic_axes={"audio": {0: "batch"}, "embedding": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
        torch.onnx.export(model.image, (torch.zeros(2, 3, image_cfg.size, image_cfg.size),), str(out / "image_encoder.onnx"),
                          input_names=["image"], output_names=["embedding"],
                          dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}}, opset_version=OPSET, dynamo=False)
    torch.backends.mha.set_fastpath_enabled(fastpath)
    dim = int(model.audio.dim)
    audio = {"onnx": "audio_encoder.onnx", "sample_rate": audio_cfg.sample_rate, "clip_seconds": 0.5}
    room = torch.load(checkpoint, weights_only=False).get("recordings_room")  # absent from a checkpoint.pt
    manifest = {
        "format": FORMAT,
        "version": 1,
        "dim": dim,
        "audio": audio if room is None else {**audio, "recordings_room": room},
        "image": {"onnx": "image_encoder.onnx", "size": image_cfg.size, "window_m": WINDOW_M},
        "source": source or {"checkpoint": str(checkpoint)},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return out
