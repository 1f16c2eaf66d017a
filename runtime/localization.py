"""Sound localization: where in a scene did a clip come from.

The clip's embedding (audio encoder, ONNX) is dotted with every Gaussian's feature at one
level; a segment's score is the **mean** score of its Gaussians that some view saw (so big
segments do not win by size); the top segments are returned with a score-weighted position:
the centroid of the segment's Gaussians weighted by how far each scores above the segment's
mean (plus a small floor), i.e. the part of the segment that sounds most like the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaf.runtime.cameras import PinholeCamera
from vaf.runtime.images import colormap, draw_points, png_bytes
from vaf.runtime.scene_bundle import LEVELS, SceneBundle


@dataclass
class LocalizedSegment:
    """id, level, label, material: the segment; score: mean dot product in [-1, 1]; position: (3,) metres."""

    id: int
    level: str
    score: float
    position: list[float]
    bbox: list[list[float]]
    label: str | None
    material: str | None


class SceneLocalizer:
    """Precomputed per-level features of one scene's seen Gaussians (float32) and their segment indices."""

    def __init__(self, bundle: SceneBundle):
        if bundle.features is None:
            raise ValueError(f"scene {bundle.name!r} has no features (build them with `vaf scene build`)")
        self.bundle = bundle
        seen = np.abs(bundle.features[:, 1, :]).max(axis=1) > 0
        self.positions = bundle.gaussians.positions[seen].astype(np.float64)
        self.features = [np.ascontiguousarray(bundle.features[seen, k, :], np.float32) for k in range(len(LEVELS))]
        self.segments, self.inverse, self.counts = [], [], []
        for k in range(len(LEVELS)):
            ids, inverse, counts = np.unique(bundle.labels[seen, k], return_inverse=True, return_counts=True)
            self.segments.append(ids)
            self.inverse.append(inverse)
            self.counts.append(counts)
        self.dim = bundle.features.shape[2]

    def rank(self, embedding: np.ndarray, level: str = "part", top_k: int = 3) -> list[LocalizedSegment]:
        k = LEVELS.index(level)
        scores = self.features[k] @ np.asarray(embedding, np.float32)
        inverse, counts = self.inverse[k], self.counts[k]
        mean = np.bincount(inverse, scores, minlength=counts.size) / counts
        weights = np.maximum(scores - mean[inverse], 0.0) + 1e-3
        total = np.bincount(inverse, weights, minlength=counts.size)
        centre = np.stack([np.bincount(inverse, weights * self.positions[:, c], minlength=counts.size) for c in range(3)], 1)
        centre /= total[:, None]
        out = []
        for j in np.argsort(-mean)[:top_k]:
            seg = self.bundle.segment(int(self.segments[k][j]))
            out.append(LocalizedSegment(seg.id, seg.level, round(float(mean[j]), 6), [round(float(v), 5) for v in centre[j]],
                                        seg.bbox, seg.label, seg.material))
        return out

    def heatmap(self, embedding: np.ndarray, camera: PinholeCamera, level: str = "part") -> bytes:
        """PNG seen from `camera`: each Gaussian coloured by its score (dark: unlike the clip, light: like it),
        nearest Gaussian in front, drawn as a small square; the scene's score range spans the ramp."""
        scores = self.features[LEVELS.index(level)] @ np.asarray(embedding, np.float32)
        value = (scores - scores.min()) / max(float(np.ptp(scores)), 1e-9)
        uv, z = camera.project(self.positions)
        front = z > 0.05
        image = np.full((camera.height, camera.width, 3), 16, np.uint8)
        draw_points(image, np.floor(uv[front, 0]).astype(int), np.floor(uv[front, 1]).astype(int), z[front],
                    colormap(value[front]), radius=1)
        return png_bytes(image)
