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
from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.images import colormap, draw_points, png_bytes
from vaf.runtime.room import Room, reverberate
from vaf.runtime.scene_bundle import LEVELS, SceneBundle

LOCALIZE_ROOM_SEED = 0  # the room tail a localize request's clip is heard with: the same clip and room, the same answer


def localize_embedding(encoders: OnnxEncoders, audio: np.ndarray, sample_rate: int, room: Room | None = None) -> np.ndarray:
    """What `localize` ranks with: the clip ((T,) any rate) heard in `room` first if given (a dry clip, in the
    room the encoders' recordings were made in), embedded: (D,) float32. ValueError if denoising leaves nothing."""
    heard = audio if room is None else reverberate(audio, room, sample_rate, LOCALIZE_ROOM_SEED)
    return encoders.embed_sound(heard, sample_rate)


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


@dataclass
class SegmentGroups:
    """One level's seen Gaussians grouped by segment: segment j holds rows starts[j]:starts[j] + counts[j] of
    features ((M, D) float32) and positions ((M, 3) float64, metres); ids: (S,) segment ids; mean_features: (S, D)."""

    ids: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    features: np.ndarray
    positions: np.ndarray
    mean_features: np.ndarray

    def rows(self, j: int) -> slice:
        return slice(int(self.starts[j]), int(self.starts[j] + self.counts[j]))


class SceneLocalizer:
    """Per level, the seen Gaussians grouped by segment (SegmentGroups). A segment's mean score is its mean feature's
    dot product with the clip's embedding, so ranking is one (segments, D) product whatever the scene's size; only
    the top segments' Gaussians are scored, for their positions (a captured scene has millions of Gaussians)."""

    def __init__(self, bundle: SceneBundle):
        if bundle.features is None:
            raise ValueError(f"scene {bundle.name!r} has no features (build them with `vaf scene build`)")
        self.bundle = bundle
        seen = np.abs(bundle.features[:, 1, :]).max(axis=1) > 0
        positions = bundle.gaussians.positions[seen].astype(np.float64)
        self.levels = []
        for k in range(len(LEVELS)):
            labels = bundle.labels[seen, k]
            order = np.argsort(labels, kind="stable")
            ids, starts, counts = np.unique(labels[order], return_index=True, return_counts=True)
            features = np.ascontiguousarray(bundle.features[seen, k, :][order], np.float32)
            mean = np.add.reduceat(features.astype(np.float64), starts, axis=0) / counts[:, None]
            self.levels.append(SegmentGroups(ids, starts, counts, features, positions[order], mean))
        self.dim = bundle.features.shape[2]

    def rank(self, embedding: np.ndarray, level: str = "part", top_k: int = 3) -> list[LocalizedSegment]:
        groups = self.levels[LEVELS.index(level)]
        embedding = np.asarray(embedding, np.float32)
        mean = groups.mean_features @ embedding.astype(np.float64)
        out = []
        for j in np.argsort(-mean, kind="stable")[:top_k]:
            rows = groups.rows(j)
            weights = np.maximum(groups.features[rows] @ embedding - mean[j], 0.0) + 1e-3
            centre = weights @ groups.positions[rows] / weights.sum()
            seg = self.bundle.segment(int(groups.ids[j]))
            out.append(LocalizedSegment(seg.id, seg.level, round(float(mean[j]), 6), [round(float(v), 5) for v in centre],
                                        seg.bbox, seg.label, seg.material))
        return out

    def heatmap(self, embedding: np.ndarray, camera: PinholeCamera, level: str = "part") -> bytes:
        """PNG seen from `camera`: each Gaussian coloured by its score (dark: unlike the clip, light: like it),
        nearest Gaussian in front, drawn as a small square; the scene's score range spans the ramp."""
        groups = self.levels[LEVELS.index(level)]
        scores = groups.features @ np.asarray(embedding, np.float32)
        value = (scores - scores.min()) / max(float(np.ptp(scores)), 1e-9)
        uv, z = camera.project(groups.positions)
        front = z > 0.05
        image = np.full((camera.height, camera.width, 3), 16, np.uint8)
        draw_points(image, np.floor(uv[front, 0]).astype(int), np.floor(uv[front, 1]).astype(int), z[front],
                    colormap(value[front]), radius=1)
        return png_bytes(image)
