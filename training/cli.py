"""`vaf train ...` and `vaf eval ...`: training and evaluation of the models."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train models on a capture-layout dataset")
    trsub = tr.add_subparsers(dest="train_command", required=True)
    e = trsub.add_parser("encoders", help="contrastive audio and image encoders (resumable)")
    e.add_argument("--dataset", required=True, action="append", help="folder made by `vaf world dataset` (or a real "
                   "capture in that layout); repeat to pool the train splits of several (e.g. extra training-only scenes)")
    e.add_argument("--out", required=True, help="folder for checkpoint.pt, encoders.pt, training.json")
    e.add_argument("--epochs", type=int, default=15)
    e.add_argument("--batch", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--clip-model", default=None, help="use a pretrained open_clip image tower, frozen (the seed's "
                   "setting): an open_clip architecture name (e.g. ViT-B-32) or a model config JSON; needs --clip-checkpoint")
    e.add_argument("--clip-checkpoint", default=None, help="local open_clip weights (.bin/.pt/.safetensors); never downloaded")
    add_threads_option(e)
    e.set_defaults(run=train_encoders_command)
    g = trsub.add_parser("generator", help="real-time impact-sound generator: features -> recipe (resumable)")
    g.add_argument("--dataset", required=True, action="append", help="folder made by `vaf world dataset`; repeat to "
                   "pool the train splits of several (e.g. extra training-only scenes)")
    g.add_argument("--out", required=True, help="folder for checkpoint.pt, generator.pt, training.json and runtime/ "
                   "(the ONNX model `vaf serve --generator-model` loads)")
    g.add_argument("--encoders", default=None, help="ONNX encoders whose features condition it (default: the embedded ones)")
    g.add_argument("--input", choices=("features", "patch"), default="features",
                   help="'patch': the seed's local-RGB-patch variant, a baseline for `vaf eval generator --local`")
    g.add_argument("--geometry", action="store_true",
                   help="also read the struck segments' size and the hit's place on its subpart, measured on the scene's "
                   "Gaussians (docs/generator.md); off by default, on in the shipped model")
    g.add_argument("--decay-law", choices=("rayleigh", "free"), default="rayleigh",
                   help="'rayleigh' (default): each bin decays by the struck material's damping law, learnt per material, "
                   "within a factor exp(+-decay spread); 'free': each bin's decay its own (docs/generator.md)")
    g.add_argument("--decay-spread", type=float, default=0.5, help="with --decay-law rayleigh: how far, in ln units, "
                   "a bin's decay rate may leave the law (default %(default)s)")
    g.add_argument("--room", action="store_true",
                   help="learn the recordings' room (RT60, direct-to-reverb ratio) in the training path, so the recipe "
                   "stays dry (docs/generator.md)")
    g.add_argument("--epochs", type=int, default=20)
    g.add_argument("--batch", type=int, default=32)
    g.add_argument("--lr", type=float, default=2e-3)
    g.add_argument("--pitch-weight", type=float, default=0.0, help="weight of the pitch term (docs/generator.md); default off")
    g.add_argument("--decay-weight", type=float, default=4.0,
                   help="weight of the decay-curve term (docs/generator.md); 4, the shipped model's, by default; 0 turns it off")
    g.add_argument("--band-decay-weight", type=float, default=4.0,
                   help="weight of the decay-curve term per octave band (docs/generator.md); 4, the shipped model's, "
                   "by default; 0 turns it off")
    g.add_argument("--mel-weight", type=float, default=1.0,
                   help="weight of the log-mel term within the spectral loss, relative to the STFT terms (docs/generator.md)")
    g.add_argument("--mel-stats-weight", type=float, default=0.0,
                   help="weight of the per-band log-mel statistics term (docs/generator.md); off by default: at 0.5 it "
                   "lowers the KL and costs a little FAD and pitch (docs/results.md)")
    g.add_argument("--heard-material-weight", type=float, default=0.0,
                   help="weight of the heard-material term: a material judge trained on the recordings first, frozen, "
                   "asked to name each generated clip's material (docs/generator.md); off by default, 0.1 in the shipped model")
    g.add_argument("--judge-epochs", type=int, default=10, help="with --heard-material-weight: the judge's training epochs")
    g.add_argument("--judge-target", choices=("material", "kind", "both"), default="material",
                   help="with --heard-material-weight: what the judges name, the struck material (default), the part's "
                   "kind, its material and class (e.g. 'wood table/top'), or both (a panel of --judges each, their "
                   "terms summed)")
    g.add_argument("--judges", type=int, default=1,
                   help="with --heard-material-weight: how many judges (other seeds) the term is averaged over, so the "
                   "generator exploits one judge's quirks less (docs/generator.md)")
    g.add_argument("--loss-modes", choices=("grid", "runtime"), default="grid",
                   help="what the loss hears: every grid bin, or the runtime recipe the model will ship (docs/generator.md)")
    g.add_argument("--views", type=int, default=16, help="views the hit features are lifted from")
    g.add_argument("--cache", default=None, help="hit-feature cache folder (default ~/.cache/vaf/hit-features)")
    g.add_argument("--seed", type=int, default=0)
    add_threads_option(g)
    g.set_defaults(run=train_generator_command)
    d = trsub.add_parser("diffusion", help="the seed's conditioned diffusion transformer (tiny config, or a pretrained "
                         "model whose conditioner alone is trained)")
    d.add_argument("--dataset", required=True)
    d.add_argument("--out", required=True, help="folder for diffusion.pt")
    d.add_argument("--encoders", default=None)
    d.add_argument("--init-config", default=None, help="pretrained model config JSON (local file)")
    d.add_argument("--init-weights", default=None, help="pretrained weights (local file); with --init-config")
    d.add_argument("--epochs", type=int, default=8)
    d.add_argument("--batch", type=int, default=32)
    d.add_argument("--lr", type=float, default=1e-3)
    d.add_argument("--views", type=int, default=16)
    d.add_argument("--cache", default=None)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--device", default="auto", help="cpu, cuda, cuda:N; auto = cuda when a CUDA GPU is present")
    add_threads_option(d)
    d.set_defaults(run=train_diffusion_command)

    ev = sub.add_parser("eval", help="evaluate models on held-out scenes")
    evsub = ev.add_subparsers(dest="eval_command", required=True)
    loc = evsub.add_parser("localize", help="Acc(1) and Acc(3) of sound localization, with baselines")
    loc.add_argument("--dataset", required=True)
    loc.add_argument("--encoders", default=None, help="ONNX encoders folder (default: the embedded ones)")
    loc.add_argument("--untrained", default=None, help="encoders.pt of the untrained baseline (default: built fresh)")
    loc.add_argument("--views", type=int, default=24)
    loc.add_argument("--physics-clips", action="store_true",
                     help="also localise each hit's dry physics clip (the world's exact recipe, as a game's own "
                          "synthesiser would send it), as sent and heard in the encoders' recordings room (localize's room)")
    loc.add_argument("--results", default=None, help="append the table to this markdown file (e.g. docs/results.md)")
    loc.set_defaults(run=eval_localize_command)
    gen = evsub.add_parser("generator", help="generated vs recorded sounds on held-out scenes, with baselines")
    gen.add_argument("--dataset", required=True)
    gen.add_argument("--model", default=None, help="runtime generator folder, or a `vaf train generator` folder "
                     "(default: the embedded model)")
    gen.add_argument("--encoders", default=None, help="ONNX encoders the model reads features of (default: embedded)")
    gen.add_argument("--compare", action="append", default=[], metavar="MODEL",
                     help="another runtime generator folder to score in the same run (repeatable)")
    gen.add_argument("--local", default=None, help="generator.pt of the local-patch baseline (`--input patch`)")
    gen.add_argument("--diffusion", default=None, help="diffusion.pt of the diffusion path (`vaf train diffusion`)")
    gen.add_argument("--views", type=int, default=16, help="views the hits' features and the test scenes' localizers are lifted from")
    gen.add_argument("--limit", type=int, default=None, help="score a random subset of this many held-out hits")
    gen.add_argument("--cache", default=None)
    gen.add_argument("--results", default=None, help="append the table to this markdown file (e.g. docs/results.md)")
    gen.add_argument("--pitch-by-kind", action="store_true",
                     help="also tabulate each method's median dominant-frequency error per struck part kind")
    gen.add_argument("--listen", default=None, metavar="DIR",
                     help="also write a listening set to DIR (new or empty): the recording and every method's clip of "
                     "--listen-hits held-out hits as WAVs, with an index.md")
    gen.add_argument("--listen-hits", type=int, default=24, help="hits in the listening set, materials in turn (default: 24)")
    gen.set_defaults(run=eval_generator_command)
    demo = evsub.add_parser("demo-scene", help="the checks a real-time generator passes before it ships: the embedded "
                            "demo scene struck through it, against the scene's physics and localizer (exit 1 if one fails)")
    demo.add_argument("--model", default=None, help="runtime generator folder, or a `vaf train generator` folder "
                      "(default: the embedded model)")
    demo.set_defaults(run=eval_demo_scene_command)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_threads_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="torch's CPU threads for this run (default: OMP_NUM_THREADS when set, else the cores this process "
                        "may use, its CPU affinity and its container's CPU quota counted). Runs sharing a machine "
                        "should split its cores: two that each took both of this 2-core machine's ran 2.4x slower than "
                        "with one each (README)")


def use_threads(threads: int | None, command: str) -> None:
    """Sets torch's intra-op threads: `threads` when given, else OMP_NUM_THREADS when set, else at most the
    usable cores; and says how many the run uses: oversubscribed cores cost far more than their share, and nothing
    else would show it."""
    import torch

    from vaf import _native

    cores = _native.usable_cores()
    if threads is None and "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() > cores:
        threads = cores  # torch counts the host's cores: a container's CPU quota would be oversubscribed
    if threads is not None:
        torch.set_num_threads(threads)
    print(f"{command}: {torch.get_num_threads()} torch threads, {cores} usable cores (--threads)", file=sys.stderr)


def train_encoders_command(args: argparse.Namespace) -> int:
    from vaf.training.encoders.train import DEFAULT_AUDIO, TrainConfig, train_encoders

    if (args.clip_model is None) != (args.clip_checkpoint is None):
        print("vaf train encoders: --clip-model and --clip-checkpoint go together", file=sys.stderr)
        return 2
    use_threads(args.threads, "vaf train encoders")
    try:
        config = TrainConfig(epochs=args.epochs, batch=args.batch, seed=args.seed)
        if args.clip_model is not None:
            config.image = {"type": "open_clip_image", "model": args.clip_model, "checkpoint": args.clip_checkpoint}
            config.audio = {k: v for k, v in DEFAULT_AUDIO.items() if k != "dim"}  # hears into CLIP's space
        report = train_encoders(args.dataset, args.out, config)
    except (ValueError, FileNotFoundError) as e:
        print(f"vaf train encoders: {e}", file=sys.stderr)
        return 2
    last = report["history"][-1]
    print(f"{args.out}: {report['train_pairs']} training pairs, final loss {last['loss']:.3f}, "
          f"held-out within-scene accuracy {last['test_within_scene_acc']:.3f}")
    return 0


def eval_localize_command(args: argparse.Namespace) -> int:
    from vaf.training.eval.localization import evaluate_localization, results_table

    try:
        report = evaluate_localization(args.dataset, args.encoders, args.untrained, args.views,
                                       physics_clips=args.physics_clips)
    except (ValueError, FileNotFoundError) as e:
        print(f"vaf eval localize: {e}", file=sys.stderr)
        return 2
    table = results_table(report, " ".join(["vaf", "eval", "localize"] + sys.argv[3:]))
    print(table)
    print(json.dumps({k: v for k, v in report.items() if k != "per_hit"}, indent=1))
    if args.results:
        with open(args.results, "a") as f:
            f.write("\n" + table + "\n")
    return 0


def train_generator_command(args: argparse.Namespace) -> int:
    from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders
    from vaf.training.generator.train import GeneratorTrainConfig, train_generator

    use_threads(args.threads, "vaf train generator")
    try:
        encoders = OnnxEncoders.load(args.encoders or DEFAULT_ENCODERS)
        config = GeneratorTrainConfig(epochs=args.epochs, batch=args.batch, lr=args.lr, seed=args.seed, views=args.views,
                                      pitch_weight=args.pitch_weight, decay_weight=args.decay_weight,
                                      loss_modes=args.loss_modes, mel_weight=args.mel_weight,
                                      band_decay_weight=args.band_decay_weight, mel_stats_weight=args.mel_stats_weight,
                                      heard_material_weight=args.heard_material_weight, judge_epochs=args.judge_epochs,
                                      judges=args.judges, judge_target=args.judge_target,
                                      model={"input": args.input, "feature_dim": encoders.dim, "geometry": args.geometry,
                                             "decay_law": args.decay_law, "decay_spread": args.decay_spread,
                                             "room": args.room})
        report = train_generator(args.dataset, args.out, config, encoders.path, args.cache)
        runtime = None
        if args.input == "features":
            from vaf.export.generator import export_generator

            runtime = Path(args.out) / "runtime"
            if runtime.exists():
                raise FileExistsError(f"{runtime} exists (an earlier run exported it); nothing was overwritten")
            export_generator(Path(args.out) / "generator.pt", runtime, encoders, {"command": " ".join(["vaf", *sys.argv[1:]])})
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"vaf train generator: {e}", file=sys.stderr)
        return 2
    last = report["history"][-1]
    print(f"{args.out}: {report['train_hits']} training hits, final loss {last['loss']:.3f}, "
          f"held-out spectral loss {last['held_out']['spectral']:.3f}" + (f"; runtime model in {runtime}" if runtime else ""))
    return 0


def train_diffusion_command(args: argparse.Namespace) -> int:
    import numpy as np

    from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders
    from vaf.training.devices import torch_device
    from vaf.training.generator.data import load_hits
    from vaf.training.generator.diffusion import load_pretrained, tiny_config, train_diffusion

    use_threads(args.threads, "vaf train diffusion")
    try:
        if (args.init_config is None) != (args.init_weights is None):
            raise ValueError("--init-config and --init-weights go together")
        device = torch_device(args.device)
        encoders = OnnxEncoders.load(args.encoders or DEFAULT_ENCODERS)
        init = load_pretrained(args.init_config, args.init_weights, feature_dim=encoders.dim) if args.init_config else None
        train = load_hits(args.dataset, "train", encoders.path, args.views, cache=args.cache)
        meta = {"encoders": encoders.fingerprint, "rms_per_impulse": float(np.median(train.level / train.impulse)),
                "dataset": str(args.dataset)}
        report = train_diffusion(train.targets, train.features, args.out, tiny_config(train.sample_rate, feature_dim=encoders.dim),
                                 init, args.epochs, args.batch, args.lr, args.seed, meta=meta, sample_rate=train.sample_rate,
                                 device=device)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"vaf train diffusion: {e}", file=sys.stderr)
        return 2
    print(f"{args.out}/diffusion.pt: trained {report['trained']}, final loss {report['history'][-1]['loss']:.4f}")
    return 0


def _recipe_folder(path: str | Path) -> Path:
    """A recipe model's folder: the folder itself, or a training run's runtime/ (runs/NAME -> runs/NAME/runtime)."""
    from vaf.runtime.recipe_model import MANIFEST

    folder = Path(path)
    if not (folder / MANIFEST).is_file() and (folder / "runtime" / MANIFEST).is_file():
        return folder / "runtime"
    return folder


def _checked_recipe_model(folder: Path, encoders):
    """The model in `folder`, if it was trained on `encoders`' features (ValueError naming both otherwise)."""
    from vaf.runtime.recipe_model import OnnxRecipeModel

    model = OnnxRecipeModel.load(folder)
    if model.encoders != encoders.fingerprint:
        raise ValueError(f"{folder}: trained on the features of encoders {model.encoders}, but --encoders "
                         f"{encoders.path} are {encoders.fingerprint}: pass the encoders it was trained with")
    return model


