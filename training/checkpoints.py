"""Resumable training: one checkpoint file per run folder, refused when the config changed."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vaf.training.configs import config_differences
from vaf.training.whole_files import written_whole


def run_config(config: Any, datasets: list[Path]) -> dict:
    """What a checkpoint must match to resume: the training config (a dataclass) and the datasets it reads."""
    return {**asdict(config), "datasets": [str(d.resolve()) for d in datasets]}


def save_checkpoint(path: Path, config: dict, epoch: int, history: list, gen: torch.Generator, **states) -> None:
    """states: name -> module, optimizer or scheduler (anything with state_dict()). Written beside `path` and then
    renamed over it: a run stopped while saving (Ctrl-C, a kill) keeps its previous checkpoint whole."""
    with written_whole(path) as partial:
        torch.save({**{k: v.state_dict() for k, v in states.items()}, "epoch": epoch, "history": history,
                    "config": config, "gen": gen.get_state()}, partial)


def resume(path: Path, config: dict, gen: torch.Generator, **states) -> tuple[int, list]:
    """Loads `path` into states and gen if it exists: (epochs done, history); (0, []) for a fresh run.
    ValueError if the checkpoint was made with another config."""
    if not path.exists():
        return 0, []
    saved = torch.load(path, weights_only=False)
    _refuse_another_config(path, saved["config"], config)
    for name, target in states.items():
        target.load_state_dict(saved[name])
    gen.set_state(saved["gen"])
    return saved["epoch"], saved["history"]


def check_resumable(path: Path, config: dict) -> None:
    """ValueError (naming each changed field) if a checkpoint at `path` was made with another config.
    Cheap: call it before slow data loading, so a run that cannot resume fails at once."""
    if path.exists():
        _refuse_another_config(path, torch.load(path, weights_only=False)["config"], config)


def _refuse_another_config(path: Path, saved: dict, config: dict) -> None:
    if saved != config:
        changed = "; ".join(config_differences(saved, config))
        raise ValueError(f"{path} was trained with another config ({changed}); use a new --out to start over, "
                         "or the options it was trained with")
