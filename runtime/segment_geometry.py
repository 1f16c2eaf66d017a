"""How big each segment of a scene is, measured on its Gaussians: what a struck object's pitch
depends on, and what an image embedding of a scale-normalised crop cannot say.

A segment's extents are the spans of its Gaussian centres along their principal axes (2nd to
98th percentile, so a few stray Gaussians do not stretch it), largest first, in metres:
rotation-invariant, so a yawed shelf measures the same as an axis-aligned one. A plate's
smallest extent is its thickness, a bar's its cross-section; for a hollow shell the wall is not
seen, only the radius. The generator reads them as ``describe(subpart, part)``: the natural log
of the three extents of the struck subpart, then of its part, (B, 6).
"""

from __future__ import annotations

import numpy as np

GEOMETRY_DIM = 6  # three extents of the subpart, three of the part
MIN_EXTENT_M = 1e-3  # below this a span is measurement noise: a single Gaussian, a flat decal


def principal_extents(points: np.ndarray) -> np.ndarray:
    """(P, 3) metres -> (3,) float64 spans along the principal axes, largest first, metres (>= MIN_EXTENT_M)."""
    points = np.asarray(points, np.float64)
    if len(points) < 2:
        return np.full(3, MIN_EXTENT_M)
    centred = points - points.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    projected = centred @ vectors
    span = np.percentile(projected, 98, axis=0) - np.percentile(projected, 2, axis=0)
    return np.maximum(np.sort(span)[::-1], MIN_EXTENT_M)


class SegmentGeometry:
    """Principal extents of every segment at the subpart and part levels of one scene.

    positions: (N, 3) Gaussian centres, metres; labels: (N, 3) int segment ids (subpart, part, object)."""

    def __init__(self, positions: np.ndarray, labels: np.ndarray):
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[0] != len(positions) or labels.shape[1] < 2:
            raise ValueError(f"labels: shape {labels.shape}, expected ({len(positions)}, 3)")
        self.extents: dict[int, np.ndarray] = {}
        for level in (0, 1):
            ids, inverse = np.unique(labels[:, level], return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            bounds = np.searchsorted(inverse[order], np.arange(len(ids) + 1))
            for k, segment in enumerate(ids):
                self.extents[int(segment)] = principal_extents(positions[order[bounds[k] : bounds[k + 1]]])

    def known(self, subpart: np.ndarray, part: np.ndarray) -> np.ndarray:
        """(B,) bool: both segments have Gaussians (describe() works for them)."""
        return np.array([int(s) in self.extents and int(p) in self.extents for s, p in zip(subpart, part)], bool)

    def describe(self, subpart: np.ndarray, part: np.ndarray) -> np.ndarray:
        """(B,) subpart ids, (B,) part ids -> (B, GEOMETRY_DIM) float32 ln(extent / 1 m).

        KeyError naming the id for a segment the scene does not have."""
        rows = []
        for s, p in zip(np.asarray(subpart).ravel(), np.asarray(part).ravel()):
            for segment in (int(s), int(p)):
                if segment not in self.extents:
                    raise KeyError(f"segment {segment} has no Gaussians in this scene")
            rows.append(np.concatenate([self.extents[int(s)], self.extents[int(p)]]))
        return np.log(np.array(rows, np.float64).reshape(-1, GEOMETRY_DIM)).astype(np.float32)
