"""Encoders: config factory, log-mel against numpy, ONNX against torch, training lowers the loss and resumes."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.signal import stft

from vaf.training.encoders.logmel import LogMel, mel_filterbank
from vaf.training.encoders.models import build_encoder
from vaf.training.data.pairs import load_pairs
from vaf.training.encoders.train import _tensors, contrastive_loss, load_encoders, train_encoders


def test_factory_builds_from_configs_and_names_bad_ones(tiny_config):
    assert build_encoder(tiny_config.audio)(torch.zeros(2, 12000)).shape == (2, 16)
    assert build_encoder(tiny_config.image)(torch.zeros(2, 3, 64, 64)).shape == (2, 16)
    with pytest.raises(ValueError, match="type 'transformer'"):
        build_encoder({"type": "transformer"})
    with pytest.raises(ValueError, match="audio_cnn"):
        build_encoder({"type": "audio_cnn", "depth": 12})


def test_logmel_matches_scipy_stft():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 12000)).astype(np.float32)
    ours = LogMel(24000, 512, 240, 40)(torch.tensor(x)).numpy()
    _, _, spec = stft(x, 24000, window="hann", nperseg=512, noverlap=512 - 240, boundary="zeros", padded=False,
                      return_onesided=True, scaling="spectrum")
    power = (np.abs(spec) * 512 * 0.5) ** 2  # undo scipy's window-sum scaling (hann sums to 256)
    ref = np.log(np.einsum("mf,bft->bmt", mel_filterbank(24000, 512, 40, 30.0, 12000.0), power) + 1e-8)
    frames = min(ours.shape[2], ref.shape[2])
    np.testing.assert_allclose(ours[..., :frames], ref[..., :frames], rtol=1e-3, atol=1e-3)


def test_onnx_matches_torch(tiny_training, tiny_encoders):
    folder, _ = tiny_training
    model = load_encoders(folder / "encoders.pt")
    rng = np.random.default_rng(1)
    audio = rng.normal(0, 0.01, (3, 12000)).astype(np.float32)
    crops = rng.random((3, 64, 64, 3)).astype(np.float32)
    with torch.no_grad():
        ta = model.audio(torch.tensor(audio)).numpy()
        ti = model.image(torch.tensor(crops).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(tiny_encoders.embed_audio(audio), ta, atol=1e-4)
    np.testing.assert_allclose(tiny_encoders.embed_images(crops), ti, atol=1e-4)


def test_contrastive_loss_prefers_aligned_pairs():
    rng = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(8, 16, generator=rng), dim=1)
    groups = torch.arange(8)
    aligned = contrastive_loss(a, a, torch.tensor(2.0), groups)
    shuffled = contrastive_loss(a, a[torch.randperm(8, generator=rng)], torch.tensor(2.0), groups)
    assert aligned < shuffled


def test_training_lowers_loss_and_resumes(tiny_dataset, tiny_training, tiny_config, tmp_path):
    _, report = tiny_training
    assert report["train_pairs"] > 8 and len(report["history"]) == 2
    six = dataclasses.replace(tiny_config, epochs=6)
    first = train_encoders(tiny_dataset, tmp_path / "run", six, progress=False)
    losses = [h["loss"] for h in first["history"]]
    assert losses[-1] < losses[0]
    resumed = train_encoders(tiny_dataset, tmp_path / "run", six, progress=False)  # resumes at epoch 6: nothing to do
    assert resumed["history"] == first["history"]
    with pytest.raises(ValueError, match="another config"):
        train_encoders(tiny_dataset, tmp_path / "run", tiny_config, progress=False)


def test_training_pools_datasets_keeping_their_parts_apart(tiny_dataset, tiny_config, tmp_path):
    extra = tmp_path / "extra"  # the same scenes under another folder, all for training
    shutil.copytree(tiny_dataset, extra)
    manifest = json.loads((extra / "dataset.json").read_text())
    manifest["split"] = {"train": manifest["scenes"], "test": []}
    (extra / "dataset.json").write_text(json.dumps(manifest))
    own, more = load_pairs(tiny_dataset, "train"), load_pairs(extra, "train")
    assert len(more) > len(own)
    groups = lambda pairs: len(set(_tensors(pairs)[2].tolist()))  # noqa: E731
    assert groups(own + more) == groups(own) + groups(more)  # a part of one dataset is never a positive of another's
    report = train_encoders([tiny_dataset, extra], tmp_path / "run", dataclasses.replace(tiny_config, epochs=1), progress=False)
    assert report["train_pairs"] == len(own) + len(more)
    assert report["test_pairs"] == len(load_pairs(tiny_dataset, "test"))
    with pytest.raises(ValueError, match="another config"):  # the same run folder on other data does not resume
        train_encoders(tiny_dataset, tmp_path / "run", dataclasses.replace(tiny_config, epochs=1), progress=False)
    assert len(load_encoders(tmp_path / "run" / "checkpoint.pt").audio.head.weight) == tiny_config.audio["dim"]
    run = subprocess.run([sys.executable, "-m", "vaf", "train", "encoders", "--dataset", str(tiny_dataset), "--dataset",
                          str(extra), "--out", str(tmp_path / "cli"), "--epochs", "1", "--batch", "8"],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "cli" / "training.json").read_text())["train_pairs"] == len(own) + len(more)
    run = subprocess.run([sys.executable, "-m", "vaf", "train", "encoders", "--dataset", str(tiny_dataset), "--out",
                          str(tmp_path / "bad"), "--epochs", "0"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 2 and "epochs must be >= 1" in run.stderr and "Traceback" not in run.stderr
