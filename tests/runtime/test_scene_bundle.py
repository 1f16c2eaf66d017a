"""Scene bundles and Inria 3DGS .ply files: round trips, foreign writers, malformed input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from vaf.runtime.gaussians import SH_C0, GaussianCloud, quaternion_from_z, read_ply, write_ply
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE


def random_cloud(n: int, degree: int, seed: int = 0) -> GaussianCloud:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, 4)).astype(np.float32)
    m = (degree + 1) ** 2 - 1
    return GaussianCloud(rng.normal(size=(n, 3)).astype(np.float32), rng.random((n, 3)).astype(np.float32),
                         rng.normal(size=(n, 3, m)).astype(np.float32) * 0.1, rng.uniform(0.05, 0.95, n).astype(np.float32),
                         rng.uniform(0.001, 0.1, (n, 3)).astype(np.float32), q / np.linalg.norm(q, axis=1, keepdims=True))


@pytest.mark.parametrize("degree", [0, 1, 3])
def test_ply_round_trip(tmp_path, degree):
    cloud = random_cloud(500, degree)
    write_ply(cloud, tmp_path / "g.ply")
    back = read_ply(tmp_path / "g.ply")
    assert back.sh_degree == degree
    for name in ("positions", "rgb", "sh_rest", "opacity", "scales", "rotations"):
        np.testing.assert_allclose(getattr(back, name), getattr(cloud, name), rtol=2e-5, atol=2e-6)


def test_ply_has_exact_inria_property_names(tmp_path):
    write_ply(random_cloud(10, 1), tmp_path / "g.ply")
    names = [p.name for p in PlyData.read(str(tmp_path / "g.ply"))["vertex"].properties]
    expected = (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(9)]
                + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])
    assert names == expected


def test_reads_ply_from_another_writer(tmp_path):
    """A file written with plyfile directly, as gsplat or the Inria code would: ascii, extra properties, any order."""
    n = 64
    rng = np.random.default_rng(3)
    props = ["x", "y", "z", "opacity", "f_dc_0", "f_dc_1", "f_dc_2", "scale_0", "scale_1", "scale_2",
             "rot_0", "rot_1", "rot_2", "rot_3", "red_extra"]
    data = np.zeros(n, dtype=[(p, "f4") for p in props])
    for p in props:
        data[p] = rng.normal(size=n)
    data["rot_0"] += 3.0
    PlyData([PlyElement.describe(data, "vertex")], text=True).write(str(tmp_path / "foreign.ply"))
    cloud = read_ply(tmp_path / "foreign.ply")
    assert len(cloud) == n and cloud.sh_degree == 0
    np.testing.assert_allclose(cloud.rgb[:, 0], 0.5 + SH_C0 * data["f_dc_0"], rtol=1e-6)
    np.testing.assert_allclose(cloud.opacity, 1 / (1 + np.exp(-data["opacity"])), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(cloud.rotations, axis=1), 1.0, rtol=1e-6)


def test_malformed_ply_is_rejected_clearly(tmp_path):
    (tmp_path / "junk.ply").write_bytes(b"not a ply at all")
    with pytest.raises(ValueError, match="not a readable PLY"):
        read_ply(tmp_path / "junk.ply")
    data = np.zeros(3, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    PlyData([PlyElement.describe(data, "vertex")]).write(str(tmp_path / "points.ply"))
    with pytest.raises(ValueError, match="missing Inria 3DGS properties"):
        read_ply(tmp_path / "points.ply")
    cloud = random_cloud(4, 0)
    cloud.positions[1, 2] = np.nan
    write_ply(cloud, tmp_path / "nan.ply")
    with pytest.raises(ValueError, match="non-finite positions"):
        read_ply(tmp_path / "nan.ply")


def test_quaternion_rotates_z_onto_normal():
    rng = np.random.default_rng(1)
    normals = rng.normal(size=(200, 3))
    normals = np.concatenate([normals, [[0, 0, -1], [0, 0, 1]]])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    q = quaternion_from_z(normals).astype(np.float64)
    w, x, y, z = q.T
    rotated_z = np.stack([2 * (x * z + w * y), 2 * (y * z - w * x), 1 - 2 * (x * x + y * y)], axis=1)
    np.testing.assert_allclose(rotated_z, normals, atol=1e-5)


def test_bundle_round_trip_and_no_overwrite(tmp_path):
    bundle = SceneBundle.load(DEMO_SCENE)
    out = bundle.save(tmp_path / "copy")
    back = SceneBundle.load(out)
    assert back.name == bundle.name and back.segments == bundle.segments
    assert np.array_equal(back.labels, bundle.labels)
    assert np.array_equal(back.acoustics.gains, bundle.acoustics.gains)
    assert back.collision_mesh == bundle.collision_mesh and back.preview_png == bundle.preview_png
    before = (out / "manifest.json").read_bytes()
    with pytest.raises(FileExistsError, match="not empty"):
        bundle.save(out)
    assert (out / "manifest.json").read_bytes() == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(version=99), "version 99 is not supported"),
        (lambda m: m.update(format="other"), "format must be"),
        (lambda m: m.update(up="sideways"), "'up'"),
        (lambda m: m.update(gaussians="../../etc/passwd"), "plain file name"),
        (lambda m: m.update(labels="missing.npy"), "does not exist"),
        (lambda m: m["segments"].append({"id": "x", "level": "atom"}), "segments"),
    ],
)
def test_broken_manifest_names_the_problem(tmp_path, edit, message):
    folder = tmp_path / "b"
    shutil.copytree(DEMO_SCENE, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    edit(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=message):
        SceneBundle.load(folder)
