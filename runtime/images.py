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
