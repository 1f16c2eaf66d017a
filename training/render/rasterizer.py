"""CPU rasterizer of 3D Gaussian splats (EWA splatting, front-to-back alpha compositing).

The same image formation as 3D Gaussian Splatting (Kerbl et al. 2023): each Gaussian is
projected to a 2D Gaussian with covariance J W Sigma W^T J^T (+0.3 px^2 low-pass), its
alpha at a pixel is opacity * exp(-d^T Sigma2D^-1 d / 2) (at most 0.99, ignored under
1/255), and pixels composite front to back: weight_i = alpha_i prod_{j<i} (1 - alpha_j).

Vectorised numpy for 64-512 px images: every (Gaussian, pixel) pair inside a Gaussian's 3
sigma square becomes a row; rows are sorted by (pixel, depth) and composited with segmented
cumulative sums, a band of image rows at a time so that a captured scene's millions of pairs
never sit in memory at once. `render_reference` is the same thing written as plain loops, for tests.
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
PROJECT_SLICE = 1 << 18  # Gaussians projected at a time
BAND_SQUARES = 1 << 22  # footprint pixels per band of rows: a view works in ~0.5 GB at any scene size


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
    """For the Gaussians in front of the camera and on screen: indices (V,), pixel means (V, 2),
    depths (V,) metres, inverse 2D covariances (V, 2, 2) and footprint radii (V,) px."""
    # In slices: the float64 (N, 3, 3) temporaries of a whole captured scene would take gigabytes.
    parts = [_project_slice(cloud, cam, start, min(start + PROJECT_SLICE, len(cloud)))
             for start in range(0, len(cloud), PROJECT_SLICE)]
    if not parts:
        return np.zeros(0, np.int64), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2, 2)), np.zeros(0, int)
    return tuple(np.concatenate(columns) for columns in zip(*parts))


def _project_slice(cloud: GaussianCloud, cam: PinholeCamera, start: int, stop: int) -> tuple[np.ndarray, ...]:
    """project() of the Gaussians start..stop-1 (indices are the cloud's)."""
    c = cam.to_camera(cloud.positions[start:stop].astype(np.float64))
    visible = np.nonzero(c[:, 2] > NEAR)[0]
    c = c[visible]
    x, y, z = c.T
    rot = quaternion_to_matrix(cloud.rotations[start:stop][visible])
    s = cloud.scales[start:stop][visible].astype(np.float64)
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
    return (start + visible[onscreen], mean[onscreen], z[onscreen], inv[onscreen],
            np.minimum(radius[onscreen], MAX_RADIUS).astype(int))


def _pairs(mean, inv, radius, width, height, rows=None):
    """(Gaussian row, pixel x, pixel y, power) for every pixel in each Gaussian's square, grouped by radius;
    rows: (first, end) to keep only the pixels of those image rows (default: all)."""
    first, end = (0, height) if rows is None else rows
    out_rows, xs, ys, powers = [], [], [], []
    for r in np.unique(radius):
        sel = np.nonzero(radius == r)[0]
        off = np.arange(-r, r + 1)
        ox, oy = np.meshgrid(off, off)
        px = np.floor(mean[sel, 0])[:, None].astype(int) + ox.ravel()[None, :]
        py = np.floor(mean[sel, 1])[:, None].astype(int) + oy.ravel()[None, :]
        dx, dy = px + 0.5 - mean[sel, 0:1], py + 0.5 - mean[sel, 1:2]
        a, b, c = inv[sel, 0, 0][:, None], inv[sel, 0, 1][:, None], inv[sel, 1, 1][:, None]
        power = -0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy)
        ok = (px >= 0) & (px < width) & (py >= first) & (py < end) & (power > np.log(MIN_ALPHA))
        out_rows.append(np.broadcast_to(sel[:, None], px.shape)[ok])
        xs.append(px[ok])
        ys.append(py[ok])
        powers.append(power[ok])
    if not out_rows:
        return (np.zeros(0, int),) * 3 + (np.zeros(0),)
    return np.concatenate(out_rows), np.concatenate(xs), np.concatenate(ys), np.concatenate(powers)


def bands(row: np.ndarray, radius: np.ndarray, height: int, squares_per_band: int) -> list[tuple[int, int]]:
    """Image rows cut into bands of at most `squares_per_band` footprint pixels each, counting each Gaussian's whole
    (2 radius + 1)^2 square at its centre row. row: (V,) int centre rows; radius: (V,) px. Returns (first, end)
    pairs covering 0..height in order; a row heavier than the budget is a band of its own (with empty rows)."""
    load = np.bincount(np.clip(row, 0, height - 1), (2.0 * radius + 1) ** 2, minlength=height)
    out, first, held = [], 0, 0.0
    for y in range(height):
        if held and load[y] and held + load[y] > squares_per_band:
            out.append((first, y))
            first, held = y, 0.0
        held += load[y]
    return out + [(first, height)]


