"""`vaf scene build`: a bundle with per-Gaussian multi-level features; `vaf scene import`: a bundle from a plain .ply.

Build renders views of the splats (gsplat's CUDA kernels where a GPU is present, else the CPU
rasterizer: training/render), takes multi-level masks per view (the
bundle's own segment labels: oracle masks for synthetic scenes and for imports with labels; or
segment-anything from a local checkpoint, training/features/masks.py), embeds each mask's
metric crop with the image encoder (ONNX) and lifts the embeddings onto the Gaussians
(training/features/lift.py). With SAM masks the scene's segments come from the lifted features
(training/features/segments.py).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.gaussians import read_ply
from vaf.runtime.scene_bundle import UP_AXES, SceneBundle, Segment
from vaf.training.features.lift import LiftedFeatures, lift_features
from vaf.training.render import choose_renderer
from vaf.training.features.mask_cache import ResumableMasks
from vaf.training.features.masks import MaskSource, oracle_masks
from vaf.training.features.segments import segment_gaussians
from vaf.export.collision import collision_from_gaussians
from vaf.runtime.cameras import around_objects

FIELDS = ("lifted", "optimized")


def _field_method(field: str) -> Callable[..., LiftedFeatures]:
    """The function behind --field; the optimized field's torch is loaded only when asked for."""
    if field == "optimized":
        from vaf.training.features.field import fit_feature_field

        return fit_feature_field
    return lift_features


def _check_new_folder(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder (nothing was overwritten)")


def build_feature_scene(bundle_dir: str | Path, out: str | Path, encoders: OnnxEncoders, views: int = 60, image_size: int = 128,
                        seed: int = 0, progress: bool = True, masks: MaskSource | None = None,
                        segment_threshold: float = 0.9, field: str = "lifted", renderer: str = "auto") -> SceneBundle:
    """Copies the bundle to `out` with features added.

    masks None: the bundle's own segments are the masks (oracle). Given (e.g. SamMasks), the bundle is
    segmented anew from the features lifted from those masks (features/segments.py): new labels,
    segments and a collision mesh of one convex hull per subpart; ground-truth acoustics, tied to the
    old segments, are dropped. A source that names what its masks depend on (SamMasks from a checkpoint) keeps
    each view's masks in partial_folder(out) until the build is done: the same build run again after it stopped
    resumes there. field: "lifted" (closed form, features/lift.py) or "optimized" (LangSplat-style,
    features/field.py). renderer: "auto", "cpu" or "gsplat" (training/render)."""
    out = Path(out)
    _check_new_folder(out)
    if views < 1 or not 16 <= image_size <= 1024:
        raise ValueError(f"views must be >= 1 and image_size within 16..1024, got {views} and {image_size}")
    if field not in FIELDS:
        raise ValueError(f"field must be one of {', '.join(FIELDS)}, got {field!r}")
    renderer, render_view = choose_renderer(renderer)
    bundle = SceneBundle.load(bundle_dir)
    cams = around_objects(bundle.segments, views, image_size, np.random.default_rng(seed))
    masks_for = oracle_masks(bundle.labels) if masks is None else _resumable(masks, bundle_dir, out, views, image_size,
                                                                            seed, renderer, progress)
    lifted = _field_method(field)(bundle.gaussians, cams, masks_for, encoders.embed_images, encoders.dim,
                                  encoders.window_m, encoders.image_size, progress=progress, renderer=render_view)
    bundle.features = lifted.features.astype(np.float16)
    bundle.features_source = {"encoders": encoders.fingerprint, "views": views, "image_size": image_size,
                              "seen_fraction": round(float(lifted.seen.mean()), 4),
                              "masks": "oracle" if masks is None else type(masks).__name__, "field": field,
                              "renderer": renderer}
    if masks is not None:
        positions = bundle.gaussians.positions
        bundle.labels, bundle.segments = segment_gaussians(positions, lifted.features, lifted.seen, segment_threshold)
        bundle.collision_mesh = collision_from_gaussians(positions, bundle.labels)
        bundle.acoustics = None
        bundle.features_source["segment_threshold"] = segment_threshold
    bundle.save(out)
    if isinstance(masks_for, ResumableMasks):
        shutil.rmtree(masks_for.folder)
    return bundle


def partial_folder(out: Path) -> Path:
    """Where a build into `out` keeps its views' masks until it is done: beside `out`, `out` stays new until then."""
    return out.with_name(out.name + ".partial")


def _resumable(masks: MaskSource, bundle_dir: str | Path, out: Path, views: int, image_size: int, seed: int,
               renderer: str, progress: bool) -> MaskSource:
    """A source that names what its masks depend on (SamMasks from a checkpoint) keeps them per view in
    partial_folder(out), so a stopped build resumes (features/mask_cache.py); other sources are used as they are."""
    identity = getattr(masks, "identity", lambda: None)()
    if identity is None:
        return masks
    bundle_dir = Path(bundle_dir)
    manifest = (bundle_dir / "manifest.json").read_bytes()
    ply = (bundle_dir / json.loads(manifest)["gaussians"]).stat()
    key = {"bundle": str(bundle_dir.resolve()), "manifest_sha256": hashlib.sha256(manifest).hexdigest(),
           "gaussians_bytes": ply.st_size, "gaussians_modified_ns": ply.st_mtime_ns, "views": views,
           "image_size": image_size, "seed": seed, "renderer": renderer, "masks": identity}
    resumable = ResumableMasks(masks, partial_folder(out), key)
    if progress and resumable.kept:
        print(f"resuming: the masks of {resumable.kept} of {views} views are in {resumable.folder}", file=sys.stderr)
    return resumable


def import_ply(ply: str | Path, out: str | Path, name: str | None = None, up: str = "+y", handedness: str = "right") -> SceneBundle:
    """A bundle from a plain Inria .ply (any 3DGS tool): one segment at each level until masks split it."""
    out = Path(out)
    _check_new_folder(out)
    if up not in UP_AXES:
        raise ValueError(f"up must be one of {', '.join(UP_AXES)}, got {up!r}")
    if handedness not in ("right", "left"):
        raise ValueError(f"handedness must be right or left, got {handedness!r}")
    cloud = read_ply(ply)
    if len(cloud) == 0:
        raise ValueError(f"{ply}: no Gaussians")
    p = cloud.positions
    box = [[float(v) for v in p.min(axis=0)], [float(v) for v in p.max(axis=0)]]
    centre = [float(v) for v in p.mean(axis=0)]
    segments = [Segment(0, "object", centre, box, None, "scene"), Segment(1, "part", centre, box, 0, "scene"),
                Segment(2, "subpart", centre, box, 1, "scene")]
    labels = np.tile(np.array([2, 1, 0], np.int32), (len(cloud), 1))
    bundle = SceneBundle(name or Path(ply).stem, cloud, labels, segments, up=up, handedness=handedness,
                         source={"imported_from": str(ply)})
    bundle.save(out)
    shutil.copyfile(ply, out / "gaussians.ply")  # keep the user's file exactly, SH and all
    return bundle
