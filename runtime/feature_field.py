"""A scene's per-Gaussian multi-level features, queried at points in space.

The value at a point is the mean of the features of its ``k`` nearest seen Gaussians (seen:
some view lit them, so they carry a feature), renormalised per level. A point farther than
``max_distance`` from every seen Gaussian has no feature: callers fall back or report it.
"""

from __future__ import annotations

import numpy as np

from vaf import _native

NEIGHBOURS = 8
MAX_DISTANCE_M = 0.1


class FeatureField:
    """positions: (N, 3) metres; features: (N, L, D) with zero rows for unseen Gaussians."""

    def __init__(self, positions: np.ndarray, features: np.ndarray, neighbours: int = NEIGHBOURS,
                 max_distance: float = MAX_DISTANCE_M):
        seen = np.abs(features).max(axis=(1, 2)) > 0
        if not seen.any():
            raise ValueError("no Gaussian has a feature: nothing was seen when the features were built")
        self.features = np.ascontiguousarray(features[seen], np.float32)
        self.index = _native.SurfaceIndex(np.asarray(positions, np.float32)[seen])
        self.neighbours = min(neighbours, int(seen.sum()))
        self.max_distance = max_distance
        self.levels, self.dim = features.shape[1], features.shape[2]

    def query(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 3) metres -> features (B, L, D) float32 unit rows, and found (B,) bool (False: too far
        from every seen Gaussian; its row is zero)."""
        points = np.asarray(points, np.float32).reshape(-1, 3)
        distance, index = self.index.nearest(points, k=self.neighbours)
        distance, index = distance.reshape(len(points), -1), index.reshape(len(points), -1)
        mean = self.features[index].mean(axis=1)
        norm = np.linalg.norm(mean, axis=2, keepdims=True)
        found = (distance[:, 0] <= self.max_distance) & (norm[:, :, 0] > 1e-6).all(axis=1)
        out = np.where(found[:, None, None], mean / np.maximum(norm, 1e-12), 0.0)
        return out.astype(np.float32), found
