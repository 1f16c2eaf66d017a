"""Small image helpers shared by previews and heatmaps: a colour ramp and PNG encoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

_RAMP = np.array([[0, 0, 4], [80, 18, 123], [182, 54, 121], [251, 136, 97], [252, 253, 191]], np.float64)


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] -> uint8 RGB along a dark-to-light (magma-like) ramp; shape (...,) -> (..., 3)."""
    x = np.clip(values, 0, 1) * (len(_RAMP) - 1)
    return np.stack([np.interp(x, np.arange(len(_RAMP)), _RAMP[:, c]) for c in range(3)], axis=-1).astype(np.uint8)


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def draw_points(image: np.ndarray, x: np.ndarray, y: np.ndarray, depth: np.ndarray, colours: np.ndarray,
                radius: np.ndarray | int = 1) -> np.ndarray:
    """Draws points as squares of half-width `radius` px (at most 3) into image (H, W, 3) uint8, nearest
    (smallest depth) in front. x, y: (N,) pixel columns and rows; colours: (N, 3) uint8. Returns image."""
    h, w = image.shape[:2]
    radius = np.broadcast_to(np.clip(radius, 0, 3), depth.shape)
    zbuf = np.full((h, w), np.inf)
    order = np.argsort(-depth, kind="stable")  # far to near: with repeated pixels numpy keeps the last, the nearest
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            sel = order[(abs(dx) <= radius[order]) & (abs(dy) <= radius[order])]
            px, py = x[sel] + dx, y[sel] + dy
            ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
            sel, px, py = sel[ok], px[ok], py[ok]
            nearer = depth[sel] <= zbuf[py, px]
            sel, px, py = sel[nearer], px[nearer], py[nearer]
            image[py, px] = colours[sel]
            zbuf[py, px] = depth[sel]
    return image
