"""Cameras and the splat renderers: the CPU rasterizer (native compositing) against a loop reference and
against geometry, the gsplat path against gsplat's own torch reference (its CUDA kernels only where a GPU is)."""

from __future__ import annotations

import numpy as np
import pytest

from vaf import _native
from vaf.runtime.gaussians import GaussianCloud, quaternion_from_z
from vaf.runtime.cameras import look_at, orbit
from vaf.training.render import choose_renderer
from vaf.training.render.gsplat_renderer import camera_matrices, gsplat_available, pair_alpha, render_gsplat
from vaf.training.render.rasterizer import LOW_PASS, MAX_RADIUS, NEAR, composite, project, render, render_reference


def cloud(positions, scales, rgb, opacity=0.9, normals=None) -> GaussianCloud:
    n = len(positions)
    normals = np.tile([0.0, 0.0, 1.0], (n, 1)) if normals is None else np.asarray(normals, float)
    return GaussianCloud(np.asarray(positions, np.float32), np.asarray(rgb, np.float32), np.zeros((n, 3, 0), np.float32),
                         np.full(n, opacity, np.float32), np.asarray(scales, np.float32), quaternion_from_z(normals))


def front_camera(size: int = 32, fov: float = 60.0):
    return look_at(np.array([0.0, 0.0, -2.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]), fov, size, size)


def test_project_unproject_round_trip():
    rng = np.random.default_rng(0)
    cams = orbit(np.zeros(3), 2.0, (0.5, 1.5), 5, 70.0, 64, rng)
    points = rng.normal(0, 0.3, (50, 3))
    for cam in cams:
        uv, z = cam.project(points)
        np.testing.assert_allclose(cam.unproject(uv, z), points, atol=1e-9)
        assert np.allclose(cam.to_camera(cam.centre[None])[0], 0, atol=1e-12)


def assert_same_rendering(fast, slow):
    """Images to float rounding, the top Gaussian of every pixel and every pair exactly, pair weights to float32."""
    np.testing.assert_allclose(fast.rgb, slow.rgb, atol=1e-6)
    np.testing.assert_allclose(fast.alpha, slow.alpha, atol=1e-6)
    np.testing.assert_allclose(fast.depth, slow.depth, rtol=1e-6)
    np.testing.assert_array_equal(fast.top, slow.top)
    np.testing.assert_array_equal(fast.contributions.pixel, slow.contributions.pixel)
    np.testing.assert_array_equal(fast.contributions.gaussian, slow.contributions.gaussian)
    np.testing.assert_allclose(fast.contributions.weight, slow.contributions.weight, rtol=1e-6)


def test_native_rasterizer_matches_loop_reference():
    rng = np.random.default_rng(1)
    n = 40
    c = cloud(rng.normal(0, 0.25, (n, 3)), rng.uniform(0.02, 0.12, (n, 3)), rng.random((n, 3)),
              normals=rng.normal(size=(n, 3)))
    c.opacity = rng.uniform(0.2, 0.95, n).astype(np.float32)
    fast, slow = render(c, front_camera(24)), render_reference(c, front_camera(24))
    assert_same_rendering(fast, slow)
    assert slow.contributions.pixel.size > 1000


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_native_rasterizer_matches_loop_reference_at_the_edges(seed):
    """An oblique, non-square view of Gaussians half off screen, behind the near plane, larger than MAX_RADIUS,
    and stacked at one depth (equal depths: the lower index in front)."""
    c, cam = random_scene(seed, n=50)
    rng = np.random.default_rng(seed)
    ahead = np.array([0.05, 0.0, 0.1]) - cam.centre
    ahead /= np.linalg.norm(ahead)
    positions = np.r_[c.positions, rng.normal(0, 1.5, (10, 3)), [[0.1, 0.1, 0.1]] * 3,
                      cam.centre + np.outer([0.02, 0.3], ahead)]  # inside the near plane, and just beyond it
    scales = np.r_[c.scales, rng.uniform(0.01, 0.3, (10, 3)), [[0.4, 0.4, 0.4], [0.05, 0.05, 0.05], [0.05, 0.05, 0.05]],
                   [[0.1, 0.1, 0.1], [0.3, 0.3, 0.3]]]
    c = cloud(positions, scales, rng.random((len(positions), 3)), normals=rng.normal(size=(len(positions), 3)))
    c.opacity = rng.uniform(0.1, 0.95, len(positions)).astype(np.float32)
    _, mean, _, _, radius = project(c, cam)
    assert (radius == MAX_RADIUS).any() and ((mean < 0) | (mean >= [cam.width, cam.height])).any()
    assert_same_rendering(render(c, cam), render_reference(c, cam))


