"""Scenes the server knows (a catalogue of bundles) and scenes it has loaded (with a surface index)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vaf import _native
from vaf.runtime.feature_field import FeatureField
from vaf.runtime.localization import SceneLocalizer
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.segment_geometry import SegmentGeometry

DEMO_SCENE = Path(__file__).resolve().parent / "assets" / "demo_scene"
DEFAULT_SURFACE_TOLERANCE = 0.05  # metres: a contact farther than this from every surface is rejected
WARM_POLICIES = ("auto", "always", "never")
# Warming a scene (running the real-time generator on every surface sample at load) costs ~30 µs
# and ~0.7 KB per sample (the demo scene's 8 204: 0.24 s). A first hit on a cold spot costs ~0.4 ms
# more round trip on a busy server, ~0.55 ms after the server has idled (docs/benchmarks.md), so up
# to this size warming pays for itself; larger surfaces (a captured scene's Gaussian centres, often
# millions) stay lazy under "auto".
WARM_AUTO_LIMIT = 50_000

log = logging.getLogger("vaf.runtime")

# Assets a client can download with scene_asset: name -> (attribute, media type).
ASSETS = {
    "splat": ("splat", "application/x-ply"),
    "collision": ("collision_mesh", "model/gltf-binary"),
    "preview": ("preview_png", "image/png"),
}


@dataclass
class SceneSurface:
    """Nearest-surface queries. points: (M, 3) float32 surface samples (the acoustic points of a synthetic
    scene, else the Gaussian centres); radius: (M,) metres of surface each sample stands for; labels:
    (M, 3) int32 (subpart, part, object) ids; index: the native kd-tree a contact is placed with."""

    points: np.ndarray
    radius: np.ndarray
    labels: np.ndarray
    index: _native.SurfaceIndex

    @classmethod
    def of(cls, bundle: SceneBundle) -> SceneSurface:
        a = bundle.acoustics
        if a is not None:
            parents = {s.id: s.parent for s in bundle.segments}
            sub = a.unit_segment[a.unit]
            part = np.array([parents[int(s)] for s in a.unit_segment], np.int32)[a.unit]
            obj = np.array([parents[parents[int(s)]] for s in a.unit_segment], np.int32)[a.unit]
            return cls(a.points, a.patch_radius, np.stack([sub, part, obj], axis=1), _native.SurfaceIndex(a.points))
        g = bundle.gaussians
        return cls(g.positions, 3.0 * g.scales.max(axis=1), bundle.labels, _native.SurfaceIndex(g.positions))

    def nearest(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, 3) query points -> distances (B,) metres off the surface and indices (B,) of the nearest samples.

        The distance is to the sample's patch, not its centre: 0 within patch_radius of the sample. One native
        call: scipy's kd-tree spends ~50 µs per call on its Python-side handling, ~0.3 ms after the server has
        idled (docs/benchmarks.md), which a contact on its own pays in full."""
        d, i = self.index.nearest(points)
        i = i.astype(np.intp)
        return np.maximum(0.0, d - self.radius[i]), i

    def neighbours(self, point: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(3,) point -> distances (k,) metres to its k nearest sample centres, nearest first (a tie: the lower
        index first), and their indices (k,)."""
        d, i = self.index.nearest(np.reshape(point, (1, 3)), k=k)
        return d.reshape(k), i.reshape(k).astype(np.intp)


@dataclass
class LoadedScene:
    scene_id: str
    bundle: SceneBundle
    surface: SceneSurface
    splat: bytes  # the .ply as loaded, for scene_asset
    localizer: SceneLocalizer | None = None  # when the bundle has features
    feature_field: FeatureField | None = None  # likewise
    geometry: SegmentGeometry | None = None  # likewise: segment extents for the real-time generator
    # What deterministic generators made at each surface sample, by generator name then sample index.
    memo: dict[str, dict[int, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, scene_id: str, bundle: SceneBundle, splat: bytes = b"") -> LoadedScene:
        """The scene with its surface index and, when the bundle has features, what reads them."""
        if bundle.features is None:
            return cls(scene_id, bundle, SceneSurface.of(bundle), splat)
        return cls(scene_id, bundle, SceneSurface.of(bundle), splat, SceneLocalizer(bundle),
                   FeatureField(bundle.gaussians.positions, bundle.features),
                   SegmentGeometry(bundle.gaussians.positions, bundle.labels))

    @property
    def collision_mesh(self) -> bytes | None:
        return self.bundle.collision_mesh

    @property
    def preview_png(self) -> bytes | None:
        return self.bundle.preview_png

    def asset(self, name: str) -> tuple[bytes | None, str]:
        attribute, media_type = ASSETS[name]
        return getattr(self, attribute), media_type


class SceneCatalog:
    """Names the server can load by: the embedded demo, --scene bundles and every bundle in --scene-dir.

    A scene_id is the name or path it was loaded by, so any worker can load it on demand.
    """

    def __init__(self, scenes: list[str] | None = None, scene_dirs: list[str] | None = None, allow_paths: bool = True):
        self.allow_paths = allow_paths
        self.paths: dict[str, Path] = {}
        if DEMO_SCENE.is_dir():
            self.paths["demo"] = DEMO_SCENE
        for d in scene_dirs or []:
            for manifest in sorted(Path(d).glob("*/manifest.json")):
                self.paths.setdefault(manifest.parent.name, manifest.parent)
        self.preload = []
        for ref in scenes or []:
            path = Path(ref)
            if path.is_dir():
                self.paths.setdefault(path.name, path.resolve())
                self.preload.append(path.name)
            elif ref in self.paths:
                self.preload.append(ref)
            else:
                raise ValueError(f"--scene {ref!r}: neither a bundle folder nor a known scene name ({', '.join(self.paths)})")
        self.loaded: dict[str, LoadedScene] = {}

    def resolve(self, ref: str) -> tuple[str, Path]:
        """(scene_id, folder) for a name or a bundle path; KeyError if unknown, PermissionError if paths are off."""
        if ref in self.paths:
            return ref, self.paths[ref]
        path = Path(ref)
        if path.is_absolute():
            if not self.allow_paths:
                raise PermissionError("loading scenes by path is disabled on this server (it is not bound to loopback)")
            if (path / "manifest.json").is_file():
                return str(path), path
        raise KeyError(ref)

    def load(self, ref: str) -> LoadedScene:
        """Loads (once) and returns a scene; ValueError for a broken bundle."""
        scene_id, folder = self.resolve(ref)
        if scene_id not in self.loaded:
            bundle = SceneBundle.load(folder)
            self.loaded[scene_id] = LoadedScene.of(scene_id, bundle, (folder / "gaussians.ply").read_bytes())
            log.info("scene loaded", extra={"fields": {"scene_id": scene_id, "gaussians": len(bundle.gaussians)}})
        return self.loaded[scene_id]
