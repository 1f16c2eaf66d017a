"""Segment extents: rotation-invariant principal spans, measured on sampled surfaces."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from vaf.runtime.segment_geometry import MIN_EXTENT_M, SegmentGeometry, principal_extents


def _box_surface(size: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points uniform over the six faces of an axis-aligned box centred at 0."""
    points = (rng.random((n, 3)) - 0.5) * size
    axis = rng.integers(3, size=n)
    points[np.arange(n), axis] = np.sign(rng.random(n) - 0.5) * size[axis] / 2
    return points


@pytest.mark.parametrize("seed", range(5))
def test_extents_of_a_rotated_box_are_its_sides(seed):
    rng = np.random.default_rng(seed)
    size = np.sort(rng.uniform(0.01, 1.0, 3))[::-1]
    points = _box_surface(size, 20_000, rng)
    rotated = Rotation.random(random_state=seed).apply(points) + rng.normal(size=3)
    a, b = principal_extents(points), principal_extents(rotated)
    np.testing.assert_allclose(a, b, rtol=1e-6)  # rotation and translation change nothing
    np.testing.assert_allclose(b, size, rtol=0.08)  # 2nd..98th percentile span: a few percent short


def test_degenerate_segments_get_the_floor():
    assert np.all(principal_extents(np.zeros((1, 3))) == MIN_EXTENT_M)
    flat = np.c_[np.random.default_rng(0).random((100, 2)), np.zeros(100)]
    assert principal_extents(flat)[2] == MIN_EXTENT_M


def test_describe_reads_subpart_then_part_and_names_unknown_ids():
    rng = np.random.default_rng(0)
    small, large = _box_surface(np.array([0.1, 0.05, 0.01]), 2000, rng), _box_surface(np.array([0.6, 0.3, 0.02]), 4000, rng)
    positions = np.concatenate([small, large + [1.0, 0, 0]])
    labels = np.array([[1, 10, 100]] * len(small) + [[2, 10, 100]] * len(large))
    geometry = SegmentGeometry(positions, labels)
    centre, corner_x = [0.0, 0.0, 0.0], [0.05, 0.0, 0.0]
    row = geometry.describe(np.array([1, 1]), np.array([10, 10]), np.array([centre, corner_x]))
    extents = np.exp(row[0, :6])
    np.testing.assert_allclose(extents[:3], [0.1, 0.05, 0.01], rtol=0.1)
    assert 1.2 < extents[3] < 1.36  # the part spans both subparts: -0.05 to 1.3 m
    np.testing.assert_allclose(row[0, 6:], 0.0, atol=0.03)  # the centre of the subpart
    np.testing.assert_allclose(row[1, 6:], [0.5, 0.0, 0.0], atol=0.03)  # its edge along the longest axis
    with pytest.raises(KeyError, match="segment 7"):
        geometry.describe(np.array([7]), np.array([10]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="labels: shape"):
        SegmentGeometry(positions, labels[:10])
