"""Sounding-world figures, one run (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_world.py [--scenes 20 --hits 100]

1. One scene with 50 000 Gaussians, acoustics, collision mesh and preview (build_bundle + save).
2. A hit's waveform from a prepared scene: surface query + physics recipe + native render, 0.5 s at 48 kHz.
3. A dataset of --scenes x --hits in the capture layout (8 views of 128 px per scene).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from vaf import _native
from vaf.runtime.generators import PhysicsGenerator
from vaf.runtime.scenes import LoadedScene, SceneSurface
from vaf.runtime.synthesis import Excitation, render
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.dataset import DatasetConfig, make_dataset
from vaf.training.world.scene import generate_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=20)
    parser.add_argument("--hits", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for seed in range(3):
            t0 = time.perf_counter()
            bundle = build_bundle(generate_scene(seed, "kitchen"), BundleConfig(gaussians=50_000))
            bundle.save(Path(tmp) / f"s{seed}")
            times.append(time.perf_counter() - t0)
        surface = SceneSurface.of(bundle)
        scene = LoadedScene(bundle.name, bundle, surface, b"")
        points = bundle.acoustics.points[np.random.default_rng(0).integers(0, surface.points.shape[0], 200)]
        hit_ms = []
        for p in points:
            t0 = time.perf_counter()
            _, index = surface.nearest(p[None])
            source = PhysicsGenerator().generate(scene, index)[0]
            render(source.recipe, Excitation.from_materials(0.05, 1.0, "wood", source.material), 48000, 24000)
            hit_ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        make_dataset(Path(tmp) / "dataset", DatasetConfig(args.scenes, args.hits), progress=False)
        dataset_s = time.perf_counter() - t0
    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, Python {platform.python_version()}, "
          f"{_native.worker_count()} native workers")
    print("| figure | value |")
    print("|---|---|")
    print(f"| one scene, 50 000 Gaussians, built and saved (median of 3) | {np.median(times):.2f} s |")
    print(f"| a hit's waveform from a prepared scene, 0.5 s 48 kHz (median of 200) | {np.median(hit_ms):.3f} ms |")
    print(f"| dataset {args.scenes} scenes x {args.hits} hits, 8 views of 128 px per scene | {dataset_s:.0f} s |")


if __name__ == "__main__":
    main()
