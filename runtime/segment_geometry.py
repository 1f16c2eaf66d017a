"""How big each segment of a scene is, and where on it a hit lands, measured on its Gaussians:
what a struck object's pitch depends on, and what an image embedding of a scale-normalised crop
(the same for every point of a segment) cannot say.

A segment's extents are the spans of its Gaussian centres along their principal axes (2nd to
98th percentile, so a few stray Gaussians do not stretch it), largest first, in metres:
rotation-invariant, so a yawed shelf measures the same as an axis-aligned one. A plate's
smallest extent is its thickness, a bar's its cross-section; for a hollow shell the wall is not
seen, only the radius. Which of a body's modes a hit excites depends on where it lands (a hit
at the centre of a plate cannot excite a mode with a node line there), so the generator also
reads the hit's place on its subpart: its distance from the subpart's centre along each
principal axis, as a fraction of the extent (0 at the centre, 0.5 at the edge; unsigned, since
the axes' signs are arbitrary and the modes of symmetric bodies are symmetric).

``describe(subpart, part, points)`` gives (B, GEOMETRY_DIM): ln extents (metres) of the subpart,
then of its part, then the hit's three fractions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GEOMETRY_DIM = 9  # three extents of the subpart, three of the part, the hit's place on the subpart
EXTENT_DIMS = 6  # the ln extents come first
MIN_EXTENT_M = 1e-3  # below this a span is measurement noise: a single Gaussian, a flat decal


@dataclass(frozen=True)
class SegmentShape:
    """centre: (3,) metres; axes: (3, 3) principal directions as rows, largest extent first; extents: (3,) metres."""

    centre: np.ndarray
    axes: np.ndarray
    extents: np.ndarray


def principal_shape(points: np.ndarray) -> SegmentShape:
    """(P, 3) metres -> centre, principal axes and spans along them (largest first, >= MIN_EXTENT_M)."""
    points = np.asarray(points, np.float64)
    if len(points) < 2:
        centre = points.mean(axis=0) if len(points) else np.zeros(3)
        return SegmentShape(centre, np.eye(3), np.full(3, MIN_EXTENT_M))
    centre = points.mean(axis=0)
    _, vectors = np.linalg.eigh((points - centre).T @ (points - centre))
    projected = (points - centre) @ vectors
    low, high = np.percentile(projected, 2, axis=0), np.percentile(projected, 98, axis=0)
    order = np.argsort(high - low)[::-1]
    middle = centre + vectors @ (0.5 * (low + high))  # the span's middle, not the mean: uneven sampling does not shift it
    return SegmentShape(middle, vectors[:, order].T, np.maximum((high - low)[order], MIN_EXTENT_M))


def principal_extents(points: np.ndarray) -> np.ndarray:
    """(P, 3) metres -> (3,) spans along the principal axes, largest first, metres."""
    return principal_shape(points).extents


class SegmentGeometry:
    """Principal shapes of every segment at the subpart and part levels of one scene.

    positions: (N, 3) Gaussian centres, metres; labels: (N, 3) int segment ids (subpart, part, object)."""

    def __init__(self, positions: np.ndarray, labels: np.ndarray):
        labels = np.asarray(labels)
        if labels.ndim != 2 or labels.shape[0] != len(positions) or labels.shape[1] < 2:
            raise ValueError(f"labels: shape {labels.shape}, expected ({len(positions)}, 3)")
        self.shapes: dict[int, SegmentShape] = {}
        for level in (0, 1):
            ids, inverse = np.unique(labels[:, level], return_inverse=True)
            order = np.argsort(inverse, kind="stable")
            bounds = np.searchsorted(inverse[order], np.arange(len(ids) + 1))
            for k, segment in enumerate(ids):
                self.shapes[int(segment)] = principal_shape(positions[order[bounds[k] : bounds[k + 1]]])

    def known(self, subpart: np.ndarray, part: np.ndarray) -> np.ndarray:
        """(B,) bool: both segments have Gaussians (describe() works for them)."""
        return np.array([int(s) in self.shapes and int(p) in self.shapes for s, p in zip(subpart, part)], bool)

    def describe(self, subpart: np.ndarray, part: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(B,) subpart ids, (B,) part ids, (B, 3) hit points (metres) -> (B, GEOMETRY_DIM) float32: ln extents of
        the subpart and the part, then the hit's distance from the subpart's centre per axis / extent (clipped
        to 0..1). KeyError naming the id for a segment the scene does not have."""
        points = np.asarray(points, np.float64).reshape(-1, 3)
        rows = []
        for s, p, x in zip(np.asarray(subpart).ravel(), np.asarray(part).ravel(), points):
            for segment in (int(s), int(p)):
                if segment not in self.shapes:
                    raise KeyError(f"segment {segment} has no Gaussians in this scene")
            sub, whole = self.shapes[int(s)], self.shapes[int(p)]
            place = np.clip(np.abs(sub.axes @ (x - sub.centre)) / sub.extents, 0.0, 1.0)
            rows.append(np.concatenate([np.log(sub.extents), np.log(whole.extents), place]))
        return np.array(rows, np.float64).reshape(-1, GEOMETRY_DIM).astype(np.float32)
