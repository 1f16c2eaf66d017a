"""CPU rasterizer of 3D Gaussian splats (EWA splatting, front-to-back alpha compositing).

The same image formation as 3D Gaussian Splatting (Kerbl et al. 2023): each Gaussian is
projected to a 2D Gaussian with covariance J W Sigma W^T J^T (+0.3 px^2 low-pass), its
alpha at a pixel is opacity * exp(-d^T Sigma2D^-1 d / 2) (at most 0.99, ignored under
1/255), and pixels composite front to back: weight_i = alpha_i prod_{j<i} (1 - alpha_j).

Vectorised numpy for 64-256 px images: every (Gaussian, pixel) pair inside a Gaussian's 3
sigma square becomes a row; rows are sorted by (pixel, depth) and composited with segmented
cumulative sums. `render_reference` is the same thing written as plain loops, for tests.
Colour is the SH DC term (view-independent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaf.runtime.gaussians import GaussianCloud, quaternion_to_matrix
from vaf.runtime.cameras import PinholeCamera

NEAR = 0.05  # metres: Gaussians closer than this to the camera are skipped
MIN_ALPHA = 1.0 / 255.0
MAX_ALPHA = 0.99
LOW_PASS = 0.3  # px^2 added to every projected covariance
MAX_RADIUS = 64  # px: a Gaussian's footprint is clipped to this


@dataclass
class Contributions:
    """Every (pixel, Gaussian) pair that contributed: pixel: (R,) flat index y * width + x;
    gaussian: (R,) index; weight: (R,) alpha times transmittance."""

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
    """For the Gaussians in front of the camera and on screen: indices (V,), pixel means (V, 2),
    depths (V,) metres, inverse 2D covariances (V, 2, 2) and footprint radii (V,) px."""
    c = cam.to_camera(cloud.positions.astype(np.float64))
    visible = np.nonzero(c[:, 2] > NEAR)[0]
    c = c[visible]
    x, y, z = c.T
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


def _pairs(mean, inv, radius, width, height):
    """(Gaussian row, pixel x, pixel y, power) for every pixel in each Gaussian's square, grouped by radius."""
    rows, xs, ys, powers = [], [], [], []
    for r in np.unique(radius):
        sel = np.nonzero(radius == r)[0]
        off = np.arange(-r, r + 1)
        ox, oy = np.meshgrid(off, off)
        px = np.floor(mean[sel, 0])[:, None].astype(int) + ox.ravel()[None, :]
        py = np.floor(mean[sel, 1])[:, None].astype(int) + oy.ravel()[None, :]
        dx, dy = px + 0.5 - mean[sel, 0:1], py + 0.5 - mean[sel, 1:2]
        a, b, c = inv[sel, 0, 0][:, None], inv[sel, 0, 1][:, None], inv[sel, 1, 1][:, None]
        power = -0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy)
        ok = (px >= 0) & (px < width) & (py >= 0) & (py < height) & (power > np.log(MIN_ALPHA))
        rows.append(np.broadcast_to(sel[:, None], px.shape)[ok])
        xs.append(px[ok])
        ys.append(py[ok])
        powers.append(power[ok])
    if not rows:
        return (np.zeros(0, int),) * 3 + (np.zeros(0),)
    return np.concatenate(rows), np.concatenate(xs), np.concatenate(ys), np.concatenate(powers)


