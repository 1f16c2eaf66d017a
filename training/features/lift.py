"""Training-free lifting of segment embeddings onto Gaussians (as in LUDVIG-style lifting).

For every view and every level (subpart, part, object), each segment mask is cut out as a
metric crop and embedded; a Gaussian's feature at that level is the rendering-weight
weighted average of the embeddings of the masks it contributes to, over all views:

    f_g = sum_views sum_pixels w(g, p) E[mask(p)] / sum_views sum_pixels w(g, p)

then normalised. A Gaussian counts as seen when it is the front-most contributor of at least
one pixel in some view; the others (bottom faces, hidden sides) would only average their
occluders' masks, so they keep a zero feature (and `seen` False) and localization skips them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
from tqdm import tqdm

from vaf import _native
from vaf.runtime.cameras import PinholeCamera, around_objects
from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.gaussians import GaussianCloud
from vaf.runtime.scene_bundle import SceneBundle
from vaf.training.features.crops import metric_crop
from vaf.training.features.masks import MaskSource, oracle_masks
from vaf.training.render.rasterizer import Contributions, render
from vaf.training.render import Renderer

LEVELS = ("subpart", "part", "object")


@dataclass
class LiftedFeatures:
    """features: (N, 3, D) float32, unit rows (zero where unseen); seen: (N,) bool; views: count used."""

    features: np.ndarray
    seen: np.ndarray
    views: int


@dataclass
class EmbeddedView:
    """One rendered view with its masks embedded. contributions: the view's (pixel, Gaussian, weight) triples;
    top: (H, W) front-most Gaussian (-1: none); mask_of_pixel: (3, H * W) row of that level's embeddings for each
    pixel, -1 where no (embeddable) mask covers it; embeddings: per level, (M, D)."""

    contributions: Contributions
    top: np.ndarray
    mask_of_pixel: np.ndarray
    embeddings: list[np.ndarray]


def embedded_views(cloud: GaussianCloud, cameras: Iterable[PinholeCamera], masks_for: MaskSource,
                   embed: Callable[[np.ndarray], np.ndarray], dim: int, window_m: float, crop_size: int,
                   progress: bool = False, renderer: Renderer = render) -> Iterator[EmbeddedView]:
    """Renders each camera (CPU rasterizer unless `renderer` says otherwise, training/render), takes its
    masks (features/masks.py) and embeds each mask's metric crop."""
    cameras = list(cameras)
    for cam in tqdm(cameras, desc="views", unit="view", disable=not progress):
        view = renderer(cloud, cam)
        ids = masks_for(view)
        mask_of_pixel = np.full((len(LEVELS), ids.shape[0] * ids.shape[1]), -1, np.int64)
        embeddings = []
        for level in range(len(LEVELS)):
            segment_map = ids[..., level]
            crops, kept = [], []
            for s in (s for s in np.unique(segment_map) if s >= 0):
                crop = metric_crop(view.rgb, segment_map == s, view.depth, cam.fx, window_m, crop_size)
                if crop is not None:
                    crops.append(crop)
                    kept.append(s)
            embeddings.append(embed(np.stack(crops)) if kept else np.zeros((0, dim), np.float32))
            if kept:
                lookup = np.full(int(segment_map.max()) + 2, -1)
                lookup[np.array(kept)] = np.arange(len(kept))
                mask_of_pixel[level] = lookup[segment_map.ravel()]
        yield EmbeddedView(view.contributions, view.top, mask_of_pixel, embeddings)


def front_counts(views: Iterable[EmbeddedView], count: int) -> np.ndarray:
    """(count,) pixels where each Gaussian is the front-most contributor, over the views."""
    return sum((np.bincount(v.top[v.top >= 0], minlength=count) for v in views), np.zeros(count, np.int64))


def lift_features(cloud: GaussianCloud, cameras: Iterable[PinholeCamera], masks_for: MaskSource,
                  embed: Callable[[np.ndarray], np.ndarray], dim: int, window_m: float, crop_size: int,
                  progress: bool = False, renderer: Renderer = render) -> LiftedFeatures:
    """masks_for(view) -> (H, W, 3) segment ids per level (features/masks.py); embed((B, S, S, 3)) -> (B, dim)."""
    views = embedded_views(cloud, cameras, masks_for, embed, dim, window_m, crop_size, progress, renderer)
    return lift_views(views, len(cloud), dim)


def lift_oracle_views(bundle: SceneBundle, encoders: OnnxEncoders, views: int, seed: int = 0) -> LiftedFeatures:
    """A sounding-world scene's features as its evaluations and the generator's training data lift them: `views`
    cameras of 128 px around its objects (drawn from `seed`), masks from its own segment labels."""
    cameras = around_objects(bundle.segments, views, 128, np.random.default_rng(seed))
    return lift_features(bundle.gaussians, cameras, oracle_masks(bundle.labels), encoders.embed_images, encoders.dim,
                         encoders.window_m, encoders.image_size)


def lift_views(views: Iterable[EmbeddedView], count: int, dim: int) -> LiftedFeatures:
    """The closed-form lift (module docstring) of embedded views onto `count` Gaussians: each view's pairs are added
    to running sums in native code (`vaf._native.lift_add_view`; tests hold it to this formula written as loops)."""
    # One float32 (N, 3, D) array, filled and finished in place: a capture has millions of Gaussians, and each
    # float64 (N, 3, D) temporary would cost 1.5 GB per million of them.
    feats = np.zeros((count, len(LEVELS), dim), np.float32)
    weight = np.zeros((count, len(LEVELS)))
    front = np.zeros(count, np.int64)  # pixels where each Gaussian is the top contributor
    used = 0
    for view in views:
        used += 1
        front += front_counts([view], count)
        c = view.contributions
        _native.lift_add_view(c.pixel, c.gaussian, c.weight, view.mask_of_pixel, view.embeddings, feats, weight)
        # Let this view's pairs go before the next view is rendered (the loop variable would hold them meanwhile).
        del view, c
    seen = (front > 0) & (weight[:, 1] > 1e-6)
    feats[~seen] = 0.0
    np.divide(feats, weight[..., None], out=feats, where=weight[..., None] > 0)
    norms = np.sqrt(np.einsum("nld,nld->nl", feats, feats))[..., None]  # no (N, 3, D) temporary, as norm() makes
    np.divide(feats, norms, out=feats, where=norms > 1e-9)
    feats *= norms > 1e-9
    return LiftedFeatures(feats, seen, used)
