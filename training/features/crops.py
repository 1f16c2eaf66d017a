"""Metric crops: a segment cut out of a view in a window of fixed size in metres, so the crop's
scale tells the segment's physical size (which sets its pitch) as well as its look."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import map_coordinates

WINDOW_M = 0.6  # metres shown across a crop
CROP_SIZE = 64  # pixels
BACKGROUND = 0.5  # grey outside the mask
MIN_PIXELS = 4


def metric_crop(image: np.ndarray, mask: np.ndarray, depth: np.ndarray, focal: float, window_m: float = WINDOW_M,
                size: int = CROP_SIZE) -> np.ndarray | None:
    """image: (H, W, 3) float in [0, 1]; mask: (H, W) bool; depth: (H, W) metres; focal: pixels.
    Returns (size, size, 3) float32 centred on the mask, or None if the mask is too small or has no depth."""
    ys, xs = np.nonzero(mask)
    if ys.size < MIN_PIXELS:
        return None
    z = float(np.median(depth[ys, xs]))
    if not np.isfinite(z) or z <= 0:
        return None
    half = 0.5 * window_m * focal / z  # pixels of the view covered by half the window
    grid = (np.arange(size) + 0.5) / size * 2 - 1
    gy, gx = np.meshgrid(ys.mean() + 0.5 + grid * half - 0.5, xs.mean() + 0.5 + grid * half - 0.5, indexing="ij")
    masked = np.where(mask[..., None], image, BACKGROUND)
    channels = [map_coordinates(masked[..., c], [gy, gx], order=1, mode="constant", cval=BACKGROUND) for c in range(3)]
    return np.stack(channels, axis=-1).astype(np.float32)
