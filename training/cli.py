"""`vaf train ...` and `vaf eval ...`: training and evaluation of the models."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train models on a capture-layout dataset")
    trsub = tr.add_subparsers(dest="train_command", required=True)
    e = trsub.add_parser("encoders", help="contrastive audio and image encoders (resumable)")
    e.add_argument("--dataset", required=True, help="folder made by `vaf world dataset` (or a real capture in that layout)")
    e.add_argument("--out", required=True, help="folder for checkpoint.pt, encoders.pt, training.json")
    e.add_argument("--epochs", type=int, default=15)
    e.add_argument("--batch", type=int, default=64)
    e.add_argument("--seed", type=int, default=0)
    e.set_defaults(run=train_encoders_command)

    ev = sub.add_parser("eval", help="evaluate models on held-out scenes")
    evsub = ev.add_subparsers(dest="eval_command", required=True)
    loc = evsub.add_parser("localize", help="Acc(1) and Acc(3) of sound localization, with baselines")
    loc.add_argument("--dataset", required=True)
    loc.add_argument("--encoders", default=None, help="ONNX encoders folder (default: the embedded ones)")
    loc.add_argument("--untrained", default=None, help="encoders.pt of the untrained baseline (default: built fresh)")
    loc.add_argument("--views", type=int, default=24)
    loc.add_argument("--results", default=None, help="append the table to this markdown file (e.g. docs/results.md)")
    loc.set_defaults(run=eval_localize_command)


def train_encoders_command(args: argparse.Namespace) -> int:
    from vaf.training.encoders.train import TrainConfig, train_encoders

    try:
        report = train_encoders(args.dataset, args.out, TrainConfig(epochs=args.epochs, batch=args.batch, seed=args.seed))
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
        report = evaluate_localization(args.dataset, args.encoders, args.untrained, args.views)
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
