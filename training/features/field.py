"""An optimized feature field (LangSplat-style), the second way to put features on Gaussians.

Lifting (features/lift.py) averages mask embeddings onto Gaussians in closed form. Here, as in
LangSplat, a small autoencoder first compresses the embeddings to a low-dimensional latent
(``latent``, 3 as in LangSplat), then each Gaussian gets a latent per level, started from the
encoded closed-form lift, that is fit so that the latents alpha-blended into every view with the rasterizer's weights, decoded, match
the embedding of the mask under each pixel (L1 + cosine loss). The rendering weights are those
of our CPU rasterizer, fixed per view, so rendering some pixels is one weighted
scatter-add of the latents and the fit is a plain optimisation over them (Adam, some pixels of
one view per step, all levels at once).
The bundle stores the decoded, normalised features, so the runtime reads both kinds alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vaf.runtime.cameras import PinholeCamera
from vaf.runtime.gaussians import GaussianCloud
from vaf.training.features.lift import LEVELS, EmbeddedView, LiftedFeatures, embedded_views, lift_views
from vaf.training.features.masks import MaskSource
from vaf.training.render import Renderer
from vaf.training.render.rasterizer import Contributions, render


class FeatureAutoencoder(nn.Module):
    """(B, dim) unit embeddings <-> (B, latent) codes."""

    def __init__(self, dim: int, latent: int = 3, hidden: int = 64):
        super().__init__()
        self.encode = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, latent))
        self.decode = nn.Sequential(nn.Linear(latent, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                    nn.Linear(hidden, dim))


def feature_loss(decoded: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 plus (1 - cosine), both averaged over rows: LangSplat's pair."""
    cosine = nn.functional.cosine_similarity(decoded, target, dim=-1)
    return (decoded - target).abs().mean() + (1.0 - cosine).mean()


