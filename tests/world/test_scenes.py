"""Scenes, bundles and the `vaf world` command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from plyfile import PlyData

from vaf.runtime.gaussians import SH_C0
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.wav import read_wav
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.objects import CATEGORIES, Part, Subpart, at
from vaf.training.world.parts import Box
from vaf.training.world.scene import LAYOUTS, generate_scene, scene_units

SMALL = BundleConfig(gaussians=4000, acoustic_points=2000, max_modes=16)


def test_every_category_builds_plausible_parts():
    rng = np.random.default_rng(0)
    assert len(CATEGORIES) >= 12
    for name, build in CATEGORIES.items():
        spec = build(rng)
        assert spec.parts and all(p.subparts for p in spec.parts), name
        for part in spec.parts:
            for sub in part.subparts:
                assert 1e-4 < sub.primitive.area() < 20, (name, sub.name)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_layouts_make_4_to_15_objects_with_three_label_levels(layout):
    scene = generate_scene(11, layout)
    assert 4 <= len(scene.objects) - 1 <= 15
    units, segments = scene_units(scene)
    levels = {s["level"] for s in segments}
    assert levels == {"subpart", "part", "object"}
    ids = [s["id"] for s in segments]
    assert len(ids) == len(set(ids))
    assert {u.ids[0] for u in units} == {s["id"] for s in segments if s["level"] == "subpart"}


def test_seeds_decide_scenes():
    a, b = generate_scene(1), generate_scene(1)
    assert [(o.label, o.pose.translation.tolist()) for o in a.objects] == [(o.label, o.pose.translation.tolist()) for o in b.objects]
    c = generate_scene(2)
    assert [(o.label, o.pose.translation.tolist()) for o in a.objects] != [(o.label, o.pose.translation.tolist()) for o in c.objects]


def test_bundle_ply_reads_back_with_plyfile(tmp_path):
    bundle = build_bundle(generate_scene(5, "tabletop"), SMALL)
    bundle.save(tmp_path / "b")
    v = PlyData.read(str(tmp_path / "b" / "gaussians.ply"))["vertex"].data
    np.testing.assert_allclose(np.stack([v["x"], v["y"], v["z"]], axis=1), bundle.gaussians.positions, rtol=1e-6)
    rgb = 0.5 + SH_C0 * np.stack([v["f_dc_0"], v["f_dc_1"], v["f_dc_2"]], axis=1)
    np.testing.assert_allclose(rgb, bundle.gaussians.rgb, atol=1e-5)
    assert len(SceneBundle.load(tmp_path / "b").segments) == len(bundle.segments)


def test_splats_lie_flat_on_their_surfaces():
    bundle = build_bundle(generate_scene(6, "floor"), SMALL)
    g = bundle.gaussians
    assert np.all(g.scales[:, 2] <= g.scales[:, 0])  # thin along the normal (local z)
    floor_top = (bundle.labels[:, 2] == 0) & (np.abs(g.positions[:, 1]) < 1e-6)
    w, x, y, z = g.rotations[floor_top].T.astype(np.float64)
    normal_y = 2 * (y * z - w * x)
    np.testing.assert_allclose(np.abs(normal_y), 1.0, atol=1e-4)


def test_unknown_material_names_the_part():
    scene = generate_scene(3, "tabletop")
    scene.objects[1].spec.parts.append(Part("lid", "unobtainium", [Subpart("lid", Box((0.1, 0.01, 0.1)), at(0, 0, 0))]))
    with pytest.raises(ValueError, match=r"lid\.material: unknown material 'unobtainium'"):
        scene_units(scene)


def test_bad_layout_and_config():
    with pytest.raises(ValueError, match="layout"):
        generate_scene(1, "moon_base")
    with pytest.raises(ValueError, match="gaussians"):
        BundleConfig(gaussians=0)


def run_vaf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vaf", *args], capture_output=True, text=True, timeout=300)


def test_world_cli_scene_and_hit(tmp_path):
    out = tmp_path / "scene"
    result = run_vaf("world", "scene", "--seed", "8", "--layout", "kitchen", "--gaussians", "5000",
                     "--acoustic-points", "2000", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"manifest.json", "gaussians.ply", "labels.npy", "acoustics.npz",
                                               "collision.glb", "preview.png"}
    bundle = SceneBundle.load(out)
    point = bundle.acoustics.points[np.argmax(np.abs(bundle.acoustics.gains).max(axis=1))]
    wav = tmp_path / "hit.wav"
    result = run_vaf("world", "hit", str(out), "--point", *map(str, point), "--impulse", "0.05", "--out", str(wav))
    assert result.returncode == 0, result.stderr
    pcm, rate = read_wav(wav)
    assert rate == 48000 and pcm.size == 24000 and np.abs(pcm).max() > 1e-3
    again = run_vaf("world", "hit", str(out), "--point", *map(str, point), "--out", str(wav))
    assert again.returncode == 2 and "not overwriting" in again.stderr
    refused = run_vaf("world", "scene", "--seed", "8", "--out", str(out))
    assert refused.returncode == 2 and "not empty" in refused.stderr


@pytest.mark.parametrize(
    ("point", "message"),
    [(["nan", "0", "0"], "finite"), (["30", "30", "30"], "from the nearest surface")],
)
def test_world_hit_rejects_bad_points(point, message):
    from vaf.runtime.scenes import DEMO_SCENE

    result = run_vaf("world", "hit", str(DEMO_SCENE), "--point", *point, "--out", "/tmp/never-written.wav")
    assert result.returncode == 2 and message in result.stderr
