"""Splat renderers with one output (`rasterizer.Rendering`): the CPU rasterizer, and gsplat's CUDA
kernels where a GPU is present (gsplat_renderer.py). `choose_renderer` picks one by name."""

from __future__ import annotations

from typing import Callable

from vaf.runtime.cameras import PinholeCamera
from vaf.runtime.gaussians import GaussianCloud
from vaf.training.render.gsplat_renderer import gsplat_available, render_gsplat
from vaf.training.render.rasterizer import Rendering, render

Renderer = Callable[[GaussianCloud, PinholeCamera], Rendering]
RENDERERS: dict[str, Renderer] = {"cpu": render, "gsplat": render_gsplat}


def choose_renderer(name: str) -> tuple[str, Renderer]:
    """name: "cpu", "gsplat" (CUDA GPU and the gsplat package) or "auto" (gsplat when available, else cpu).
    Returns the resolved name and the renderer."""
    if name == "auto":
        name = "gsplat" if gsplat_available() else "cpu"
    if name not in RENDERERS:
        raise ValueError(f"renderer must be auto, {' or '.join(RENDERERS)}, got {name!r}")
    if name == "gsplat" and not gsplat_available():
        raise ValueError("renderer 'gsplat' needs a CUDA GPU and the gsplat package (pip install gsplat); "
                         "none here: use 'cpu' or 'auto'")
    return name, RENDERERS[name]