def test_native_projection_matches_numpy_projection():
    """Every Gaussian kept or dropped alike (behind the camera, off screen), the same footprints; a Gaussian with
    a NaN position or an infinite scale is dropped, not drawn."""
    c, cam = random_scene(6, n=2000)
    c.positions[:500] *= 6  # many behind the camera or off screen
    ours = _native.project(c.positions, c.rotations, c.scales, cam.rotation, cam.translation, (cam.fx, cam.fy, cam.cx, cam.cy),
                           cam.width, cam.height, NEAR, LOW_PASS, MAX_RADIUS)
    index, mean, depth, inv, radius = project(c, cam)
    assert 500 < len(index) < 1900
    np.testing.assert_array_equal(ours[0], index)
    np.testing.assert_allclose(ours[1], mean, rtol=1e-12)
    np.testing.assert_allclose(ours[2], depth, rtol=1e-12)
    np.testing.assert_allclose(ours[3], np.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], 1), rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(ours[4], radius)
    c.positions[index[0]] = np.nan
    c.scales[index[1]] = np.inf
    kept = _native.project(c.positions, c.rotations, c.scales, cam.rotation, cam.translation, (cam.fx, cam.fy, cam.cx, cam.cy),
                           cam.width, cam.height, NEAR, LOW_PASS, MAX_RADIUS)[0]
    np.testing.assert_array_equal(kept, index[2:])