def render(cloud: GaussianCloud, cam: PinholeCamera, background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Rendering:
    """Renders RGB, alpha, expected depth and the top Gaussian per pixel."""
    index, mean, depth, inv, radius = project(cloud, cam)
    row, px, py, power = _pairs(mean, inv, radius, cam.width, cam.height)
    alpha = np.minimum(MAX_ALPHA, cloud.opacity[index[row]].astype(np.float64) * np.exp(power))
    return composite(index[row], py * cam.width + px, alpha, depth[row], cloud.rgb, cam.width, cam.height, background)


def composite(gaussian: np.ndarray, pixel: np.ndarray, alpha: np.ndarray, depth: np.ndarray, rgb: np.ndarray,
              width: int, height: int, background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Rendering:
    """Front-to-back compositing of (Gaussian, pixel) pairs in any order, the step every renderer shares.
    gaussian: (R,) cloud index; pixel: (R,) flat index y * width + x; alpha: (R,) the Gaussian's alpha
    there (pairs under MIN_ALPHA are dropped); depth: (R,) its depth, metres; rgb: (N, 3) the cloud's colours."""
    keep = alpha >= MIN_ALPHA
    gaussian, pixel, alpha, depth = gaussian[keep], pixel[keep], alpha[keep].astype(np.float64), depth[keep]
    # By pixel, then front to back: two stable sorts, the second on the narrowest integer type (numpy radix-sorts
    # 16-bit keys), twice as fast as one lexsort over the millions of pairs of a captured scene.
    order = np.argsort(depth, kind="stable")
    order = order[np.argsort(pixel[order].astype(np.uint16 if height * width <= 1 << 16 else np.int64), kind="stable")]
    gaussian, pixel, alpha, depth = gaussian[order], pixel[order], alpha[order], depth[order]
    # Transmittance before each pair: exp of the exclusive cumulative sum of log(1 - alpha) within its pixel.
    log_keep = np.log1p(-alpha)
    total = np.cumsum(log_keep)
    starts = np.r_[0, np.nonzero(np.diff(pixel))[0] + 1] if pixel.size else np.zeros(0, int)
    base = np.repeat(total[starts] - log_keep[starts], np.diff(np.r_[starts, pixel.size]))
    weight = alpha * np.exp(total - log_keep - base)
    n = height * width
    # astype: bincount of an empty selection returns integers
    acc = np.bincount(pixel, weight, minlength=n).astype(np.float64)
    colour = np.stack([np.bincount(pixel, weight * rgb[gaussian, ch], minlength=n) for ch in range(3)], axis=1).astype(np.float64)
    colour += (1 - acc)[:, None] * np.asarray(background)[None, :]
    zsum = np.bincount(pixel, weight * depth, minlength=n)
    top = np.full(n, -1, np.int64)
    if pixel.size:
        # Each pixel's largest weight, the front-most pair on ties: the first pair of its run holding the run's maximum.
        run = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, pixel.size]))
        at_max = np.flatnonzero(weight == np.maximum.reduceat(weight, starts)[run])
        first = at_max[np.r_[True, np.diff(run[at_max]) > 0]]
        top[pixel[first]] = gaussian[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        expected_depth = np.where(acc > 1e-6, zsum / acc, 0.0)
    return Rendering(
        rgb=colour.reshape(height, width, 3).astype(np.float32),
        alpha=acc.reshape(height, width).astype(np.float32),
        depth=expected_depth.reshape(height, width).astype(np.float32),
        top=top.reshape(height, width).astype(np.int32),
        contributions=Contributions(pixel, gaussian, weight),
    )


def render_reference(cloud: GaussianCloud, cam: PinholeCamera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The same image formation with plain loops over pixels and Gaussians: (H, W, 3) rgb, (H, W) alpha and
    (H, W) top Gaussian (the largest weight, the front-most on ties; -1: none). Slow."""
    index, mean, depth, inv, radius = project(cloud, cam)
    rgb = np.zeros((cam.height, cam.width, 3))
    acc = np.zeros((cam.height, cam.width))
    top = np.full((cam.height, cam.width), -1)
    order = np.argsort(depth, kind="stable")
    for y in range(cam.height):
        for x in range(cam.width):
            transmittance, best = 1.0, 0.0
            for k in order:
                if abs(np.floor(mean[k, 0]) - x) > radius[k] or abs(np.floor(mean[k, 1]) - y) > radius[k]:
                    continue
                d = np.array([x + 0.5, y + 0.5]) - mean[k]
                power = -0.5 * d @ inv[k] @ d
                if power <= np.log(MIN_ALPHA):
                    continue
                a = min(MAX_ALPHA, float(cloud.opacity[index[k]]) * np.exp(power))
                if a < MIN_ALPHA:
                    continue
                rgb[y, x] += a * transmittance * cloud.rgb[index[k]]
                acc[y, x] += a * transmittance
                if a * transmittance > best:
                    best, top[y, x] = a * transmittance, index[k]
                transmittance *= 1 - a
    return rgb, acc, top
