"""The `vaf` command's help: every subcommand formats, and says what a run will use by default."""

from __future__ import annotations

import argparse
import subprocess
import sys

from vaf.cli import build_parser, subcommands


def test_every_subcommand_help_formats_and_names_its_defaults():
    parser = build_parser()
    commands = dict(subcommands(parser))
    assert ("train", "generator") in commands and ("serve",) in commands
    for path, subparser in commands.items():
        subparser.format_help()  # a stray '%' in a help string would raise here
        for action in subparser._actions:
            shown = isinstance(action.default, (int, float, str)) and action.default is not argparse.SUPPRESS
            if action.option_strings and shown and not isinstance(action.default, bool):
                assert "default" in (action.help or ""), f"vaf {' '.join(path)} {action.option_strings[0]}: default not shown"


def test_help_on_the_command_line_shows_a_bare_options_default_once():
    result = subprocess.run([sys.executable, "-m", "vaf", "train", "generator", "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    flat = " ".join(result.stdout.split())
    assert "--epochs EPOCHS (default: 20)" in flat
    assert "--lr LR (default: 0.002)" in flat
    # an option whose help already states its default is left alone
    assert flat.count("(default 0.5)") == 1 and "(default 0.5) (default: 0.5)" not in flat
