"""The GPU path of the splat renderer: gsplat's CUDA kernels find the (Gaussian, pixel) pairs.

gsplat (nerfstudio) projects the Gaussians (`fully_fused_projection`), bins them into 16 px
tiles (`isect_tiles`) and lists every pair that contributes to a pixel
(`rasterize_to_indices_in_range`). From those pairs on it follows the CPU rasterizer: each
pair's alpha by the same formula from gsplat's conics (`pair_alpha`; tested equal to the CPU's),
then the CPU rasterizer's own front-to-back compositing (`rasterizer.composite`), so both paths
give the same `Rendering`, contributions included,
which is what feature lifting needs and what gsplat's image-only `rasterization()` does not
return. gsplat clamps alpha at 0.999 in its own compositing; here the Inria 0.99 applies, as on
the CPU.

Without a CUDA GPU, tests/world/test_render.py checks all but the three kernel calls: gsplat's
pure-torch `_fully_fused_projection` against `rasterizer.project`, and `pair_alpha` +
`composite` on the CPU rasterizer's pairs against `rasterizer.render`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys

import numpy as np

from vaf.runtime.cameras import PinholeCamera
from vaf.runtime.gaussians import GaussianCloud
from vaf.training.render.rasterizer import LOW_PASS, MAX_ALPHA, NEAR, Rendering, composite

TILE = 16  # px, gsplat's default tile


def gsplat_available() -> bool:
    """True when gsplat is installed and torch sees a CUDA device (gsplat compiles its kernels on first use)."""
    if importlib.util.find_spec("gsplat") is None or importlib.util.find_spec("torch") is None:
        return False
    if not cuda_driver_loads():
        return False
    import torch

    return torch.cuda.is_available()


def cuda_driver_loads() -> bool:
    """Whether the CUDA driver library loads. torch sees no GPU without it, and asking it first spares a machine
    without one importing torch (~0.6 GB, seconds) only to hear so."""
    try:
        ctypes.CDLL("nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1")
    except OSError:
        return False
    return True


def camera_matrices(cam: PinholeCamera) -> tuple[np.ndarray, np.ndarray]:
    """gsplat's camera: (4, 4) world-to-camera view matrix and (3, 3) intrinsics K, both OpenCV/COLMAP
    convention like PinholeCamera (x right, y down, looking down +z, pixel centres at +0.5)."""
    view = np.eye(4)
    view[:3, :3], view[:3, 3] = cam.rotation, cam.translation
    k = np.array([[cam.fx, 0.0, cam.cx], [0.0, cam.fy, cam.cy], [0.0, 0.0, 1.0]])
    return view, k


def pair_alpha(gaussian: np.ndarray, pixel: np.ndarray, means2d: np.ndarray, conics: np.ndarray, opacity: np.ndarray,
               width: int) -> np.ndarray:
    """(R,) alpha of each (Gaussian, pixel) pair. means2d: (N, 2) px; conics: (N, 3) upper triangle (a, b, c)
    of the inverse 2D covariance; opacity: (N,); pixel: flat index y * width + x."""
    dx = pixel % width + 0.5 - means2d[gaussian, 0]
    dy = pixel // width + 0.5 - means2d[gaussian, 1]
    a, b, c = conics[gaussian].T
    power = -0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy)
    return np.minimum(MAX_ALPHA, opacity[gaussian] * np.exp(power))


def render_gsplat(cloud: GaussianCloud, cam: PinholeCamera, background: tuple[float, float, float] = (0.0, 0.0, 0.0),
                  device: str = "cuda") -> Rendering:
    """The same Rendering as rasterizer.render, its pairs found by gsplat's CUDA kernels."""
    if not gsplat_available():
        raise RuntimeError("the gsplat renderer needs a CUDA GPU and the gsplat package (pip install gsplat); "
                           "use the CPU renderer here")
    import gsplat
    import torch

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)

    view, k = camera_matrices(cam)
    w, h = cam.width, cam.height
    opacity = tensor(cloud.opacity)
    with torch.no_grad():
        radii, means2d, depths, conics, _ = gsplat.fully_fused_projection(
            tensor(cloud.positions), None, tensor(cloud.rotations), tensor(cloud.scales), tensor(view)[None],
            tensor(k)[None], w, h, eps2d=LOW_PASS, near_plane=NEAR)
        tiles_w, tiles_h = -(-w // TILE), -(-h // TILE)
        _, isect_ids, flatten_ids = gsplat.isect_tiles(means2d, radii, depths, TILE, tiles_w, tiles_h)
        offsets = gsplat.isect_offset_encode(isect_ids, 1, tiles_w, tiles_h)
        # The range counts batches of TILE * TILE Gaussians per tile, front to back: all of them in one call.
        per_tile = torch.diff(torch.cat([offsets.flatten(), torch.tensor([len(flatten_ids)], device=device)]))
        batches = int(-(-int(per_tile.max()) // (TILE * TILE))) if len(flatten_ids) else 0
        gaussian, pixel, _ = gsplat.rasterize_to_indices_in_range(
            0, batches, torch.ones(1, h, w, device=device), means2d, conics, opacity[None], w, h, TILE,
            offsets, flatten_ids)
    gaussian, pixel = gaussian.long().cpu().numpy(), pixel.long().cpu().numpy()
    means2d, conics, depths = (t[0].double().cpu().numpy() for t in (means2d, conics, depths))
    alpha = pair_alpha(gaussian, pixel, means2d, conics, cloud.opacity.astype(np.float64), w)
    return composite(gaussian, pixel, alpha, depths, cloud.rgb, w, h, background)
