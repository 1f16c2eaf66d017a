"""The scene build's native kernels split their work over threads (VAF_THREADS, else the cores this process may
use): the split must not change a single bit of what they return, and the count follows the process's CPU
affinity and its cgroup's CPU quota, as a container sets them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vaf import _native

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


# Prints the process's usable cores, worker count and (in training) torch threads after `setup` ran in it.
COUNTS = """
import os, sys
{setup}
from vaf import _native
from vaf.training.cli import use_threads
use_threads(None, "test")
import torch
print(_native.usable_cores(), _native.worker_count(), torch.get_num_threads())
"""


def counts(setup: str, **env: str) -> list[int]:
    environ = {k: v for k, v in os.environ.items() if k not in ("VAF_THREADS", "OMP_NUM_THREADS")} | env
    result = subprocess.run([sys.executable, "-c", COUNTS.format(setup=setup)], env=environ, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [int(x) for x in result.stdout.split()]


def test_pinned_to_one_cpu_the_kernels_and_training_take_one_thread():
    pin = "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})"
    assert counts(pin) == [1, 1, 1]
    assert counts(pin, VAF_THREADS="3")[1] == 3
    assert counts(pin, OMP_NUM_THREADS="2")[2] == 2  # the user's own setting for torch stands


def own_cpu_cgroup() -> Path | None:
    """This process's folder in the mounted cgroup hierarchy that holds the cpu controller (v1 or v2), if any."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if not controllers:
            paths["cgroup2"] = path
        elif "cpu" in controllers.split(","):
            paths["cgroup"] = path
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        head, tail = line.split(" - ")
        root, mount = head.split()[3:5]
        fstype, _, options = tail.split()[:3]
        if fstype in paths and root == "/" and (fstype == "cgroup2" or "cpu" in options.split(",")):
            folder = Path(mount + paths[fstype])
            if (folder / ("cpu.max" if fstype == "cgroup2" else "cpu.cfs_quota_us")).exists():
                return folder
    return None


def test_under_a_half_cpu_quota_the_kernels_and_training_take_one_thread():
    """A cgroup granting half a CPU (what `docker run --cpus=0.5` sets), the process in a cgroup below it: the
    quota of a parent binds too."""
    if _native.usable_cores() < 2:
        pytest.skip("this process has one usable core already: a quota could not lower the count")
    own = own_cpu_cgroup()
    if own is None:
        pytest.skip("no cgroup hierarchy with a cpu controller and quota files is mounted")
    parent = own / f"vaf-test-{os.getpid()}"
    inner = parent / "inner"
    try:
        inner.mkdir(parents=True)
    except OSError as e:
        pytest.skip(f"cannot create a cgroup under {own} ({e}): needs root and a writable cgroup mount")
    try:
        if (parent / "cpu.max").exists():
            (parent / "cpu.max").write_text("50000 100000")
        else:
            (parent / "cpu.cfs_period_us").write_text("100000")
            (parent / "cpu.cfs_quota_us").write_text("50000")
        join = f"open({str(inner / 'cgroup.procs')!r}, 'w').write(str(os.getpid()))"
        assert counts(join) == [1, 1, 1]
        assert counts(join, VAF_THREADS="3")[1] == 3  # an explicit count still wins
    finally:
        inner.rmdir()
        parent.rmdir()