def eval_demo_scene_command(args: argparse.Namespace) -> int:
    from vaf.runtime.encoders import OnnxEncoders
    from vaf.runtime.recipe_model import DEFAULT_GENERATOR, OnnxRecipeModel
    from vaf.training.eval.demo_scene import checks_table, demo_scene_checks

    try:
        checks = demo_scene_checks(OnnxRecipeModel.load(_recipe_folder(args.model or DEFAULT_GENERATOR)), OnnxEncoders.load())
    except (ValueError, FileNotFoundError) as e:
        print(f"vaf eval demo-scene: {e}", file=sys.stderr)
        return 2
    print(checks_table(checks))
    failed = [c.name for c in checks if not c.passed]
    print(f"\n{len(failed)} of {len(checks)} checks failed: {'; '.join(failed)}" if failed else f"\nall {len(checks)} checks passed")
    return 1 if failed else 0


def eval_generator_command(args: argparse.Namespace) -> int:
    import numpy as np

    from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders
    from vaf.runtime.recipe_model import DEFAULT_GENERATOR
    from vaf.training.eval.generator import (diffusion_clips, evaluate_generator, net_clips, pitch_by_kind_table,
                                             realtime_clips, results_table)
    from vaf.training.eval.listening import check_listening_folder
    from vaf.training.generator.data import load_hits

    try:
        # every model and checkpoint is checked before the minutes of reading hits
        encoders = OnnxEncoders.load(args.encoders or DEFAULT_ENCODERS)
        model = _recipe_folder(args.model or DEFAULT_GENERATOR)
        _checked_recipe_model(model, encoders)
        compared = {folder: _checked_recipe_model(folder, encoders) for folder in map(_recipe_folder, args.compare)}
        for flag, checkpoint in (("--local", args.local), ("--diffusion", args.diffusion)):
            if checkpoint is not None and not Path(checkpoint).is_file():
                raise FileNotFoundError(f"{flag} {checkpoint}: no such file")
        if args.listen is not None:
            check_listening_folder(args.listen)
            if args.listen_hits < 1:
                raise ValueError(f"--listen-hits must be at least 1, got {args.listen_hits}")
        train = load_hits(args.dataset, "train", encoders.path, args.views, cache=args.cache)
        test = load_hits(args.dataset, "test", encoders.path, args.views, cache=args.cache)
        if args.limit is not None and args.limit < len(test):
            test = test.subset(np.sort(np.random.default_rng(0).permutation(len(test))[: args.limit]))
        baselines = {}
        for folder, other in compared.items():
            run = folder.parent if folder.name == "runtime" else folder  # runs/NAME/runtime -> NAME
            inputs = "features + size & place" if other.geometry else "features"
            for k, clips in enumerate(realtime_clips(folder, test, f"real-time, {run.name} ({inputs})")):
                baselines[f"{folder}#{k}"] = clips
        if args.local:
            baselines["local"] = net_clips("local RGB patch (seed's 'local' variant)", args.local, test)
        if args.diffusion:
            baselines["diffusion"] = diffusion_clips(args.diffusion, test)
        report = evaluate_generator(args.dataset, model, train, test, encoders, baselines, listen=args.listen,
                                    listen_hits=args.listen_hits, views=args.views)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"vaf eval generator: {e}", file=sys.stderr)
        return 2
    table = results_table(report, " ".join(["vaf", "eval", "generator"] + sys.argv[3:]))
    if args.pitch_by_kind:
        table += "\n\nMedian dominant-frequency error, cents, per struck part kind:\n\n" + pitch_by_kind_table(report)
    print(table)
    if args.results:
        with open(args.results, "a") as f:
            f.write("\n" + table + "\n")
    if args.listen:
        print(f"listening set: {Path(args.listen) / 'index.md'}")
    return 0
