"""Where a contact lands: the native surface index against scipy's kd-tree (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_surface.py [--queries 2000] [--large 2000000]

For the embedded demo scene's surface samples and for a captured-scene-sized cloud (`--large`
points on a few surfaces, as a scene's Gaussian centres): the time to build each index, then
one query point per call as the server places a contact (k = 1), back to back and with 20 ms of
idle before each call (how a game's occasional contacts arrive: the vCPU's caches go cold), and
the 8 nearest back to back (the feature field's query at a hit point).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from scipy.spatial import cKDTree

from vaf import _native
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE, SceneSurface

IDLE_S = 0.02


def per_call_ms(query, points: np.ndarray, idle_s: float = 0.0) -> np.ndarray:
    out = np.empty(len(points))
    for k, p in enumerate(points):
        if idle_s:
            time.sleep(idle_s)
        t0 = time.perf_counter()
        query(p[None])
        out[k] = (time.perf_counter() - t0) * 1e3
    return out


def surface_cloud(n: int, rng: np.random.Generator) -> np.ndarray:
    """n points on 40 random boxes' faces within a 10 m room (a captured scene's Gaussian centres)."""
    centres, sizes = rng.uniform(-5, 5, (40, 3)), rng.uniform(0.05, 2.0, (40, 3))
    box, axis = rng.integers(0, 40, n), rng.integers(0, 3, n)
    local = rng.uniform(-0.5, 0.5, (n, 3))
    local[np.arange(n), axis] = rng.choice([-0.5, 0.5], n)
    return (centres[box] + local * sizes[box]).astype(np.float32)


def bench(name: str, points: np.ndarray, queries: int, rng: np.random.Generator) -> None:
    t0 = time.perf_counter()
    native = _native.SurfaceIndex(points)
    native_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    tree = cKDTree(points)
    scipy_build = time.perf_counter() - t0
    q = points[rng.integers(0, len(points), queries)] + rng.normal(scale=0.01, size=(queries, 3)).astype(np.float32)
    print(f"{name}: {len(points)} points; build native {native_build:.3f} s, scipy {scipy_build:.3f} s")
    for label, idle in (("back to back", 0.0), (f"{IDLE_S * 1e3:.0f} ms idle before each", IDLE_S)):
        n = queries if idle == 0.0 else max(1, queries // 4)
        nat = per_call_ms(native.nearest, q[:n], idle)
        sci = per_call_ms(lambda p: tree.query(p, k=1), q[:n], idle)
        report(f"one point per call, {label} ({n} calls)", nat, sci)
    nat = per_call_ms(lambda p: native.nearest(p, k=8), q)
    sci = per_call_ms(lambda p: tree.query(p, k=8), q)
    report(f"8 nearest of one point per call, back to back ({queries} calls)", nat, sci)


def report(label: str, native_ms: np.ndarray, scipy_ms: np.ndarray) -> None:
    print(f"  {label}: native p50 {np.median(native_ms):.4f} / p99 {np.percentile(native_ms, 99):.4f} ms; "
          f"scipy p50 {np.median(scipy_ms):.4f} / p99 {np.percentile(scipy_ms, 99):.4f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=2000, help="query points per figure (a quarter of them idle)")
    ap.add_argument("--large", type=int, default=2_000_000, help="points in the captured-scene-sized cloud (0: skip)")
    args = ap.parse_args()
    print(f"{platform.processor() or platform.machine()}, {platform.python_version()}")
    rng = np.random.default_rng(0)
    bench("demo scene surface", SceneSurface.of(SceneBundle.load(DEMO_SCENE)).points, args.queries, rng)
    if args.large:
        bench("captured-size cloud", surface_cloud(args.large, rng), args.queries, rng)


if __name__ == "__main__":
    main()
