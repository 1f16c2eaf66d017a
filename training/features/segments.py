"""3D segments from lifted features: what per-view masks (SAM) mean in the scene.

SAM's ids differ from view to view, but the embeddings lifted from them agree on a thing seen
from many sides, so the segments are read off the lifted features. Two Gaussians are joined
when they are spatial neighbours (among each other's k nearest, closer than ``gap`` times the
scene's median neighbour distance); a segment grows from a seed Gaussian over such links,
taking in Gaussians whose feature at that level agrees with the seed's (cosine >=
``threshold``), seeds taken where features are most uniform first. Levels nest: objects come from the
object-level features, parts are components of part-level features within one object,
subparts likewise within one part. A component smaller than ``min_gaussians`` joins the
segment of its nearest Gaussian in a large component of the same parent; Gaussians no view saw
take the labels of their nearest seen Gaussian.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from vaf.runtime.scene_bundle import LEVELS, Segment, measure_segments


def _grow_regions(features: np.ndarray, neighbours: np.ndarray, near: np.ndarray, parent: np.ndarray,
                  threshold: float) -> np.ndarray:
    """(M,) region index of each Gaussian: regions grown from seeds over neighbour links within one parent,
    admitting a Gaussian whose feature agrees with the seed's (not with the last one admitted, which would
    chain across a soft boundary). Seeds are taken most-consistent-with-their-neighbours first."""
    valid = near & (parent[neighbours] == parent[:, None])
    agreement = np.einsum("id,ikd->ik", features, features[neighbours])
    consistency = np.where(valid, agreement, 0.0).sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
    region = np.full(len(features), -1, np.int64)
    count = 0
    for seed in np.argsort(-consistency, kind="stable"):
        if region[seed] >= 0:
            continue
        region[seed] = count
        stack = [seed]
        while stack:
            i = stack.pop()
            candidates = neighbours[i][valid[i]]
            candidates = candidates[region[candidates] < 0]
            admitted = candidates[features[candidates] @ features[seed] >= threshold]
            region[admitted] = count
            stack.extend(admitted.tolist())
        count += 1
    return region


def _components(features: np.ndarray, neighbours: np.ndarray, near: np.ndarray, parent: np.ndarray, threshold: float,
                min_gaussians: int, positions: np.ndarray) -> np.ndarray:
    """(M,) segment index of each Gaussian, segments nested in `parent` and at least min_gaussians large
    where the parent allows."""
    component = _grow_regions(features, neighbours, near, parent, threshold)
    sizes = np.bincount(component)
    large = sizes[component] >= min_gaussians
    for p in np.unique(parent):
        inside = parent == p
        donors, orphans = np.flatnonzero(inside & large), np.flatnonzero(inside & ~large)
        if not orphans.size:
            continue
        if not donors.size:  # only small pieces: the parent is one segment at this level
            component[orphans] = component[orphans[0]]
            continue
        _, nearest = cKDTree(positions[donors]).query(positions[orphans])
        component[orphans] = component[donors[nearest]]
    return np.unique(component, return_inverse=True)[1]


def segment_gaussians(positions: np.ndarray, features: np.ndarray, seen: np.ndarray, threshold: float = 0.9, k: int = 8,
                      gap: float = 4.0, min_gaussians: int = 50) -> tuple[np.ndarray, list[Segment]]:
    """positions: (N, 3) metres; features: (N, 3, D) unit rows per level (subpart, part, object); seen: (N,) bool.

    Returns labels (N, 3) int32 (subpart, part, object ids, unique across levels) and the segments, measured."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be within (0, 1], got {threshold}")
    visible = np.flatnonzero(seen)
    if visible.size < 2:
        raise ValueError("fewer than two Gaussians were seen: nothing to segment (more views?)")
    p = positions[visible].astype(np.float64)
    distance, neighbours = cKDTree(p).query(p, k=min(k + 1, len(p)))
    near = distance <= gap * max(float(np.median(distance[:, 1])), 1e-9)
    f = features[visible].astype(np.float32)
    labels = np.zeros((len(visible), 3), np.int64)
    parent = np.zeros(len(visible), np.int64)
    next_id = 0
    for level in (2, 1, 0):  # object, part, subpart: each nested in the one before
        component = _components(f[:, level], neighbours, near, parent, threshold, min_gaussians, p)
        labels[:, level] = component + next_id
        next_id += int(component.max()) + 1
        parent = labels[:, level]
    full = np.empty((len(positions), 3), np.int32)
    full[visible] = labels
    hidden = np.flatnonzero(~seen)
    if hidden.size:
        _, nearest = cKDTree(p).query(positions[hidden])
        full[hidden] = labels[nearest]
    records = []
    for level in (2, 1, 0):
        ids, first = np.unique(full[:, level], return_index=True)
        for sid, i in zip(ids, first):
            records.append({"id": int(sid), "level": LEVELS[level], "parent": None if level == 2 else int(full[i, level + 1])})
    return full, measure_segments(records, positions, full)
