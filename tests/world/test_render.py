"""Cameras and the CPU splat rasterizer against a loop reference and against geometry."""

from __future__ import annotations

import numpy as np
import pytest

from vaf.runtime.gaussians import GaussianCloud, quaternion_from_z
from vaf.runtime.cameras import look_at, orbit
from vaf.training.render.rasterizer import render, render_reference


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


def test_vectorised_rasterizer_matches_loop_reference():
    rng = np.random.default_rng(1)
    n = 40
    c = cloud(rng.normal(0, 0.25, (n, 3)), rng.uniform(0.02, 0.12, (n, 3)), rng.random((n, 3)),
              normals=rng.normal(size=(n, 3)))
    c.opacity = rng.uniform(0.2, 0.95, n).astype(np.float32)
    cam = front_camera(24)
    fast = render(c, cam)
    rgb, alpha = render_reference(c, cam)
    np.testing.assert_allclose(fast.rgb, rgb, atol=1e-5)
    np.testing.assert_allclose(fast.alpha, alpha, atol=1e-5)


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
