"""`vaf scene bake`: diffusion samples per part segment, stored in a copy of the bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vaf.runtime.preprocess import finish_clip
from vaf.runtime.scene_bundle import BakedBank, SceneBundle

BATCH = 32


def segment_features(bundle: SceneBundle, level: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Ids (S,) of the segments at `level` that some view saw, and their multi-level features (S, 3, D):
    the mean over the segment's seen Gaussians, renormalised per level."""
    if bundle.features is None:
        raise ValueError(f"scene {bundle.name!r} has no features (build them with `vaf scene build`)")
    features = bundle.features.astype(np.float32)
    seen = np.abs(features).max(axis=(1, 2)) > 0
    ids, rows = [], []
    for s in np.unique(bundle.labels[seen, level]):
        mean = features[seen & (bundle.labels[:, level] == s)].mean(axis=0)
        ids.append(int(s))
        rows.append(mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12))
    return np.array(ids, np.int32), np.stack(rows)


def bake_scene(bundle_dir: str | Path, out: str | Path, model_path: str | Path, variations: int = 4, steps: int = 50,
               cfg_scale: float = 6.0, eta: float = 0.0, seed: int = 0, progress: bool = True, device: str = "cpu") -> SceneBundle:
    """Writes a copy of the bundle with `variations` diffusion samples per part into the new folder `out`,
    sampling on `device` ("cuda" for a pretrained Stable Audio Open model: minutes per sample on a CPU)."""
    from vaf.training.generator.diffusion import diffusion_meta, load_diffusion

    if variations < 1:
        raise ValueError(f"variations must be at least 1, got {variations}")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder (nothing was overwritten)")
    bundle = SceneBundle.load(bundle_dir)
    meta = diffusion_meta(model_path)
    made_by = bundle.features_source.get("encoders")
    if meta.get("encoders") and made_by != meta["encoders"]:
        raise ValueError(f"{bundle_dir}: features were made by encoders {made_by}, the model was trained on {meta['encoders']}")
    model = load_diffusion(model_path).to(device)
    ids, features = segment_features(bundle)
    queries = torch.tensor(np.repeat(features, variations, axis=0))
    clips = []
    for i in tqdm(range(0, len(queries), BATCH), desc="baking", unit="batch", disable=not progress):
        audio = model.sample(queries[i : i + BATCH], steps, cfg_scale, eta, seed + i).numpy()
        clips += [finish_clip(a, model.sample_rate) for a in audio]
    audio = np.stack(clips).reshape(len(ids), variations, -1)
    bundle.baked = BakedBank(ids, audio.astype(np.float16), model.sample_rate,
                             {"model": str(model_path), "steps": steps, "cfg_scale": cfg_scale, "eta": eta, "seed": seed,
                              "rms_per_impulse": float(meta.get("rms_per_impulse", 0.1))})
    bundle.save(out)
    return bundle
