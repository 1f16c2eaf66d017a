"""Training checkpoints survive the run being killed while it writes one (Ctrl-C, a kill, a closed laptop)."""

from __future__ import annotations

import subprocess
import sys
import time

import torch

# Saves a 16 MB checkpoint over and over, each a new epoch, until killed.
SAVER = """
import sys
from pathlib import Path
import torch
from vaf.training.checkpoints import save_checkpoint

model, gen = torch.nn.Linear(2048, 2048), torch.Generator()
for epoch in range(1, 10**9):
    save_checkpoint(Path(sys.argv[1]), {"lr": 1.0}, epoch, [epoch], gen, model=model)
"""


def test_a_run_killed_while_saving_keeps_a_whole_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"
    epochs = []
    for delay in (0.05, 0.13, 0.31, 0.47, 0.71):  # most of a save loop's time is spent writing: most kills land there
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(path)])
        while not path.exists() and saver.poll() is None:
            time.sleep(0.01)
        time.sleep(delay)
        saver.kill()
        saver.wait(30)
        saved = torch.load(path, weights_only=False)  # a half-written file would not load
        assert saved["history"] == [saved["epoch"]] and saved["model"]["weight"].shape == (2048, 2048)
        epochs.append(saved["epoch"])
        path.unlink()
    assert max(epochs) > 1  # the kills did come while it was saving again and again
