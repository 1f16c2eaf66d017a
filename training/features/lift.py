"""Training-free lifting of segment embeddings onto Gaussians (as in LUDVIG-style lifting).

For every view and every level (subpart, part, object), each segment mask is cut out as a
metric crop and embedded; a Gaussian's feature at that level is the rendering-weight
weighted average of the embeddings of the masks it contributes to, over all views:

    f_g = sum_views sum_pixels w(g, p) E[mask(p)] / sum_views sum_pixels w(g, p)

then normalised. A Gaussian counts as seen when it is the front-most contributor of at least
one pixel in some view; the others (bottom faces, hidden sides) would only average their
occluders' masks, so they keep a zero feature (and `seen` False) and localization skips them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
from scipy.sparse import coo_matrix
from tqdm import tqdm

from vaf.runtime.gaussians import GaussianCloud
from vaf.training.features.crops import metric_crop
from vaf.training.features.masks import MaskSource
from vaf.runtime.cameras import PinholeCamera
from vaf.training.render.rasterizer import render

LEVELS = ("subpart", "part", "object")


@dataclass
class LiftedFeatures:
    """features: (N, 3, D) float32, unit rows (zero where unseen); seen: (N,) bool; views: count used."""

    features: np.ndarray
    seen: np.ndarray
    views: int


def lift_features(cloud: GaussianCloud, cameras: Iterable[PinholeCamera], masks_for: MaskSource,
                  embed: Callable[[np.ndarray], np.ndarray], dim: int, window_m: float, crop_size: int,
                  progress: bool = False) -> LiftedFeatures:
    """masks_for(view) -> (H, W, 3) segment ids per level (features/masks.py); embed((B, S, S, 3)) -> (B, dim)."""
    n = len(cloud)
    acc = np.zeros((len(LEVELS), n, dim))
    weight = np.zeros((len(LEVELS), n))
    front = np.zeros(n, np.int64)  # pixels where each Gaussian is the top contributor
    cameras = list(cameras)
    for cam in tqdm(cameras, desc="views", unit="view", disable=not progress):
        view = render(cloud, cam)
        front += np.bincount(view.top[view.top >= 0], minlength=n)
        ids = masks_for(view)
        contrib = view.contributions
        for level in range(len(LEVELS)):
            segment_map = ids[..., level]
            segments = [s for s in np.unique(segment_map) if s >= 0]
            crops, kept = [], []
            for s in segments:
                crop = metric_crop(view.rgb, segment_map == s, view.depth, cam.fx, window_m, crop_size)
                if crop is not None:
                    crops.append(crop)
                    kept.append(s)
            if not kept:
                continue
            emb = embed(np.stack(crops))
            # pixel -> row of emb (or -1), then a sparse (Gaussians x masks) weight matrix times emb
            lookup = np.full(int(segment_map.max()) + 2, -1)
            lookup[np.array(kept)] = np.arange(len(kept))
            rows = lookup[segment_map.ravel()[contrib.pixel]]
            ok = rows >= 0
            w = coo_matrix((contrib.weight[ok], (contrib.gaussian[ok], rows[ok])), shape=(n, len(kept))).tocsr()
            acc[level] += w @ emb
            weight[level] += np.asarray(w.sum(axis=1)).ravel()
    seen = (front > 0) & (weight[1] > 1e-6)
    with np.errstate(invalid="ignore", divide="ignore"):
        feats = acc / weight[..., None]
    feats = np.nan_to_num(feats) * seen[None, :, None]
    norms = np.linalg.norm(feats, axis=-1, keepdims=True)
    feats = np.where(norms > 1e-9, feats / np.maximum(norms, 1e-9), 0.0)
    return LiftedFeatures(np.transpose(feats, (1, 0, 2)).astype(np.float32), seen, len(cameras))
