"""The native surface index against a brute-force numpy reference: same nearest point, same distance."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from vaf import _native
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE, SceneSurface


def brute_force(points: np.ndarray, queries: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Reference: distances (B, k) float64 to the k nearest of points (M, 3) and their indices, ranked by
    (distance, index)."""
    p, q = points.astype(np.float64), queries.astype(np.float32).astype(np.float64)
    d2 = np.empty((len(q), len(p)))
    for j, x in enumerate(q):
        g = x - p
        d2[j] = g[:, 0] * g[:, 0] + g[:, 1] * g[:, 1] + g[:, 2] * g[:, 2]  # summed in the native order
    index = np.argsort(d2, axis=1, kind="stable")[:, :k]  # stable: equal distances keep index order
    return np.sqrt(np.take_along_axis(d2, index, axis=1)), index


def clustered(rng: np.random.Generator, n: int) -> np.ndarray:
    """Points on a few flat, thin and round clusters, like a scene's surfaces (not a uniform cloud)."""
    centres = rng.uniform(-2.0, 2.0, (6, 3))
    spread = rng.uniform(0.001, 0.5, (6, 3))
    which = rng.integers(0, 6, n)
    return (centres[which] + rng.normal(size=(n, 3)) * spread[which]).astype(np.float32)


@pytest.mark.parametrize("k", [1, 8, 20])
@pytest.mark.parametrize("n", [1, 2, 9, 100, 3000])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nearest_matches_brute_force(n, seed, k):
    rng = np.random.default_rng(seed)
    points = clustered(rng, n)
    queries = np.concatenate([
        points[rng.integers(0, n, 50)] + rng.normal(scale=0.01, size=(50, 3)),  # near the surface
        rng.uniform(-4.0, 4.0, (50, 3)),  # anywhere, far outside too
        points[rng.integers(0, n, 10)],  # exactly on a point
    ]).astype(np.float32)
    k = min(k, n)
    distance, index = _native.SurfaceIndex(points).nearest(queries, k=k)
    want_distance, want_index = brute_force(points, queries, k)
    assert distance.dtype == np.float64 and distance.shape == ((len(queries),) if k == 1 else (len(queries), k))
    np.testing.assert_array_equal(index.reshape(-1, k), want_index)
    np.testing.assert_array_equal(distance.reshape(-1, k), want_distance)


def test_ties_go_to_the_lowest_index():
    # A lattice repeated three times: every query ties three ways (at least), and the first copy wins.
    g = np.stack(np.meshgrid(*[np.arange(6, dtype=np.float32) * 0.1] * 3, indexing="ij"), -1).reshape(-1, 3)
    points = np.concatenate([g, g[::-1], g])
    queries = np.random.default_rng(3).uniform(-0.1, 0.6, (200, 3)).astype(np.float32)
    queries[:20] = g[::11][:20] + 0.05  # equidistant from several lattice points
    index = _native.SurfaceIndex(points)
    np.testing.assert_array_equal(index.nearest(queries)[1], brute_force(points, queries)[1][:, 0])
    assert index.nearest(queries)[1].max() < len(g)
    _, three = index.nearest(queries, k=3)  # the three copies of one lattice point, in index order, or closer ties
    np.testing.assert_array_equal(three, brute_force(points, queries, 3)[1])


def test_demo_scene_surface_matches_reference():
    surface = SceneSurface.of(SceneBundle.load(DEMO_SCENE))
    rng = np.random.default_rng(4)
    queries = surface.points[rng.integers(0, len(surface.points), 300)] + rng.normal(scale=0.03, size=(300, 3))
    distance, index = surface.nearest(queries)
    centre_distance, want = (a[:, 0] for a in brute_force(surface.points, queries))
    np.testing.assert_array_equal(index, want)
    np.testing.assert_allclose(distance, np.maximum(0.0, centre_distance - surface.radius[want]))
    d8, i8 = surface.neighbours(queries[0], k=8)
    want8 = brute_force(surface.points, queries[:1], 8)
    np.testing.assert_array_equal(i8, want8[1][0])
    np.testing.assert_array_equal(d8, want8[0][0])


def test_feature_field_averages_the_k_nearest_seen_gaussians():
    """FeatureField.query against the same mean computed from the brute-force neighbours."""
    from vaf.runtime.feature_field import FeatureField

    rng = np.random.default_rng(6)
    positions = clustered(rng, 500)
    features = rng.normal(size=(500, 3, 4)).astype(np.float32)
    features[::7] = 0.0  # unseen Gaussians carry no feature and are not neighbours
    field = FeatureField(positions, features)
    queries = positions[rng.integers(0, 500, 40)] + rng.normal(scale=0.01, size=(40, 3)).astype(np.float32)
    got, found = field.query(queries)
    seen = np.abs(features).max(axis=(1, 2)) > 0
    distance, index = brute_force(positions[seen], queries, 8)
    mean = features[seen][index].mean(axis=1)
    want = mean / np.linalg.norm(mean, axis=2, keepdims=True)
    np.testing.assert_array_equal(found, distance[:, 0] <= 0.1)  # farther than 0.1 m from every seen one: no feature
    assert 0 < found.sum() < len(found)
    np.testing.assert_allclose(got[found], want[found], rtol=1e-5, atol=1e-6)
    assert not got[~found].any()


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
    with pytest.raises(ValueError, match=r"k = 4 must be in \[1, 3\]"):
        index.nearest(np.zeros((1, 3), np.float32), k=4)
    with pytest.raises(ValueError, match="k = 0 must be >= 1"):
        index.nearest(np.zeros((1, 3), np.float32), k=0)
    assert index.nearest([[0.9, 0.1, 0.0]])[1].tolist() == [0] and len(index) == 3
