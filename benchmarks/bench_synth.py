"""Native impact synthesizer speed against numpy, one run (record results in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_synth.py [--repeats 300]

Measures, through Python (pybind11 call included): one voice of 0.5 s at 48 kHz with 64
modes in float32, for a physically damped recipe (a steel plate's Rayleigh damping) and for
the worst case (no decay, every mode rendered to the end); a batch of 100 such voices; the
same recipe as a vectorised float32 numpy modal sum and as the float64 reference; and a
contact's optional room (runtime/room.py: seeded tail + FFT convolution) at three RT60s.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from vaf.runtime.materials import MATERIALS
from vaf.runtime.room import Room, reverberate
from vaf.runtime.synthesis import Excitation, ImpactRecipe, render, render_batch, render_reference

FS, FRAMES, MODES = 48000, 24000, 64


def timed(fn, repeats: int) -> np.ndarray:
    fn()  # warm-up
    out = np.empty(repeats)
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out * 1e3  # ms


def numpy_f32(recipe: ImpactRecipe, amplitude: np.ndarray) -> np.ndarray:
    t = (np.arange(FRAMES, dtype=np.float32) / np.float32(FS))[None, :]
    w = (2 * np.pi * recipe.freq_hz).astype(np.float32)[:, None]
    env = np.exp(-recipe.decay_per_s[:, None] * t)
    return (amplitude[:, None] * env * np.sin(w * t)).sum(axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    freqs = np.sort(rng.uniform(120, 16000, MODES)).astype(np.float32)
    steel = MATERIALS["steel"]
    damped = ImpactRecipe(
        freqs,
        np.array([steel.decay_rate(f) for f in freqs], np.float32),
        rng.uniform(-0.02, 0.02, MODES).astype(np.float32),
        4000.0, 3000.0, 0.05, 400.0,
    )
    undamped = ImpactRecipe(freqs, np.zeros(MODES, np.float32), damped.gain, *damped.noise)
    hit = Excitation.from_materials(0.05, 2.0, "rubber", "steel")

    rows = []
    for name, recipe in (("steel plate", damped), ("no decay (worst case)", undamped)):
        ms = timed(lambda r=recipe: render(r, hit, FS, FRAMES), args.repeats)
        rows.append((f"native, one voice, {name}", ms))
    batch = [damped] * 100
    ms = timed(lambda: render_batch(batch, [hit] * 100, list(range(100)), FS, FRAMES), max(10, args.repeats // 20))
    rows.append(("native, batch of 100 voices, steel plate", ms))
    amp = damped.gain.astype(np.float32)
    rows.append(("numpy float32 modal sum, one voice", timed(lambda: numpy_f32(damped, amp), max(20, args.repeats // 10))))
    rows.append(("numpy float64 reference, one voice", timed(lambda: render_reference(damped, hit, FS, FRAMES), max(20, args.repeats // 10))))
    voice = render(damped, hit, FS, FRAMES)
    for rt60 in (0.3, 1.0, 3.0):
        ms = timed(lambda r=Room(rt60): reverberate(voice, r, FS, seed=1), max(20, args.repeats // 5))
        rows.append((f"room on one voice (contact `room`), RT60 {rt60} s", ms))

    print(f"# {time.strftime('%Y-%m-%d')} {platform.processor() or platform.machine()}, {platform.python_version()}")
    print("| case | median ms | p90 ms |")
    print("|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {np.median(ms):.4f} | {np.percentile(ms, 90):.4f} |")
    ratio = np.median(rows[3][1]) / np.median(rows[0][1])
    print(f"\nnative speed-up over numpy float32 (steel plate, one voice): {ratio:.1f}x")


if __name__ == "__main__":
    main()
