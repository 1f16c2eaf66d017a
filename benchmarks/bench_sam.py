"""segment-anything masks per view on this machine (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_sam.py [--model vit_b] [--points 16]

The real architecture with random weights: the cost of `vaf scene build --sam-checkpoint` per
view, not the quality of its masks (no released weights are fetched).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from segment_anything import sam_model_registry

from vaf.runtime.cameras import around_objects
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE
from vaf.training.features.masks import SAM_MODELS, SamMasks
from vaf.training.render.rasterizer import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=SAM_MODELS, default="vit_b")
    parser.add_argument("--points", type=int, default=16, help="prompts per side")
    args = parser.parse_args()
    masks = SamMasks(sam_model_registry[args.model](), points_per_side=args.points)
    bundle = SceneBundle.load(DEMO_SCENE)
    print(f"# {time.strftime('%Y-%m-%d')} {platform.machine()}, SAM {args.model}, {args.points}x{args.points} prompts")
    print("| view | seconds per view |")
    print("|---|---|")
    for size in (256, 512):
        view = render(bundle.gaussians, around_objects(bundle.segments, 1, size, np.random.default_rng(0))[0])
        t0 = time.perf_counter()
        masks(view)
        print(f"| {size} px | {time.perf_counter() - t0:.1f} |")


if __name__ == "__main__":
    main()
