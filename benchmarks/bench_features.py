"""Feature scenes and localization figures, one run (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_features.py [--requests 200] [--field optimized] [--gaussians 1000000]

1. `vaf scene build` of a 50 000-Gaussian sounding-world scene with 60 views of 128 px (embedded encoders;
   --field optimized: the LangSplat-style fit instead of the closed-form lift; --gaussians: a capture's size),
   and the peak memory of the process that built it.
2. `localize` round trips through the Python client to a real server holding that scene:
   0.5 s clips of 48 kHz s16 (true hit sounds of the scene, dry), p50 and p99; then the same clips
   heard in the encoders' room first (`room`: hello's localize_room).
3. How long that server takes to answer `hello` from its start (it loads the scene first), and `contact` round
   trips on the scene's acoustic points, 20 ms apart (a sparse game's contacts).
"""

from __future__ import annotations

import argparse
import platform
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from vaf import _native
from vaf.export.scene_build import build_feature_scene
from vaf.runtime.client import Client
from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.synthesis import Excitation, ImpactRecipe, render
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.scene import generate_scene


def clips(bundle: SceneBundle, count: int) -> list[np.ndarray]:
    a = bundle.acoustics
    rng = np.random.default_rng(0)
    out = []
    for i in rng.integers(0, a.points.shape[0], count * 3):
        u = a.unit[i]
        recipe = ImpactRecipe(a.freq_hz[u], a.decay_per_s[u], a.gains[i], *(float(x) for x in a.noise[u]))
        pcm = render(recipe, Excitation.from_materials(0.05, 1.0, "wood", a.unit_material[u]), 48000, 24000, format="s16")
        if np.abs(pcm).max() > 30:
            out.append(pcm)
        if len(out) == count:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--field", choices=("lifted", "optimized"), default="lifted")
    parser.add_argument("--gaussians", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        plain, built = Path(tmp) / "plain", Path(tmp) / "features"
        build_bundle(generate_scene(4, "kitchen"), BundleConfig(gaussians=args.gaussians)).save(plain)
        t0 = time.perf_counter()
        bundle = build_feature_scene(plain, built, OnnxEncoders.load(), views=60, image_size=128, progress=False,
                                     field=args.field)
        build_s = time.perf_counter() - t0
        peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB on Linux
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            endpoint = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        server = subprocess.Popen([sys.executable, "-m", "vaf", "serve", "--bind", endpoint, "--scene", str(built),
                                   "--log-level", "warning"])
        t0 = time.perf_counter()
        try:
            with Client(endpoint, timeout=600.0) as c:
                room = c.hello()["localize_room"]
                ready_s = time.perf_counter() - t0
                scene = c.load_scene(built.name)
                ms = {"as sent": [], "in the encoders' room": []}
                for pcm in clips(bundle, args.requests):
                    for how, given in zip(ms, (None, room)):
                        t1 = time.perf_counter()
                        c.localize(scene.scene_id, pcm, 48000, room=given)
                        ms[how].append((time.perf_counter() - t1) * 1e3)
                contact_ms = []
                points = bundle.acoustics
                for i in np.random.default_rng(1).integers(0, len(points.points), args.requests):
                    time.sleep(0.02)
                    t1 = time.perf_counter()
                    c.contact(scene.scene_id, points.points[i], points.normals[i], impulse=0.05, speed=2.0)
                    contact_ms.append((time.perf_counter() - t1) * 1e3)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, Python {platform.python_version()}, "
          f"{_native.worker_count()} native workers")
    print("| figure | value |")
    print("|---|---|")
    print(f"| feature scene build ({args.field}), {len(bundle.gaussians)} Gaussians, 60 views of 128 px | {build_s:.1f} s |")
    print(f"| peak memory of the process (scene made in memory, then built) | {peak_gb:.1f} GB |")
    for how, times in ms.items():
        print(f"| localize round trip, 0.5 s 48 kHz s16 clip, {how}, p50 / p99 ({len(times)} requests) | "
              f"{np.median(times):.2f} / {np.percentile(times, 99):.2f} ms |")
    print(f"| `vaf serve --scene` of it: start to the first answer | {ready_s:.1f} s |")
    print(f"| contact round trip, one every 20 ms, p50 / p99 ({len(contact_ms)} contacts) | "
          f"{np.median(contact_ms):.2f} / {np.percentile(contact_ms, 99):.2f} ms |")


if __name__ == "__main__":
    main()