def train_autoencoder(embeddings: np.ndarray, latent: int, steps: int, seed: int) -> FeatureAutoencoder:
    torch.manual_seed(seed)
    x = torch.tensor(embeddings, dtype=torch.float32)
    ae = FeatureAutoencoder(x.shape[1], latent)
    opt = torch.optim.Adam(ae.parameters(), lr=3e-3)
    for _ in range(steps):
        loss = feature_loss(ae.decode(ae.encode(x)), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return ae.eval()


@dataclass
class FitView:
    """What the fit keeps of a view: its camera, mask rows and embeddings (EmbeddedView's), and its pairs while the
    cache has room (None: rendered again when the fit draws the view)."""

    camera: PinholeCamera
    mask_of_pixel: np.ndarray
    embeddings: list[np.ndarray]
    contributions: Contributions | None


@dataclass
class PixelBatch:
    """Some pixels of one view: rendering triples (batch pixel, Gaussian, weight) and, per level, the batch pixels
    a mask covers with their target embeddings (P_l, D)."""

    pixels: int
    row: torch.Tensor
    gaussian: torch.Tensor
    weight: torch.Tensor
    covered: list[torch.Tensor]
    targets: list[torch.Tensor]

    def render(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, L, latent) per-Gaussian codes -> (pixels, L, latent) alpha-blended codes at the batch's pixels."""
        out = torch.zeros(self.pixels, *codes.shape[1:])
        return out.index_add(0, self.row, self.weight[:, None, None] * codes[self.gaussian])

    def loss(self, decode: nn.Module, codes: torch.Tensor) -> torch.Tensor:
        """feature_loss at every level a mask covers some of the batch, summed over levels."""
        rendered = self.render(codes)
        return sum(feature_loss(decode(rendered[rows, level]), target)
                   for level, (rows, target) in enumerate(zip(self.covered, self.targets)) if len(rows))


def _pixel_batch(view: FitView, contributions: Contributions, max_pixels: int, gen: torch.Generator) -> PixelBatch | None:
    """Up to `max_pixels` of the view's mask-covered pixels, drawn at random; None if no mask covers any."""
    chosen = np.flatnonzero((view.mask_of_pixel >= 0).any(axis=0))
    if chosen.size == 0:
        return None
    if chosen.size > max_pixels:
        chosen = np.sort(chosen[torch.randperm(chosen.size, generator=gen)[:max_pixels].numpy()])
    compact = np.full(view.mask_of_pixel.shape[1], -1, np.int64)
    compact[chosen] = np.arange(chosen.size)
    row = compact[contributions.pixel]
    keep = row >= 0
    masks = view.mask_of_pixel[:, chosen]
    covered = [np.flatnonzero(m >= 0) for m in masks]
    return PixelBatch(chosen.size, torch.from_numpy(row[keep]), torch.from_numpy(contributions.gaussian[keep].astype(np.int64)),
                      torch.from_numpy(contributions.weight[keep]), [torch.from_numpy(rows) for rows in covered],
                      [torch.from_numpy(e[m[rows]]) for e, m, rows in zip(view.embeddings, masks, covered)])


def _row_ranges(n: int, rows: int = 65_536) -> Iterator[slice]:
    """Gaussians a slice at a time: the autoencoder's (rows, L, 64) activations, not millions of them at once."""
    return (slice(i, min(i + rows, n)) for i in range(0, n, rows))


def _kept_views(views: Iterable[EmbeddedView], cameras: list[PinholeCamera], cache_bytes: int,
                kept: list[FitView], covered: np.ndarray) -> Iterator[EmbeddedView]:
    """Passes the views on (to the closed-form lift) while keeping what the fit needs of each in `kept` (pairs
    only while their total stays within `cache_bytes`), and marking in `covered` (L, N) the Gaussians that
    contribute to a pixel a mask of each level covers."""
    cached = 0
    for camera, view in zip(cameras, views):
        c = view.contributions
        for level, masks in enumerate(view.mask_of_pixel):
            covered[level, c.gaussian[masks[c.pixel] >= 0]] = True
        size = c.pixel.nbytes + c.gaussian.nbytes + c.weight.nbytes
        keep = cached + size <= cache_bytes
        cached += size if keep else 0
        kept.append(FitView(camera, view.mask_of_pixel, view.embeddings, c if keep else None))
        yield view
        del view, c  # not held while the next view renders


def fit_feature_field(cloud: GaussianCloud, cameras: Iterable[PinholeCamera], masks_for: MaskSource,
                      embed: Callable[[np.ndarray], np.ndarray], dim: int, window_m: float, crop_size: int,
                      latent: int = 3, steps: int = 300, pixels_per_step: int = 32_768, seed: int = 0,
                      progress: bool = False, renderer: Renderer = render,
                      cache_bytes: int = 2 * 1024**3) -> LiftedFeatures:
    """Same inputs and output as lift_features (features/lift.py), fit instead of averaged (module docstring).

    Each of the `steps` Adam steps fits all levels on up to `pixels_per_step` pixels of one view (views drawn in
    shuffled passes, as LangSplat renders one view an iteration). The views' pairs are kept up to `cache_bytes`
    (12 bytes a pair); the others are rendered again when drawn, so a capture of millions of Gaussians fits in
    memory at the cost of time."""
    n = len(cloud)
    cameras = list(cameras)
    views: list[FitView] = []
    covered = np.zeros((len(LEVELS), n), bool)
    embedded = embedded_views(cloud, cameras, masks_for, embed, dim, window_m, crop_size, progress, renderer)
    # The closed-form lift is the starting point: LangSplat starts from noise and takes 30k GPU steps.
    lifted = lift_views(_kept_views(embedded, cameras, cache_bytes, views, covered), n, dim)
    every = np.concatenate([e for v in views for e in v.embeddings if len(e)])
    if not len(every):
        raise ValueError("no mask could be embedded in any view (more views, or a larger --image-size?)")
    ae = train_autoencoder(every, latent, steps, seed)
    for p in ae.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    features = lifted.features  # (N, L, D), encoded, then overwritten with the fit's decoded features
    codes = torch.zeros(n, len(LEVELS), latent)
    with torch.no_grad():
        for rows in _row_ranges(n):
            codes[rows] = ae.encode(torch.from_numpy(features[rows])) * torch.from_numpy(lifted.seen[rows, None, None])
    codes.requires_grad_(True)
    opt = torch.optim.Adam([codes], lr=0.01)
    order: list[int] = []
    for _ in tqdm(range(steps), desc="fitting", unit="step", disable=not progress):
        if not order:
            order = torch.randperm(len(views), generator=gen).tolist()
        view = views[order.pop()]
        contributions = view.contributions
        if contributions is None:
            contributions = renderer(cloud, view.camera).contributions
        batch = _pixel_batch(view, contributions, pixels_per_step, gen)
        if batch is None:
            continue
        loss = batch.loss(ae.decode, codes)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for rows in _row_ranges(n):
            features[rows] = nn.functional.normalize(ae.decode(codes[rows]), dim=-1).numpy()
    features *= covered.T[..., None]
    seen = lifted.seen & covered[1]
    features[~seen] = 0.0
    return LiftedFeatures(features, seen, len(views))
