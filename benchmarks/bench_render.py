"""A feature build's view, step by step, one run (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_render.py [--gaussians 1000000] [--views 8] [--image-size 128]

A sounding-world kitchen of --gaussians Gaussians made in memory, then for each of --views cameras
around its objects (as `vaf scene build` places them): the native projection, the native pairs and
compositing (`vaf._native.splat`), the whole `rasterizer.render`, and the lift's native accumulation of
the view's pairs with oracle masks and random 64-d embeddings. Medians over the views, the pairs per
view, and the process's peak memory. `--reference` also times the numpy `rasterizer.project` per view.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time

import numpy as np

from vaf import _native
from vaf.runtime.cameras import around_objects
from vaf.training.features.lift import LEVELS
from vaf.training.features.masks import oracle_masks
from vaf.training.render.rasterizer import LOW_PASS, MAX_ALPHA, MAX_RADIUS, MIN_ALPHA, NEAR, project, render
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.scene import generate_scene

DIM = 64


def seconds(step) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = step()
    return time.perf_counter() - t0, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gaussians", type=int, default=1_000_000)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--reference", action="store_true", help="also time the numpy projection")
    args = parser.parse_args()
    bundle = build_bundle(generate_scene(4, "kitchen"), BundleConfig(gaussians=args.gaussians))
    cloud = bundle.gaussians
    masks = oracle_masks(bundle.labels)
    cams = around_objects(bundle.segments, args.views, args.image_size, np.random.default_rng(0))
    feats, weight = np.zeros((len(cloud), len(LEVELS), DIM), np.float32), np.zeros((len(cloud), len(LEVELS)))
    rows: dict[str, list[float]] = {"projection (native)": [], "pairs and compositing (native splat)": [],
                                    "rasterizer.render, whole": [], "lift of the view's pairs (native)": []}
    if args.reference:
        rows["projection (numpy reference)"] = []
    pairs = []
    for cam in cams:
        t, (index, mean, depth, conic, radius) = seconds(lambda: _native.project(
            cloud.positions, cloud.rotations, cloud.scales, cam.rotation, cam.translation,
            (cam.fx, cam.fy, cam.cx, cam.cy), cam.width, cam.height, NEAR, LOW_PASS, MAX_RADIUS))
        rows["projection (native)"].append(t)
        opacity, rgb, ids = cloud.opacity[index].astype(np.float64), cloud.rgb[index], index.astype(np.int32)
        t, _ = seconds(lambda: _native.splat(mean, conic, radius, opacity, depth, rgb, ids, cam.width, cam.height,
                                             MIN_ALPHA, MAX_ALPHA))
        rows["pairs and compositing (native splat)"].append(t)
        t, view = seconds(lambda: render(cloud, cam))
        rows["rasterizer.render, whole"].append(t)
        if args.reference:
            rows["projection (numpy reference)"].append(seconds(lambda: project(cloud, cam))[0])
        ids_map = masks(view)
        mask_of_pixel = np.stack([_rows(ids_map[..., level].ravel()) for level in range(len(LEVELS))])
        embeddings = [np.random.default_rng(level).normal(size=(int(mask_of_pixel[level].max()) + 1, DIM)).astype(np.float32)
                      for level in range(len(LEVELS))]
        c = view.contributions
        t, _ = seconds(lambda: _native.lift_add_view(c.pixel, c.gaussian, c.weight, mask_of_pixel, embeddings, feats,
                                                     weight))
        rows["lift of the view's pairs (native)"].append(t)
        pairs.append(c.pixel.size)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, Python {platform.python_version()}, "
          f"{_native.worker_count()} native workers")
    print(f"| one view of {len(cloud)} Gaussians, {args.image_size} px, median of {len(cams)} views | seconds |")
    print("|---|---|")
    for name, times in rows.items():
        print(f"| {name} | {np.median(times):.3f} |")
    print(f"| pairs per view, median | {int(np.median(pairs)):,} |")
    print(f"| peak memory of the process (scene, lift sums, one view) | {peak_gb:.2f} GB |")


def _rows(segment_map: np.ndarray) -> np.ndarray:
    """(P,) segment ids -> (P,) row of each pixel's segment among the view's segments (-1: none)."""
    kept = np.unique(segment_map[segment_map >= 0])
    lookup = np.full(int(segment_map.max()) + 2, -1)
    lookup[kept] = np.arange(kept.size)
    return lookup[segment_map]


if __name__ == "__main__":
    main()
