"""CPU rasterizer of 3D Gaussian splats (EWA splatting, front-to-back alpha compositing).

The same image formation as 3D Gaussian Splatting (Kerbl et al. 2023): each Gaussian is
projected to a 2D Gaussian with covariance J W Sigma W^T J^T (+0.3 px^2 low-pass), its
alpha at a pixel is opacity * exp(-d^T Sigma2D^-1 d / 2) (at most 0.99, ignored under
1/255), and pixels composite front to back: weight_i = alpha_i prod_{j<i} (1 - alpha_j).

`render` runs in native code (bindings/src/splat_raster.cpp): the projection, then the pairs (every
pixel of a Gaussian's 3 sigma square it covers with alpha >= 1/255), bucketed by pixel Gaussian by
Gaussian front to back, so a view holds its pairs once, 20 bytes each, whatever the scene's size.
`project` and `render_reference` here are the same arithmetic in numpy and plain loops; tests hold
the native code to them. Colour is the SH DC term (view-independent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vaf import _native
from vaf.runtime.gaussians import GaussianCloud, quaternion_to_matrix
from vaf.runtime.cameras import PinholeCamera

NEAR = 0.05  # metres: Gaussians closer than this to the camera are skipped
MIN_ALPHA = 1.0 / 255.0
MAX_ALPHA = 0.99
LOW_PASS = 0.3  # px^2 added to every projected covariance
MAX_RADIUS = 64  # px: a Gaussian's footprint is clipped to this


@dataclass
class Contributions:
    """Every (pixel, Gaussian) pair that contributed, grouped by pixel, front to back: pixel: (R,) int32 flat
    index y * width + x; gaussian: (R,) int32 index; weight: (R,) float32 alpha times transmittance."""

    pixel: np.ndarray
    gaussian: np.ndarray
    weight: np.ndarray


@dataclass
class Rendering:
    """rgb: (H, W, 3) float32; alpha: (H, W) accumulated opacity; depth: (H, W) expected depth in
    metres (0 where nothing is seen); top: (H, W) int32 index of the Gaussian with the largest
    weight at each pixel (-1 where none); contributions: every weighted pair."""

    rgb: np.ndarray
    alpha: np.ndarray
    depth: np.ndarray
    top: np.ndarray
    contributions: Contributions

    def gaussian_weights(self, count: int) -> np.ndarray:
        """(count,) total weight of each Gaussian over the image."""
        return np.bincount(self.contributions.gaussian, self.contributions.weight, minlength=count)


def project(cloud: GaussianCloud, cam: PinholeCamera) -> tuple[np.ndarray, ...]:
    """For the Gaussians in front of the camera and on screen: indices (V,), pixel means (V, 2), depths (V,)
    metres, inverse 2D covariances (V, 2, 2) and footprint radii (V,) px. The readable version of
    `vaf._native.project`, which `render` uses (tests hold the two together)."""
    c = cam.to_camera(cloud.positions.astype(np.float64))
    visible = np.nonzero(c[:, 2] > NEAR)[0]
    x, y, z = c[visible].T
    rot = quaternion_to_matrix(cloud.rotations[visible])
    s = cloud.scales[visible].astype(np.float64)
    sigma = (rot * (s * s)[:, None, :]) @ rot.transpose(0, 2, 1)
    jac = np.zeros((visible.size, 2, 3))
    jac[:, 0, 0], jac[:, 0, 2] = cam.fx / z, -cam.fx * x / (z * z)
    jac[:, 1, 1], jac[:, 1, 2] = cam.fy / z, -cam.fy * y / (z * z)
    m = jac @ cam.rotation
    cov = m @ sigma @ m.transpose(0, 2, 1) + LOW_PASS * np.eye(2)
    det = cov[:, 0, 0] * cov[:, 1, 1] - cov[:, 0, 1] ** 2
    inv = np.stack([np.stack([cov[:, 1, 1], -cov[:, 0, 1]], -1), np.stack([-cov[:, 0, 1], cov[:, 0, 0]], -1)], 1) / det[:, None, None]
    mean = np.stack([cam.fx * x / z + cam.cx, cam.fy * y / z + cam.cy], axis=1)
    radius = np.ceil(3 * np.sqrt(0.5 * (cov[:, 0, 0] + cov[:, 1, 1]) + np.sqrt(0.25 * (cov[:, 0, 0] - cov[:, 1, 1]) ** 2 + cov[:, 0, 1] ** 2)))
    onscreen = (mean[:, 0] + radius > 0) & (mean[:, 0] - radius < cam.width) & (mean[:, 1] + radius > 0) & (mean[:, 1] - radius < cam.height)
    return visible[onscreen], mean[onscreen], z[onscreen], inv[onscreen], np.minimum(radius[onscreen], MAX_RADIUS).astype(int)


def render(cloud: GaussianCloud, cam: PinholeCamera, background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Rendering:
    """Renders RGB, alpha, expected depth and the top Gaussian per pixel, with every contributing pair, in native code:
    `vaf._native.project` is `project` above, `vaf._native.splat` the pairs and compositing of `render_reference`."""
    index, mean, depth, conic, radius = _native.project(cloud.positions, cloud.rotations, cloud.scales, cam.rotation,
                                                       cam.translation, (cam.fx, cam.fy, cam.cx, cam.cy), cam.width,
                                                       cam.height, NEAR, LOW_PASS, MAX_RADIUS)
    frame = _native.splat(mean, conic, radius, cloud.opacity[index].astype(np.float64), depth, cloud.rgb[index],
                          index.astype(np.int32), cam.width, cam.height, MIN_ALPHA, MAX_ALPHA)
    return _rendering(frame, background)


def composite(gaussian: np.ndarray, pixel: np.ndarray, alpha: np.ndarray, depth: np.ndarray, rgb: np.ndarray,
              width: int, height: int, background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Rendering:
    """Front-to-back compositing of (Gaussian, pixel) pairs listed in any order (how a GPU renderer finds them).
    gaussian: (R,) cloud index; pixel: (R,) flat index y * width + x; alpha: (R,) the Gaussian's alpha there (pairs
    under MIN_ALPHA are dropped); depth: (N,) each Gaussian's depth, metres; rgb: (N, 3) the cloud's colours."""
    frame = _native.composite(gaussian.astype(np.int32), pixel.astype(np.int32), alpha, depth, rgb, width, height, MIN_ALPHA)
    return _rendering(frame, background)


def _rendering(frame: tuple[np.ndarray, ...], background: tuple[float, float, float]) -> Rendering:
    """A Rendering from the native compositing's arrays, over `background` (RGB in [0, 1])."""
    acc, colour, zsum, top, pixel, gaussian, weight = frame
    colour += (1 - acc)[..., None] * np.asarray(background, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_depth = np.where(acc > 1e-6, zsum / acc, 0.0)
    return Rendering(rgb=colour.astype(np.float32), alpha=acc.astype(np.float32),
                     depth=expected_depth.astype(np.float32), top=top, contributions=Contributions(pixel, gaussian, weight))


def render_reference(cloud: GaussianCloud, cam: PinholeCamera) -> Rendering:
    """`render` with plain loops over pixels and Gaussians, over a black background. Slow: for tests."""
    index, mean, depth, inv, radius = project(cloud, cam)
    rgb, acc, zsum = np.zeros((cam.height, cam.width, 3)), np.zeros((cam.height, cam.width)), np.zeros((cam.height, cam.width))
    top = np.full((cam.height, cam.width), -1, np.int32)
    pairs = []
    order = np.argsort(depth, kind="stable")
    for y in range(cam.height):
        for x in range(cam.width):
            transmittance, best = 1.0, 0.0
            for k in order:
                if abs(np.floor(mean[k, 0]) - x) > radius[k] or abs(np.floor(mean[k, 1]) - y) > radius[k]:
                    continue
                dx, dy = x + 0.5 - mean[k, 0], y + 0.5 - mean[k, 1]
                power = -0.5 * (inv[k, 0, 0] * dx * dx + 2 * inv[k, 0, 1] * dx * dy + inv[k, 1, 1] * dy * dy)
                if power <= math.log(MIN_ALPHA):
                    continue
                a = min(MAX_ALPHA, float(cloud.opacity[index[k]]) * math.exp(power))
                if a < MIN_ALPHA:
                    continue
                weight = a * transmittance
                rgb[y, x] += weight * cloud.rgb[index[k]]
                acc[y, x] += weight
                zsum[y, x] += weight * depth[k]
                if weight > best:
                    best, top[y, x] = weight, index[k]
                pairs.append((y * cam.width + x, index[k], weight))
                transmittance *= 1 - a
    pixel, gaussian, weight = (np.array([p[i] for p in pairs]) for i in range(3))
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_depth = np.where(acc > 1e-6, zsum / acc, 0.0)
    return Rendering(rgb.astype(np.float32), acc.astype(np.float32), expected_depth.astype(np.float32), top,
                     Contributions(pixel.astype(np.int32), gaussian.astype(np.int32), weight.astype(np.float32)))