def render(cloud: GaussianCloud, cam: PinholeCamera, background: tuple[float, float, float] = (0.0, 0.0, 0.0),
           squares_per_band: int = BAND_SQUARES) -> Rendering:
    """Renders RGB, alpha, expected depth and the top Gaussian per pixel. The image is composited in bands of rows
    (`bands`), so a view's working memory stays bounded however many Gaussians the scene holds; the result does
    not depend on the band size beyond float rounding."""
    index, mean, depth, inv, radius = project(cloud, cam)
    canvas = Canvas(cam.width, cam.height)
    centre_row = np.floor(mean[:, 1]).astype(int)
    for first, end in bands(centre_row, radius, cam.height, squares_per_band):
        near = np.flatnonzero((centre_row + radius >= first) & (centre_row - radius < end))
        row, px, py, power = _pairs(mean[near], inv[near], radius[near], cam.width, cam.height, (first, end))
        row = near[row]
        alpha = np.minimum(MAX_ALPHA, cloud.opacity[index[row]].astype(np.float64) * np.exp(power))
        canvas.blend(index[row], py * cam.width + px, alpha, depth[row], cloud.rgb)
    return canvas.finish(background)


def composite(gaussian: np.ndarray, pixel: np.ndarray, alpha: np.ndarray, depth: np.ndarray, rgb: np.ndarray,
              width: int, height: int, background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Rendering:
    """Front-to-back compositing of (Gaussian, pixel) pairs in any order, the step every renderer shares.
    gaussian: (R,) cloud index; pixel: (R,) flat index y * width + x; alpha: (R,) the Gaussian's alpha
    there (pairs under MIN_ALPHA are dropped); depth: (R,) its depth, metres; rgb: (N, 3) the cloud's colours."""
    canvas = Canvas(width, height)
    canvas.blend(gaussian, pixel, alpha, depth, rgb)
    return canvas.finish(background)


class Canvas:
    """An image being composited from pairs a batch at a time: each `blend` brings every pair of the pixels it
    touches (batches cover disjoint pixels, e.g. bands of rows)."""

    def __init__(self, width: int, height: int):
        n = width * height
        self.width, self.height = width, height
        self.acc, self.colour, self.zsum = np.zeros(n), np.zeros((n, 3)), np.zeros(n)
        self.top = np.full(n, -1, np.int64)
        self.pairs = [Contributions(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32))]

    def blend(self, gaussian: np.ndarray, pixel: np.ndarray, alpha: np.ndarray, depth: np.ndarray, rgb: np.ndarray) -> None:
        """Adds the pairs of some pixels (composite() says what each array is)."""
        keep = alpha >= MIN_ALPHA
        gaussian, pixel, alpha, depth = gaussian[keep], pixel[keep], alpha[keep].astype(np.float64), depth[keep]
        n = self.width * self.height
        # By pixel, then front to back: two stable sorts, the second on the narrowest integer type (numpy radix-sorts
        # 16-bit keys), twice as fast as one lexsort over the millions of pairs of a captured scene.
        order = np.argsort(depth, kind="stable")
        order = order[np.argsort(pixel[order].astype(np.uint16 if n <= 1 << 16 else np.int64), kind="stable")]
        gaussian, pixel, alpha, depth = gaussian[order], pixel[order], alpha[order], depth[order]
        # Transmittance before each pair: exp of the exclusive cumulative sum of log(1 - alpha) within its pixel.
        log_keep = np.log1p(-alpha)
        total = np.cumsum(log_keep)
        starts = np.r_[0, np.nonzero(np.diff(pixel))[0] + 1] if pixel.size else np.zeros(0, int)
        base = np.repeat(total[starts] - log_keep[starts], np.diff(np.r_[starts, pixel.size]))
        weight = alpha * np.exp(total - log_keep - base)
        self.acc += np.bincount(pixel, weight, minlength=n)
        for ch in range(3):
            self.colour[:, ch] += np.bincount(pixel, weight * rgb[gaussian, ch], minlength=n)
        self.zsum += np.bincount(pixel, weight * depth, minlength=n)
        if pixel.size:
            # Each pixel's largest weight, the front-most pair on ties: the first pair of its run holding the run's maximum.
            run = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, pixel.size]))
            at_max = np.flatnonzero(weight == np.maximum.reduceat(weight, starts)[run])
            first = at_max[np.r_[True, np.diff(run[at_max]) > 0]]
            self.top[pixel[first]] = gaussian[first]
        self.pairs.append(Contributions(pixel.astype(np.int32), gaussian.astype(np.int32), weight.astype(np.float32)))

    def finish(self, background: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Rendering:
        """The Rendering of everything blended, over `background` (RGB in [0, 1])."""
        h, w = self.height, self.width
        colour = self.colour + (1 - self.acc)[:, None] * np.asarray(background, np.float64)[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            expected_depth = np.where(self.acc > 1e-6, self.zsum / self.acc, 0.0)
        contributions = Contributions(*(np.concatenate([getattr(p, f) for p in self.pairs])
                                        for f in ("pixel", "gaussian", "weight")))
        return Rendering(
            rgb=colour.reshape(h, w, 3).astype(np.float32),
            alpha=self.acc.reshape(h, w).astype(np.float32),
            depth=expected_depth.reshape(h, w).astype(np.float32),
            top=self.top.reshape(h, w).astype(np.int32),
            contributions=contributions,
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
