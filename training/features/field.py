"""An optimized feature field (LangSplat-style), the second way to put features on Gaussians.

Lifting (features/lift.py) averages mask embeddings onto Gaussians in closed form. Here, as in
LangSplat, a small autoencoder first compresses the embeddings to a low-dimensional latent
(``latent``, 3 as in LangSplat), then each Gaussian gets a latent per level, started from the
encoded closed-form lift, that is fit so that the latents alpha-blended into every view with the rasterizer's weights, decoded, match
the embedding of the mask under each pixel (L1 + cosine loss). The rendering weights are those
of our CPU rasterizer, fixed per view, so rendering a chunk of pixels is one weighted
scatter-add of the latents and the fit is a plain optimisation over them (Adam, a random chunk
of pixels per step).
The bundle stores the decoded, normalised features, so the runtime reads both kinds alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vaf.runtime.cameras import PinholeCamera
from vaf.runtime.gaussians import GaussianCloud
from vaf.training.features.lift import LEVELS, EmbeddedView, LiftedFeatures, embedded_views, lift_views
from vaf.training.features.masks import MaskSource
from vaf.training.render import Renderer
from vaf.training.render.rasterizer import render


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
class PixelChunk:
    """Some covered pixels: rendering triples (row within the chunk, Gaussian, weight) and targets (P, D)."""

    row: torch.Tensor
    gaussian: torch.Tensor
    weight: torch.Tensor
    targets: torch.Tensor

    def render(self, codes: torch.Tensor) -> torch.Tensor:
        """(N, L) per-Gaussian codes -> (P, L) alpha-blended codes at the chunk's pixels."""
        out = torch.zeros(len(self.targets), codes.shape[1])
        return out.index_add(0, self.row, self.weight[:, None] * codes[self.gaussian])


def _pixel_chunks(views: list[EmbeddedView], level: int, chunk: int, gen: torch.Generator) -> list[PixelChunk]:
    """The pixels (over all views) that a mask of `level` covers, shuffled into chunks of about `chunk` pixels."""
    rows, cols, vals, targets, offset = [], [], [], [], 0
    for v in views:
        mask = v.mask_of_pixel[level]
        covered = np.flatnonzero(mask >= 0)
        compact = np.full(mask.size, -1, np.int64)
        compact[covered] = offset + np.arange(covered.size)
        keep = compact[v.contributions.pixel] >= 0
        rows.append(compact[v.contributions.pixel[keep]])
        cols.append(v.contributions.gaussian[keep])
        vals.append(v.contributions.weight[keep])
        targets.append(v.embeddings[level][mask[covered]])
        offset += covered.size
    if offset == 0:
        return []
    rows, cols, vals, targets = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), np.concatenate(targets)
    n_chunks = max(1, offset // chunk)
    chunk_of = torch.randint(n_chunks, (offset,), generator=gen).numpy()  # pixel -> chunk
    position = np.zeros(offset, np.int64)  # pixel -> row within its chunk
    out = []
    for k in range(n_chunks):
        pixels = np.flatnonzero(chunk_of == k)
        position[pixels] = np.arange(pixels.size)
        mine = chunk_of[rows] == k
        out.append(PixelChunk(torch.tensor(position[rows[mine]]), torch.tensor(cols[mine]),
                              torch.tensor(vals[mine], dtype=torch.float32), torch.tensor(targets[pixels], dtype=torch.float32)))
    return out


def fit_feature_field(cloud: GaussianCloud, cameras: Iterable[PinholeCamera], masks_for: MaskSource,
                      embed: Callable[[np.ndarray], np.ndarray], dim: int, window_m: float, crop_size: int,
                      latent: int = 3, steps: int = 300, pixels_per_step: int = 32_768, seed: int = 0,
                      progress: bool = False, renderer: Renderer = render) -> LiftedFeatures:
    """Same inputs and output as lift_features (features/lift.py), fit instead of averaged (module docstring)."""
    n = len(cloud)
    views = list(embedded_views(cloud, cameras, masks_for, embed, dim, window_m, crop_size, progress, renderer))
    lifted = lift_views(views, n, dim)  # the starting point: LangSplat starts from noise and takes 30k GPU steps
    every = np.concatenate([e for v in views for e in v.embeddings if len(e)])
    if not len(every):
        raise ValueError("no mask could be embedded in any view (more views, or a larger --image-size?)")
    ae = train_autoencoder(every, latent, steps, seed)
    for p in ae.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    features = np.zeros((n, len(LEVELS), dim), np.float32)
    covered = np.zeros((len(LEVELS), n), bool)
    for level in tqdm(range(len(LEVELS)), desc="fitting levels", unit="level", disable=not progress):
        chunks = _pixel_chunks(views, level, pixels_per_step, gen)
        if not chunks:
            continue
        covered[level] = np.bincount(torch.cat([c.gaussian for c in chunks]).numpy(), minlength=n) > 0
        with torch.no_grad():
            codes = ae.encode(torch.tensor(lifted.features[:, level])) * torch.tensor(lifted.seen[:, None], dtype=torch.float32)
        codes.requires_grad_(True)
        opt = torch.optim.Adam([codes], lr=0.01)
        for step in range(steps):
            chunk = chunks[step % len(chunks)]
            loss = feature_loss(ae.decode(chunk.render(codes)), chunk.targets)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            features[:, level] = nn.functional.normalize(ae.decode(codes), dim=-1).numpy() * covered[level][:, None]
    seen = lifted.seen & covered[1]
    features[~seen] = 0.0
    return LiftedFeatures(features, seen, len(views))
