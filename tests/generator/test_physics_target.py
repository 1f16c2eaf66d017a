"""The physics target: each training hit's dry ground-truth sound (the world's own recipe), a second spectral term."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from vaf.runtime.preprocess import TARGET_RMS
from vaf.training.generator.data import physics_targets
from vaf.training.generator.models import build_generator
from vaf.training.generator.train import GeneratorObjective, GeneratorTrainConfig


def log_spectrum(clips: np.ndarray) -> np.ndarray:
    return np.log(np.abs(np.fft.rfft(clips, axis=1)) + 1e-6)


def tail_share(clips: np.ndarray, rate: int, after_s: float = 0.25) -> np.ndarray:
    """(N,) share of each clip's energy after `after_s`."""
    e = clips.astype(np.float64) ** 2
    return e[:, int(after_s * rate) :].sum(axis=1) / np.maximum(e.sum(axis=1), 1e-30)


def test_the_target_is_the_hits_own_sound_without_the_room(tiny_hits):
    train, _ = tiny_hits
    dry = physics_targets(train)
    assert dry.shape == train.targets.shape and dry.dtype == np.float32
    np.testing.assert_allclose(np.sqrt((dry.astype(np.float64) ** 2).mean(axis=1)), TARGET_RMS, rtol=1e-3)
    # each target's spectrum is nearer its own recording's than the recording of the next hit (another spot or part)
    own, recorded = log_spectrum(dry), log_spectrum(train.targets)
    mine = np.abs(own - recorded).mean(axis=1)
    others = np.abs(own - np.roll(recorded, 1, axis=0)).mean(axis=1)
    assert np.mean(mine < others) > 0.8
    # the recording is this sound heard in a room: its tail holds more of its energy than the dry sound's does
    assert np.median(tail_share(train.targets, train.sample_rate)) > np.median(tail_share(dry, train.sample_rate))


def test_the_term_joins_the_loss_at_its_weight_and_reports_itself(tiny_hits, tiny_recipe):
    train, _ = tiny_hits
    torch.manual_seed(0)
    net = build_generator({**tiny_recipe, "room": False}).eval()
    index = torch.arange(8)
    off = GeneratorObjective(train, net.config, 0.0, 0.0)
    on = GeneratorObjective(train, net.config, 0.0, 0.0, physics_weight=2.0)
    with torch.no_grad():
        (loss_off, parts_off), (loss_on, parts) = off(net, index, index), on(net, index, index)
        _, audio = on.render(net, index, index)
        expected = on.spectral(audio, torch.tensor(physics_targets(train.subset(index.numpy()))))
    assert "physics_spectral" not in parts_off  # off: the targets are not even rendered
    assert parts["physics_spectral"] == pytest.approx(expected.item(), rel=1e-5)
    assert parts["physics_spectral"] != pytest.approx(parts["spectral"], rel=1e-3)  # another target than the recording
    assert (loss_on - loss_off).item() == pytest.approx(2.0 * parts["physics_spectral"], rel=1e-4)
    with pytest.raises(ValueError, match="physics_weight"):
        GeneratorTrainConfig(physics_weight=-1.0)


def test_the_term_pulls_the_sound_towards_the_dry_one(term_after_steps, tiny_recipe):
    """30 steps with the term strong against the same steps with it (nearly) silent, from the same start."""
    dry = {**tiny_recipe, "room": False}
    _, without = term_after_steps(dry, "physics_spectral", physics_weight=1e-6)
    before, pulled = term_after_steps(dry, "physics_spectral", physics_weight=5.0)
    assert pulled < without < before


def test_a_capture_without_ground_truth_acoustics_is_refused_by_name(tiny_hits, tiny_recipe, tiny_dataset, tiny_encoders,
                                                                     tmp_path):
    captured = tmp_path / "captured"
    shutil.copytree(tiny_dataset, captured)
    for manifest_path in captured.glob("*/bundle/manifest.json"):  # as a real capture: no ground-truth acoustics
        manifest = json.loads(manifest_path.read_text())
        (manifest_path.parent / manifest["acoustics"]).unlink()
        manifest["acoustics"] = None
        manifest_path.write_text(json.dumps(manifest))
    train, _ = tiny_hits
    moved = dataclasses.replace(train, scene=np.array([str(captured / s.rsplit("/", 1)[-1]) for s in train.scene]))
    net = build_generator(tiny_recipe)
    GeneratorObjective(moved, net.config, 0.0, 0.0)  # without the term the acoustics are never read
    with pytest.raises(ValueError, match="no ground-truth acoustics"):
        GeneratorObjective(moved, net.config, 0.0, 0.0, physics_weight=1.0)
    r = subprocess.run([sys.executable, "-m", "vaf", "train", "generator", "--dataset", str(captured), "--out",
                        str(tmp_path / "model"), "--encoders", str(tiny_encoders.path), "--epochs", "1", "--batch", "8",
                        "--views", "4", "--cache", str(tmp_path / "cache"), "--physics-weight", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "no ground-truth acoustics" in r.stderr, r.stderr
