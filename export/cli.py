"""`vaf export ...` and `vaf scene ...`: turn trained models and scenes into what the runtime loads."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export", help="export trained models for the runtime")
    exsub = ex.add_subparsers(dest="export_command", required=True)
    e = exsub.add_parser("encoders", help="encoders.pt -> ONNX encoders folder")
    e.add_argument("checkpoint", help="encoders.pt written by `vaf train encoders`")
    e.add_argument("--out", required=True, help="new folder")
    e.set_defaults(run=export_encoders_command)

    sc = sub.add_parser("scene", help="scene bundles: import a .ply, build per-Gaussian features")
    scsub = sc.add_subparsers(dest="scene_command", required=True)
    b = scsub.add_parser("build", help="add multi-level features to a bundle (renders views, lifts segment embeddings)")
    b.add_argument("bundle", help="input bundle folder")
    b.add_argument("--out", required=True, help="new folder for the bundle with features")
    b.add_argument("--encoders", default=None, help="encoders folder (default: the embedded ones)")
    b.add_argument("--views", type=int, default=60)
    b.add_argument("--image-size", type=int, default=128)
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(run=build_command)
    i = scsub.add_parser("import", help="a bundle from a plain Inria 3DGS .ply (gsplat, nerfstudio, Postshot, ...)")
    i.add_argument("ply")
    i.add_argument("--out", required=True)
    i.add_argument("--name", default=None)
    i.add_argument("--up", default="+y", help="up axis of the capture, e.g. -y for COLMAP-style scenes")
    i.add_argument("--handedness", default="right")
    i.set_defaults(run=import_command)


def export_encoders_command(args: argparse.Namespace) -> int:
    from vaf.export.encoders import export_encoders

    try:
        out = export_encoders(args.checkpoint, args.out, {"checkpoint": args.checkpoint})
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"vaf export encoders: {e}", file=sys.stderr)
        return 2
    print(f"{out}: audio_encoder.onnx, image_encoder.onnx, encoders.json")
    return 0


def build_command(args: argparse.Namespace) -> int:
    from vaf.export.scene_build import build_feature_scene
    from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders

    try:
        encoders = OnnxEncoders.load(args.encoders or DEFAULT_ENCODERS)
        bundle = build_feature_scene(args.bundle, args.out, encoders, args.views, args.image_size, args.seed)
    except (ValueError, FileExistsError) as e:
        print(f"vaf scene build: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {bundle.name}, features {bundle.features.shape} "
          f"({100 * bundle.features_source['seen_fraction']:.1f}% of Gaussians seen)")
    return 0


def import_command(args: argparse.Namespace) -> int:
    from vaf.export.scene_build import import_ply

    try:
        bundle = import_ply(args.ply, args.out, args.name, args.up, args.handedness)
    except (ValueError, FileExistsError) as e:
        print(f"vaf scene import: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {bundle.name}, {len(bundle.gaussians)} Gaussians (SH degree {bundle.gaussians.sh_degree})")
    return 0