def test_single_gaussian_has_the_projected_width():
    sigma, distance, size, fov = 0.05, 2.0, 64, 60.0
    c = cloud([[0.0, 0.0, 0.0]], [[sigma, sigma, sigma]], [[1.0, 1.0, 1.0]], opacity=0.5)
    out = render(c, front_camera(size, fov))
    f = 0.5 * size / np.tan(np.radians(fov) / 2)
    expected_px = np.sqrt((f * sigma / distance) ** 2 + 0.3)
    row = out.alpha[size // 2 - 1] + out.alpha[size // 2]  # the two rows around the centre
    x = np.arange(size) + 0.5 - size / 2
    measured = np.sqrt(np.sum(row * x * x) / np.sum(row))
    assert measured == pytest.approx(expected_px, rel=0.05)
    assert out.depth[size // 2, size // 2] == pytest.approx(distance, rel=1e-3)


def test_front_gaussian_occludes_back_one():
    c = cloud([[0.0, 0.0, -0.5], [0.0, 0.0, 0.5]], [[0.2, 0.2, 0.01]] * 2, [[1, 0, 0], [0, 0, 1]], opacity=0.99)
    out = render(c, front_camera(16))
    centre = out.rgb[8, 8]
    assert centre[0] > 0.9 and centre[2] < 0.1  # the front splat lets through only (1 - alpha)
    assert out.top[8, 8] == 0
    assert 1.5 <= out.depth[8, 8] < 1.6  # expected depth: mostly the front splat
    alone = render(cloud([[0.0, 0.0, 0.5]], [[0.2, 0.2, 0.01]], [[0, 0, 1]], opacity=0.99), front_camera(16))
    assert out.gaussian_weights(2)[1] < 0.35 * alone.gaussian_weights(1)[0]  # mostly hidden


def test_behind_camera_is_not_drawn():
    c = cloud([[0.0, 0.0, -3.0]], [[0.3, 0.3, 0.3]], [[1, 1, 1]])
    out = render(c, front_camera(16))
    assert out.alpha.max() == 0 and (out.top == -1).all()


def random_scene(seed: int, n: int = 60):
    """A random cloud around the origin and an oblique, non-square camera (48 x 32 px) looking at it."""
    rng = np.random.default_rng(seed)
    c = cloud(rng.normal(0, 0.3, (n, 3)), rng.uniform(0.01, 0.1, (n, 3)), rng.random((n, 3)), normals=rng.normal(size=(n, 3)))
    c.opacity = rng.uniform(0.1, 0.95, n).astype(np.float32)
    cam = look_at(np.array([1.2, -0.8, -1.6]), np.array([0.05, 0.0, 0.1]), np.array([0.0, 1.0, 0.0]), 65.0, 48, 32)
    return c, cam


def gsplat_reference_projection(c, cam):
    """gsplat's pure-torch projection (the reference its CUDA kernel is tested against), float64, for one camera."""
    torch = pytest.importorskip("torch")
    reference = pytest.importorskip("gsplat.cuda._torch_impl")
    view, k = camera_matrices(cam)
    f64 = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731
    covars, _ = reference._quat_scale_to_covar_preci(f64(c.rotations), f64(c.scales), compute_preci=False)
    radii, means2d, depths, conics, _ = reference._fully_fused_projection(
        f64(c.positions), covars, f64(view)[None], f64(k)[None], cam.width, cam.height, eps2d=LOW_PASS, near_plane=NEAR)
    return radii[0].numpy(), means2d[0].numpy(), depths[0].numpy(), conics[0].numpy()


@pytest.mark.parametrize("side", [24, 300])  # 16-bit pixel keys up to 256 x 256, 64-bit beyond
def test_composite_blends_each_pixel_front_to_back_at_any_image_size(side):
    """Random pairs piled on 12 pixels, in any order: each pixel's alpha, depth and top Gaussian equal a loop over
    its pairs sorted front to back."""
    rng = np.random.default_rng(side)
    pixels = rng.choice(side * side, 12, replace=False)
    if side * side > 1 << 16:  # six pairs of pixels that 16-bit keys could not tell apart
        base = rng.choice(side * side - (1 << 16), 6, replace=False)
        pixels = np.r_[base, base + (1 << 16)]
    count = 400
    gaussian, pixel = rng.permutation(count), rng.choice(pixels, count)
    alpha, depth = rng.uniform(0.01, 0.6, count), rng.uniform(0.5, 4.0, count)  # depth: of each Gaussian
    out = composite(gaussian, pixel, alpha, depth, rng.random((count, 3)), side, side)
    for p in pixels:
        transmittance, accumulated, zsum, best, top = 1.0, 0.0, 0.0, 0.0, -1
        for k in sorted(np.flatnonzero(pixel == p), key=lambda k: depth[gaussian[k]]):
            weight = alpha[k] * transmittance
            accumulated, zsum = accumulated + weight, zsum + weight * depth[gaussian[k]]
            if weight > best:
                best, top = weight, gaussian[k]
            transmittance *= 1 - alpha[k]
        y, x = divmod(int(p), side)
        assert out.alpha[y, x] == pytest.approx(accumulated, abs=1e-6)
        assert out.depth[y, x] == pytest.approx(zsum / accumulated, rel=1e-5)
        assert out.top[y, x] == top
    assert (out.top >= 0).sum() == len(pixels)


def test_projection_matches_gsplat_reference():
    c, cam = random_scene(2)
    index, mean, depth, inv, _ = project(c, cam)
    radii, means2d, depths, conics = gsplat_reference_projection(c, cam)
    assert len(index) > 40
    assert set(index) <= set(np.flatnonzero((radii > 0).all(axis=1)))  # what we draw, gsplat draws too
    np.testing.assert_allclose(means2d[index], mean, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(depths[index], depth, rtol=1e-6)
    np.testing.assert_allclose(conics[index], np.stack([inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 1]], 1), rtol=1e-5, atol=1e-9)


def test_gsplat_path_composites_like_the_cpu_rasterizer():
    """Everything of render_gsplat but its three CUDA calls: given the pairs gsplat's kernel would list (here the
    CPU rasterizer's, on the same footprints), its alpha and compositing reproduce render() exactly."""
    c, cam = random_scene(3)
    cpu = render(c, cam)
    _, means2d, depths, conics = gsplat_reference_projection(c, cam)
    gaussian, pixel = cpu.contributions.gaussian, cpu.contributions.pixel
    alpha = pair_alpha(gaussian, pixel, means2d, conics, c.opacity.astype(np.float64), cam.width)
    shuffled = np.random.default_rng(0).permutation(len(gaussian))  # gsplat lists pairs in tile order
    ours = composite(gaussian[shuffled], pixel[shuffled], alpha[shuffled], depths, c.rgb, cam.width, cam.height)
    np.testing.assert_allclose(ours.rgb, cpu.rgb, atol=1e-6)
    np.testing.assert_allclose(ours.alpha, cpu.alpha, atol=1e-6)
    np.testing.assert_allclose(ours.depth, cpu.depth, atol=1e-5)
    np.testing.assert_array_equal(ours.top, cpu.top)
    np.testing.assert_allclose(ours.gaussian_weights(len(c)), cpu.gaussian_weights(len(c)), atol=1e-6)


@pytest.mark.skipif(not gsplat_available(), reason="needs a CUDA GPU for gsplat's kernels; the two tests above check "
                    "the rest of the gsplat path on the CPU")
def test_gsplat_renderer_matches_cpu_renderer():
    c, cam = random_scene(4, n=400)
    gpu, cpu = render_gsplat(c, cam), render(c, cam)
    # gsplat's tiles stop a pixel once its transmittance is under 1e-4 and cut footprints at 3.33 sigma per axis
    np.testing.assert_allclose(gpu.rgb, cpu.rgb, atol=2e-3)
    np.testing.assert_allclose(gpu.gaussian_weights(len(c)), cpu.gaussian_weights(len(c)), atol=5e-2)
    assert (gpu.top == cpu.top).mean() > 0.99


def test_choose_renderer_names_what_is_missing():
    name, renderer = choose_renderer("auto")
    assert name == ("gsplat" if gsplat_available() else "cpu") and renderer is (render_gsplat if gsplat_available() else render)
    assert choose_renderer("cpu") == ("cpu", render)
    with pytest.raises(ValueError, match="renderer must be auto, cpu or gsplat, got 'vulkan'"):
        choose_renderer("vulkan")
    if not gsplat_available():
        with pytest.raises(ValueError, match="needs a CUDA GPU"):
            choose_renderer("gsplat")
        with pytest.raises(RuntimeError, match="needs a CUDA GPU"):
            render_gsplat(*random_scene(5))
