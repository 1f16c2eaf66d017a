"""A feature scene with every part painted one flat colour, and an embedding that names the colour a crop shows:
lifting and segmentation can then be checked against the known parts."""

from __future__ import annotations

import numpy as np
import pytest

from vaf.runtime.scene_bundle import SceneBundle


@pytest.fixture()
def painted_scene(feature_scene):
    """(bundle, sorted part ids, embed) where embed((B, S, S, 3)) -> (B, parts) is the one-hot of the part colour
    most of a crop's exact-colour pixels show (pixels blended with the background do not vote)."""
    b = SceneBundle.load(feature_scene)
    parts = np.unique(b.labels[:, 1])
    palette = np.random.default_rng(0).random((parts.size, 3)).astype(np.float32) * 0.8 + 0.1
    b.gaussians.rgb = palette[np.searchsorted(parts, b.labels[:, 1])]
    b.gaussians.opacity[:] = 0.99

    def embed(crops: np.ndarray) -> np.ndarray:
        out = np.zeros((len(crops), parts.size), np.float32)
        for i, crop in enumerate(crops):
            d = ((crop.reshape(-1, 1, 3) - palette[None]) ** 2).sum(-1)
            votes = np.bincount(d[d.min(axis=1) < 1e-3].argmin(axis=1), minlength=parts.size)
            out[i, votes.argmax()] = 1.0 if votes.any() else 0.0
        return out

    return b, parts, embed
