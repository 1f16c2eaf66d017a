"""Real-time generator cost per contact (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_generator.py [--contacts 2000] [--model DIR]

On the embedded demo scene with the embedded model (or an exported one, e.g. the same network
with another runtime recipe: `vaf export generator --modes-out/--fold-bands`), one contact at a
time as the server does:
1. features -> recipe: OnnxRecipeModel.predict on one (3, D) query, with the spot's segment geometry
   for models that read it (onnxruntime, 1 thread);
2. the whole generator step on a spot hit for the first time (feature-field query at the surface
   point + predict), and on a spot hit before (the scene's memo, docs/generator.md);
3. rendering the recipes alone (0.5 s at 48 kHz, native synthesizer), and the first-hit step plus
   that render (what a contact costs before the transport), beside the physics generator's cost;
4. warming the whole scene (`vaf serve --warm`): time and the memo's traced memory.
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc

import numpy as np

from vaf.runtime.generators import PhysicsGenerator, RealtimeGenerator
from vaf.runtime.recipe_model import OnnxRecipeModel
from vaf.runtime.scenes import SceneCatalog
from vaf.runtime.synthesis import Excitation, render


def timed(fn, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--model", default=None, help="exported generator folder (default: the embedded one)")
    args = parser.parse_args()
    scene = SceneCatalog(["demo"]).load("demo")
    model = OnnxRecipeModel.load(args.model) if args.model else OnnxRecipeModel.load()
    realtime, physics = RealtimeGenerator(model), PhysicsGenerator()
    rng = np.random.default_rng(0)
    _, found = scene.feature_field.query(scene.surface.points)
    index = rng.choice(np.nonzero(found)[0], size=args.contacts)  # spots some view saw
    features, _ = scene.feature_field.query(scene.surface.points[index])
    geometry = None
    if model.geometry:  # the struck segments' extents and the hit's place, as RealtimeGenerator passes them
        labels = scene.surface.labels[index]
        geometry = scene.geometry.describe(labels[:, 0], labels[:, 1], scene.surface.points[index])
    excitation = Excitation.from_materials(0.05, 1.5, "wood", "wood")

    def first_hit(i: int):
        scene.memo.clear()
        return realtime.generate(scene, index[i : i + 1])

    rows = {"features -> recipe (onnxruntime)": timed(
        lambda i: model.predict(features[i : i + 1], None if geometry is None else geometry[i : i + 1]), args.contacts),
            f"realtime step, first hit on a spot (field query{' + segment geometry' if model.geometry else ''} + predict)":
                timed(first_hit, args.contacts)}
    realtime.generate(scene, np.unique(index))  # every spot hit once
    rows["realtime step, spot hit before (memo)"] = timed(lambda i: realtime.generate(scene, index[i : i + 1]), args.contacts)
    recipes = [source.recipe for source in realtime.generate(scene, index)]
    rows[f"render 0.5 s 48 kHz ({model.modes}-mode recipes)"] = timed(
        lambda i: render(recipes[i], excitation, 48000, 24000), args.contacts)
    rows["realtime step (first hit) + render 0.5 s 48 kHz"] = timed(
        lambda i: render(first_hit(i)[0].recipe, excitation, 48000, 24000), args.contacts)
    rows["physics step + render 0.5 s 48 kHz"] = timed(
        lambda i: render(physics.generate(scene, index[i : i + 1])[0].recipe, excitation, 48000, 24000), args.contacts)
    print(f"{time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {args.contacts} contacts, demo scene, "
          f"model {model.path}")
    for name, ms in rows.items():
        print(f"{name}: p50 {np.median(ms):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms")
    scene.memo.clear()
    t0 = time.perf_counter()
    realtime.warm(scene)
    seconds = time.perf_counter() - t0
    scene.memo.clear()
    tracemalloc.start()
    realtime.warm(scene)
    memo_mb = tracemalloc.get_traced_memory()[0] / 2**20
    tracemalloc.stop()
    print(f"warm the scene ({len(scene.surface.points)} surface samples): {seconds:.2f} s, memo {memo_mb:.1f} MB traced")


if __name__ == "__main__":
    main()
