"""The native surface index against a brute-force numpy reference: same nearest point, same distance."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vaf import _native
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE, SceneSurface


def brute_force(points: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference: distance (B,) float64 to the nearest of points (M, 3) and its index, lowest index on a tie."""
    p, q = points.astype(np.float64), queries.astype(np.float32).astype(np.float64)
    d2 = np.empty((len(q), len(p)))
    for k, x in enumerate(q):
        g = x - p
        d2[k] = g[:, 0] * g[:, 0] + g[:, 1] * g[:, 1] + g[:, 2] * g[:, 2]  # summed in the native order
    index = d2.argmin(axis=1)  # first minimum: the lowest index
    return np.sqrt(d2[np.arange(len(q)), index]), index


def clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    """Points on a few flat, thin and round clusters, like a scene's surfaces (not a uniform cloud)."""
    centres = rng.uniform(-2.0, 2.0, (6, 3))
    spread = rng.uniform(0.001, 0.5, (6, 3))
    which = rng.integers(0, 6, n)
    return (centres[which] + rng.normal(size=(n, 3)) * spread[which]).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 9, 100, 3000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_matches_brute_force(n, seed):
    rng = np.random.default_rng(seed)
    points = clustered(rng, n)
    queries = np.concatenate([
        points[rng.integers(0, n, 50)] + rng.normal(scale=0.01, size=(50, 3)),  # near the surface
        rng.uniform(-4.0, 4.0, (50, 3)),  # anywhere, far outside too
        points[rng.integers(0, n, 10)],  # exactly on a point
    ]).astype(np.float32)
    distance, index = _native.SurfaceIndex(points).nearest(queries)
    want_distance, want_index = brute_force(points, queries)
    assert distance.dtype == np.float64 and distance.shape == (len(queries),)
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_array_equal(distance, want_distance)


def test_ties_go_to_the_lowest_index():
    # A lattice repeated three times: every query ties three ways (at least), and the first copy wins.
    g = np.stack(np.meshgrid(*[np.arange(6, dtype=np.float32) * 0.1] * 3, indexing="ij"), -1).reshape(-1, 3)
    points = np.concatenate([g, g[::-1], g])
    queries = np.random.default_rng(3).uniform(-0.1, 0.6, (200, 3)).astype(np.float32)
    queries[:20] = g[::11][:20] + 0.05  # equidistant from several lattice points
    _, index = _native.SurfaceIndex(points).nearest(queries)
    _, want = brute_force(points, queries)
    np.testing.assert_array_equal(index, want)
    assert index.max() < len(g)


def test_demo_scene_surface_matches_reference():
    surface = SceneSurface.of(SceneBundle.load(DEMO_SCENE))
    rng = np.random.default_rng(4)
    queries = surface.points[rng.integers(0, len(surface.points), 300)] + rng.normal(scale=0.03, size=(300, 3))
    distance, index = surface.nearest(queries)
    centre_distance, want = brute_force(surface.points, queries)
    np.testing.assert_array_equal(index, want)
    np.testing.assert_allclose(distance, np.maximum(0.0, centre_distance - surface.radius[want]))
    # The offline k-nearest query (scipy) agrees on the nearest centre.
    d8, i8 = surface.neighbours(queries[0], k=8)
    assert i8[0] == want[0] and np.all(np.diff(d8) >= 0)


def test_queries_from_many_threads_agree():
    rng = np.random.default_rng(5)
    points = clustered(rng, 5000)
    index = _native.SurfaceIndex(points)
    queries = rng.uniform(-3.0, 3.0, (4000, 3)).astype(np.float32)
    want = index.nearest(queries)[1]
    results = [None] * 4

    def run(k):
        results[k] = np.concatenate([index.nearest(queries[j:j + 7])[1] for j in range(0, len(queries), 7)])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((0, 3), np.float32), "points: count = 0"),
        (np.zeros((4, 2), np.float32), r"points must have shape \(N, 3\), got \(4, 2\)"),
        (np.zeros(3, np.float32), r"points must have shape \(N, 3\), got \(3\)"),
        (np.array([[0, 0, 0], [1, np.inf, 0]], np.float32), r"points\[1\]\[1\] is not finite"),
        ("floor", "points must be convertible to float32"),
    ],
)
def test_bad_points_name_the_field(points, message):
    with pytest.raises(ValueError, match=message):
        _native.SurfaceIndex(points)


def test_bad_queries_name_the_field_and_the_index_survives():
    index = _native.SurfaceIndex(np.eye(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"queries\[2\]\[0\] is not finite"):
        index.nearest(np.array([[0, 0, 0], [1, 1, 1], [np.nan, 0, 0]], np.float32))
    with pytest.raises(ValueError, match=r"queries must have shape \(N, 3\)"):
        index.nearest(np.zeros((2, 4), np.float32))
    distance, nearest = index.nearest(np.zeros((0, 3), np.float32))
    assert distance.shape == nearest.shape == (0,)
    assert index.nearest([[0.9, 0.1, 0.0]])[1].tolist() == [0] and len(index) == 3
