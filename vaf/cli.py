"""The `vaf` command: one entry point, subcommands registered by each part of the package."""

from __future__ import annotations

import argparse
import sys

import vaf


def build_parser() -> argparse.ArgumentParser:
    from vaf import demo
    from vaf.export import cli as export_cli
    from vaf.runtime import cli as runtime_cli
    from vaf.training import cli as training_cli
    from vaf.training.world import cli as world_cli

    parser = argparse.ArgumentParser(prog="vaf", description="VAF Bridge: generative audio-visual models for game engines.")
    parser.add_argument("--version", action="version", version=f"vaf-bridge {vaf.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    runtime_cli.register(sub)
    world_cli.register(sub)
    training_cli.register(sub)
    export_cli.register(sub)
    demo.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
