"""`vaf demo` end to end: a real server process, real physics, real files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from PIL import Image

from vaf.runtime.wav import read_wav


def test_demo_writes_audio_and_picture(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "vaf", "demo", "--out", str(out), "--seconds", "4", "--seed", "3", "--ab"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "contacts sounded:" in result.stdout and "p50" in result.stdout
    pcm, rate = read_wav(out / "demo.wav")
    assert rate == 48000 and pcm.size == 5 * 48000
    # Sound arrives where the simulation had impacts: energy in several 100 ms windows, not one blip.
    windows = (pcm[: pcm.size // 4800 * 4800].reshape(-1, 4800) ** 2).mean(axis=1)
    assert (windows > 1e-6).sum() >= 5 and np.abs(pcm).max() <= 1.0
    physics, _ = read_wav(out / "demo_physics.wav")  # the A/B partner: same contacts, ground-truth physics
    assert physics.size == pcm.size and np.abs(physics).max() > 0
    assert "'realtime'" in result.stdout  # the demo scene sounds through the neural path by default
    image = Image.open(out / "demo.png")
    assert image.width >= 512 and image.height >= 512
    assert '"event": "stopped"' in (out / "server.log").read_text()
    again = subprocess.run([sys.executable, "-m", "vaf", "demo", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists" in again.stderr  # nothing overwritten
