"""The `vaf` command: one entry point, subcommands registered by each part of the package."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

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
    show_defaults(parser)
    return parser


def subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every subcommand's parser below `parser`, depth first, with its path of names (("train", "generator"), ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                yield path + (name,), subparser
                yield from subcommands(subparser, path + (name,))


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Appends "(default: X)" to the help of every option, in every subcommand, that has a default
    its help does not already state, so `--help` answers what a run will use."""
    for _, each in [((), parser), *subcommands(parser)]:
        for action in each._actions:
            if action.option_strings and not _unset(action.default) and "default" not in (action.help or ""):
                action.help = f"{action.help or ''} (default: %(default)s)".lstrip()


def _unset(default: object) -> bool:
    # identity, not equality: a default of 0 or 0.0 is worth showing, False (a flag's) is not
    return default is None or default is False or default is argparse.SUPPRESS or default == []


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C on a long command: a line saying what is kept, not a traceback
        print(f"\nvaf {' '.join(command_path(parser, sys.argv[1:] if argv is None else argv))}: stopped"
              f"{resume_hint(args)}", file=sys.stderr)
        return 130


def command_path(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str, ...]:
    """The subcommand the arguments name, e.g. ("train", "generator")."""
    known = {path for path, _ in subcommands(parser)}
    return max((tuple(argv[:k]) for k in range(len(argv) + 1) if tuple(argv[:k]) in known), key=len, default=())


def resume_hint(args: argparse.Namespace) -> str:
    """What a stopped command kept and how to go on: a training's checkpoint, a dataset's scenes, a scene build's
    masks so far."""
    from vaf.export.scene_build import partial_folder
    from vaf.training.features.mask_cache import kept_views
    from vaf.training.world.dataset import PARTIAL

    out = getattr(args, "out", None)
    if not out:
        return ""
    checkpoint, masks = Path(out, "checkpoint.pt"), partial_folder(Path(out))
    if checkpoint.is_file():
        return f"; the same command resumes from {checkpoint}"
    if Path(out, PARTIAL).is_file():
        return "; the same command resumes after the scenes it made"
    views = kept_views(masks)
    return f"; the masks of {views} views are kept in {masks}: the same command resumes there" if views else ""


if __name__ == "__main__":
    sys.exit(main())
