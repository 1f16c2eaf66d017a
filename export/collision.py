"""A collision mesh built from the Gaussians: one convex hull per subpart segment.

For scenes that come without geometry (imported captures segmented by SAM): a game engine gets
one node per subpart, named ``seg_<id>`` as in every bundle (docs/scene-bundle.md), so a hit on
a node names the segment it struck. Convex hulls are coarse for concave parts (a bowl becomes
a lid-on bowl) but cheap, watertight and what physics engines collide fastest.
"""

from __future__ import annotations

import numpy as np
import trimesh
from scipy.spatial import QhullError

MIN_EXTENT_M = 0.002  # flat segments (a decal, a floor patch) are thickened to this for the hull


def segment_hull(points: np.ndarray) -> trimesh.Trimesh:
    """(P, 3) metres -> the convex hull; a flat or tiny point set becomes its (thickened) bounding box."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    if len(points) >= 4 and np.all(hi - lo > MIN_EXTENT_M):
        try:
            return trimesh.convex.convex_hull(points)
        except QhullError:
            pass
    extent = np.maximum(hi - lo, MIN_EXTENT_M)
    return trimesh.creation.box(extents=extent, transform=trimesh.transformations.translation_matrix((lo + hi) / 2))


def collision_from_gaussians(positions: np.ndarray, labels: np.ndarray) -> bytes:
    """positions: (N, 3) metres; labels: (N, 3) segment ids (subpart, part, object) -> .glb bytes."""
    scene = trimesh.Scene()
    for sid in np.unique(labels[:, 0]):
        name = f"seg_{int(sid)}"
        scene.add_geometry(segment_hull(positions[labels[:, 0] == sid].astype(np.float64)), node_name=name, geom_name=name)
    return scene.export(file_type="glb")
