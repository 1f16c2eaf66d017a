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
    g = exsub.add_parser("generator", help="generator.pt -> ONNX real-time generator folder")
    g.add_argument("checkpoint", help="generator.pt written by `vaf train generator`")
    g.add_argument("--out", required=True, help="new folder")
    g.add_argument("--encoders", default=None, help="the encoders its training features came from (default: embedded)")
    g.add_argument("--modes-out", type=int, default=None,
                   help="modes per runtime recipe (default: the model config's, 40 unless trained otherwise): fewer make each "
                   "contact cheaper to render")
    g.add_argument("--fold-bands", type=int, default=None,
                   help="how many of them stand for the quiet grid bins, one per band (default: the model config's, 8; "
                   "0: the loudest bins only; docs/generator.md)")
    g.set_defaults(run=export_generator_command)

    sc = sub.add_parser("scene", help="scene bundles: import a .ply, build per-Gaussian features")
    scsub = sc.add_subparsers(dest="scene_command", required=True)
    b = scsub.add_parser("build", help="add multi-level features to a bundle (renders views, lifts segment embeddings)")
    b.add_argument("bundle", help="input bundle folder")
    b.add_argument("--out", required=True, help="new folder for the bundle with features")
    b.add_argument("--encoders", default=None, help="encoders folder (default: the embedded ones)")
    b.add_argument("--views", type=int, default=60)
    b.add_argument("--image-size", type=int, default=128)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--field", choices=("lifted", "optimized"), default="lifted",
                   help="lifted: closed-form average of mask embeddings (default); optimized: LangSplat-style fit of "
                   "3-d latents through an autoencoder, started from the lifted one")
    b.add_argument("--renderer", choices=("auto", "cpu", "gsplat"), default="auto",
                   help="splat renderer for the views: gsplat's CUDA kernels (needs a GPU and `pip install gsplat`), the "
                   "CPU rasterizer, or auto (gsplat when it can run, else cpu)")
    b.add_argument("--sam-checkpoint", default=None, help="segment the scene with segment-anything from this local "
                   "checkpoint (e.g. sam_vit_b_01ec64.pth) instead of the bundle's own segments; use --image-size 512 or more")
    b.add_argument("--sam-model", default="vit_b", help="the checkpoint's architecture: vit_b, vit_l or vit_h")
    b.add_argument("--sam-points", type=int, default=16, help="point prompts per side of each view")
    b.add_argument("--segment-threshold", type=float, default=0.9,
                   help="with SAM: feature cosine above which neighbouring Gaussians share a segment")
    b.set_defaults(run=build_command)
    k = scsub.add_parser("bake", help="store diffusion samples per part in a copy of a bundle (the `baked` generator)")
    k.add_argument("bundle", help="input bundle folder, with features")
    k.add_argument("--out", required=True, help="new folder for the baked bundle")
    k.add_argument("--model", required=True, help="diffusion.pt written by `vaf train diffusion`")
    k.add_argument("--variations", type=int, default=4, help="samples per part segment")
    k.add_argument("--steps", type=int, default=50, help="sampler steps (the seed uses 250)")
    k.add_argument("--cfg-scale", type=float, default=6.0, help="classifier-free guidance scale (the seed uses 6)")
    k.add_argument("--eta", type=float, default=0.0, help="0: deterministic DDIM, 1: ancestral sampling")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--device", default="auto", help="cpu, cuda, cuda:N; auto = cuda when a CUDA GPU is present")
    k.set_defaults(run=bake_command)
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


def export_generator_command(args: argparse.Namespace) -> int:
    from vaf.export.generator import export_generator
    from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders

    try:
        out = export_generator(args.checkpoint, args.out, OnnxEncoders.load(args.encoders or DEFAULT_ENCODERS),
                               {"checkpoint": args.checkpoint, "command": " ".join(["vaf", *sys.argv[1:]])},
                               modes_out=args.modes_out, fold_bands=args.fold_bands)
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"vaf export generator: {e}", file=sys.stderr)
        return 2
    print(f"{out}: recipe.onnx, prototypes.npy, generator.json")
    return 0


def bake_command(args: argparse.Namespace) -> int:
    from vaf.export.scene_bake import bake_scene
    from vaf.training.devices import torch_device

    try:
        bundle = bake_scene(args.bundle, args.out, args.model, args.variations, args.steps, args.cfg_scale, args.eta, args.seed,
                            device=torch_device(args.device))
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"vaf scene bake: {e}", file=sys.stderr)
        return 2
    assert bundle.baked is not None
    print(f"{args.out}: {len(bundle.baked.segment_ids)} parts x {args.variations} variations baked")
    return 0


def build_command(args: argparse.Namespace) -> int:
    from vaf.export.scene_build import build_feature_scene
    from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders
    from vaf.runtime.scene_bundle import SceneBundle

    try:
        encoders = OnnxEncoders.load(args.encoders or DEFAULT_ENCODERS)
        masks = None
        if args.sam_checkpoint is not None:
            from vaf.training.features.masks import SamMasks

            masks = SamMasks.from_checkpoint(args.sam_checkpoint, args.sam_model, points_per_side=args.sam_points)
        elif sum(s.level == "part" for s in SceneBundle.load(args.bundle).segments) < 2:
            print("vaf scene build: warning: the bundle has a single part (a plain import?); its features will not tell "
                  "parts apart. Give --sam-checkpoint to segment it.", file=sys.stderr)
        bundle = build_feature_scene(args.bundle, args.out, encoders, args.views, args.image_size, args.seed, masks=masks,
                                     segment_threshold=args.segment_threshold, field=args.field, renderer=args.renderer)
    except (ValueError, FileExistsError) as e:
        print(f"vaf scene build: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}: {bundle.name}, features {bundle.features.shape} "
          f"({100 * bundle.features_source['seen_fraction']:.1f}% of Gaussians seen, {bundle.features_source['renderer']} "
          f"renderer), "
          f"{sum(s.level == 'part' for s in bundle.segments)} parts")
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
