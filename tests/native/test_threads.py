"""The scene build's native kernels split their work over threads (VAF_THREADS, else the cores): the split
must not change a single bit of what they return."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

# A sounding-world scene's views rendered and lifted, everything they return saved to argv[1].
SCRIPT = """
import sys
import numpy as np
from vaf import _native
from vaf.runtime.cameras import around_objects
from vaf.training.features.masks import oracle_masks
from vaf.training.render.rasterizer import composite, render
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.scene import generate_scene

bundle = build_bundle(generate_scene(2, "kitchen"), BundleConfig(gaussians=20000))
cloud, out = bundle.gaussians, {"workers": _native.worker_count()}
feats, weight = np.zeros((len(cloud), 3, 8), np.float32), np.zeros((len(cloud), 3))
for k, cam in enumerate(around_objects(bundle.segments, 3, 96, np.random.default_rng(0))):
    view = render(cloud, cam)
    c = view.contributions
    out.update({f"rgb{k}": view.rgb, f"top{k}": view.top, f"pixel{k}": c.pixel, f"gaussian{k}": c.gaussian,
                f"weight{k}": c.weight})
    shuffled = np.random.default_rng(k).permutation(c.pixel.size)
    again = composite(c.gaussian[shuffled], c.pixel[shuffled], np.full(c.pixel.size, 0.3), np.linspace(1, 2, len(cloud)),
                      cloud.rgb, cam.width, cam.height)
    out[f"composite{k}"] = again.contributions.weight
    ids = oracle_masks(bundle.labels)(view)
    mask_of_pixel = np.stack([np.where(ids[..., level].ravel() >= 0, ids[..., level].ravel() % 5, -1) for level in range(3)])
    embeddings = [np.random.default_rng(level).normal(size=(5, 8)).astype(np.float32) for level in range(3)]
    _native.lift_add_view(c.pixel, c.gaussian, c.weight, mask_of_pixel, embeddings, feats, weight)
np.savez(sys.argv[1], feats=feats, weight_sum=weight, **out)
"""


def run(tmp_path, threads: str | None) -> dict[str, np.ndarray]:
    env = {k: v for k, v in os.environ.items() if k != "VAF_THREADS"}
    if threads is not None:
        env["VAF_THREADS"] = threads
    path = tmp_path / f"out_{threads}.npz"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return dict(np.load(path))


def test_any_number_of_threads_gives_the_same_bits(tmp_path):
    one = run(tmp_path, "1")
    assert one["workers"] == 1 and one["weight0"].size > 10000 and one["weight_sum"].any()
    for threads in (None, "3", "7"):
        other = run(tmp_path, threads)
        assert other["workers"] == int(threads) if threads else other["workers"] >= 1
        for name, value in one.items():
            if name != "workers":
                np.testing.assert_array_equal(other[name], value, err_msg=f"{name}, VAF_THREADS={threads}")


@pytest.mark.parametrize("bad", ["0", "many", "3.5", "65"])
def test_a_bad_thread_count_names_vaf_threads(tmp_path, bad):
    env = dict(os.environ, VAF_THREADS=bad)
    code = "from vaf import _native; _native.worker_count()"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"ValueError: VAF_THREADS must be a whole number from 1 to 64, got '{bad}'" in result.stderr
