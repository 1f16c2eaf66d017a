"""Resumable training: one checkpoint file per run folder, refused when the config changed."""

from __future__ import annotations

from pathlib import Path

import torch


def save_checkpoint(path: Path, config: dict, epoch: int, history: list, gen: torch.Generator, **states) -> None:
    """states: name -> module, optimizer or scheduler (anything with state_dict())."""
    torch.save({**{k: v.state_dict() for k, v in states.items()}, "epoch": epoch, "history": history, "config": config,
                "gen": gen.get_state()}, path)


def resume(path: Path, config: dict, gen: torch.Generator, **states) -> tuple[int, list]:
    """Loads `path` into states and gen if it exists: (epochs done, history); (0, []) for a fresh run.
    ValueError if the checkpoint was made with another config."""
    if not path.exists():
        return 0, []
    saved = torch.load(path, weights_only=False)
    if saved["config"] != config:
        raise ValueError(f"{path} was trained with another config; use a new --out to start over")
    for name, target in states.items():
        target.load_state_dict(saved[name])
    gen.set_state(saved["gen"])
    return saved["epoch"], saved["history"]
