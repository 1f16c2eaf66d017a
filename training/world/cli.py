"""`vaf world ...`: make sounding-world scenes and hit them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    world = sub.add_parser("world", help="procedural scenes with physically based impact acoustics")
    wsub = world.add_subparsers(dest="world_command", required=True)

    s = wsub.add_parser("scene", help="generate one scene bundle (splats, labels, acoustics, collision mesh, preview)")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--out", required=True, help="new folder for the bundle (must not exist or be empty)")
    s.add_argument("--layout", default=None, help="tabletop, kitchen, office, shelf_wall or floor (default: drawn from the seed)")
    s.add_argument("--max-objects", type=int, default=15)
    s.add_argument("--gaussians", type=int, default=50_000)
    s.add_argument("--acoustic-points", type=int, default=12_000)
    s.add_argument("--modes", type=int, default=32, help="modes per vibrating part")
    s.set_defaults(run=scene_command)

    d = wsub.add_parser("dataset", help="many scenes in the capture layout with recorded hits, split by scene (4:1 by default)")
    d.add_argument("--scenes", type=int, required=True)
    d.add_argument("--hits-per-scene", type=int, required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", required=True,
                   help="new folder (must not exist or be empty); a stopped run's folder: the same command resumes it")
    d.add_argument("--views", type=int, default=8, help="camera views per scene")
    d.add_argument("--image-size", type=int, default=128, help="pixels, square views")
    d.add_argument("--gaussians", type=int, default=30_000)
    d.add_argument("--hit-seconds", type=float, default=1.0)
    d.add_argument("--rt60", type=float, default=0.3, help="room reverberation time, s (default %(default)s)")
    d.add_argument("--snr-db", type=float, default=40.0, help="impact to background noise ratio (default %(default)s)")
    d.add_argument("--dry", action="store_true", help="no room and no background noise")
    d.add_argument("--test-fraction", type=float, default=0.2,
                   help="share of scenes held out for testing (default %(default)s; 0: a training-only dataset)")
    d.set_defaults(run=dataset_command)

    h = wsub.add_parser("hit", help="render the true impact sound at a point of a scene bundle")
    h.add_argument("scene_dir")
    h.add_argument("--point", type=float, nargs=3, required=True, metavar=("X", "Y", "Z"))
    h.add_argument("--impulse", type=float, default=0.05, help="N*s (default %(default)s)")
    h.add_argument("--speed", type=float, default=1.0, help="relative normal speed, m/s (default %(default)s)")
    h.add_argument("--striker", default="rubber")
    h.add_argument("--sample-rate", type=int, default=48000)
    h.add_argument("--duration", type=float, default=0.5)
    h.add_argument("--seed", type=int, default=0)
    h.add_argument("--out", required=True, help="output .wav (not overwritten if it exists)")
    h.set_defaults(run=hit_command)


def scene_command(args: argparse.Namespace) -> int:
    from vaf.training.world.bundle import BundleConfig, build_bundle
    from vaf.training.world.scene import generate_scene

    try:
        config = BundleConfig(args.gaussians, args.acoustic_points, args.modes)
        scene = generate_scene(args.seed, args.layout, args.max_objects)
        bundle = build_bundle(scene, config)
        out = bundle.save(args.out)
    except (ValueError, FileExistsError) as e:
        print(f"vaf world scene: {e}", file=sys.stderr)
        return 2
    objects = ", ".join(o.label for o in scene.objects[1:])
    print(f"{out}: {bundle.name}, {len(bundle.gaussians)} Gaussians, {len(bundle.segments)} segments; objects: {objects}")
    return 0


def dataset_command(args: argparse.Namespace) -> int:
    from vaf.training.world.dataset import DatasetConfig, make_dataset

    try:
        config = DatasetConfig(args.scenes, args.hits_per_scene, args.seed, args.views, args.image_size, args.gaussians,
                               hit_seconds=args.hit_seconds, rt60=None if args.dry else args.rt60,
                               snr_db=None if args.dry else args.snr_db, test_fraction=args.test_fraction)
        manifest = make_dataset(args.out, config)
    except (ValueError, FileExistsError) as e:
        print(f"vaf world dataset: {e}", file=sys.stderr)
        return 2
    split = manifest["split"]
    print(f"{args.out}: {len(manifest['scenes'])} scenes ({len(split['train'])} train, {len(split['test'])} test), "
          f"{sum(manifest['hits'].values())} hits")
    return 0


def hit_command(args: argparse.Namespace) -> int:
    import numpy as np

    from vaf.runtime.generators import PhysicsGenerator
    from vaf.runtime.scenes import SceneCatalog
    from vaf.runtime.synthesis import Excitation, render
    from vaf.runtime.wav import write_wav

    out = Path(args.out)
    if out.exists():
        print(f"vaf world hit: {out} exists; not overwriting", file=sys.stderr)
        return 2
    try:
        if not np.all(np.isfinite(args.point)):
            raise ValueError(f"--point must be finite, got {args.point}")
        scene = SceneCatalog().load(str(Path(args.scene_dir).resolve()))
        if scene.bundle.acoustics is None:
            raise ValueError(f"{args.scene_dir} has no ground-truth acoustics")
        distance, index = scene.surface.nearest(np.array([args.point]))
        if distance[0] > 0.05:
            raise ValueError(f"--point is {distance[0]:.3f} m from the nearest surface (tolerance 0.05 m)")
        source = PhysicsGenerator().generate(scene, index)[0]
        excitation = Excitation.from_materials(args.impulse, args.speed, args.striker, source.material)
        pcm = render(source.recipe, excitation, args.sample_rate, int(args.duration * args.sample_rate), seed=args.seed)
    except (ValueError, KeyError) as e:
        print(f"vaf world hit: {e}", file=sys.stderr)
        return 2
    write_wav(out, pcm, args.sample_rate)
    label = scene.bundle.segment(int(scene.surface.labels[index[0], 0])).label
    print(f"{out}: {label} ({source.material}), peak {np.abs(pcm).max():.3f}")
    return 0
