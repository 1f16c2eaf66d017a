"""The pretrained open_clip image tower: loads a local checkpoint (a tiny CLIP built here by open_clip
itself), matches open_clip's own encode_image, stays frozen while the audio side trains, exports to ONNX."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import open_clip
import pytest
import torch

from vaf.export.encoders import export_encoders
from vaf.runtime.encoders import OnnxEncoders
from vaf.training.encoders.models import build_encoder
from vaf.training.encoders.train import load_encoders, train_encoders

TINY_CLIP = {"embed_dim": 16, "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 8, "head_width": 16},
             "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1}}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """(config JSON, checkpoint, the CLIP it holds): what a user has on disk, made by open_clip itself."""
    folder = tmp_path_factory.mktemp("clip")
    config = folder / "vaf_tiny_clip.json"
    config.write_text(json.dumps(TINY_CLIP))
    torch.manual_seed(123)
    clip = open_clip.CLIP(**TINY_CLIP).eval()
    torch.save(clip.state_dict(), folder / "tiny_clip.pt")
    return config, folder / "tiny_clip.pt", clip


def _encoder(tiny_clip) -> torch.nn.Module:
    config, checkpoint, _ = tiny_clip
    return build_encoder({"type": "open_clip_image", "model": str(config), "checkpoint": str(checkpoint)})


def test_matches_open_clip_encode_image(tiny_clip):
    _, _, clip = tiny_clip
    encoder = _encoder(tiny_clip)
    crops = torch.rand(4, 3, 64, 64)  # what the lifter feeds: metric crops in [0, 1]
    resized = torch.nn.functional.interpolate(crops, size=(32, 32), mode="bilinear", align_corners=False)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.nn.functional.normalize(clip.encode_image((resized - mean) / std), dim=-1)
        got = encoder(crops)
    assert encoder.dim == 16 and got.shape == (4, 16)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_bad_sources_are_named_and_nothing_is_fetched(tiny_clip, tmp_path):
    config, checkpoint, _ = tiny_clip
    with pytest.raises(ValueError, match="checkpoint.*does not exist"):
        build_encoder({"type": "open_clip_image", "model": str(config), "checkpoint": str(tmp_path / "missing.pt")})
    with pytest.raises(ValueError, match="remote source"):
        build_encoder({"type": "open_clip_image", "model": "hf-hub:laion/CLIP-ViT-B-32", "checkpoint": str(checkpoint)})
    with pytest.raises(ValueError, match="neither an open_clip architecture"):
        build_encoder({"type": "open_clip_image", "model": "ViT-Q-99", "checkpoint": str(checkpoint)})
    other = {**TINY_CLIP, "vision_cfg": {**TINY_CLIP["vision_cfg"], "width": 48}}
    (tmp_path / "vaf_other_clip.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="does not fit"):
        build_encoder({"type": "open_clip_image", "model": str(tmp_path / "vaf_other_clip.json"), "checkpoint": str(checkpoint)})


def test_audio_learns_into_a_frozen_clip_space_and_exports(tiny_clip, tiny_config, tiny_dataset, tmp_path):
    config, checkpoint, clip = tiny_clip
    audio = {k: v for k, v in tiny_config.audio.items() if k != "dim"}  # takes CLIP's dim
    train_config = dataclasses.replace(tiny_config, epochs=2, image={"type": "open_clip_image", "model": str(config),
                                                                     "checkpoint": str(checkpoint)}, audio=audio)
    report = train_encoders(tiny_dataset, tmp_path / "run", train_config, progress=False)
    assert report["history"][-1]["loss"] < report["history"][0]["loss"] * 1.05
    pair = load_encoders(tmp_path / "run" / "encoders.pt")
    tower = {k.removeprefix("image.tower."): v for k, v in pair.state_dict().items() if k.startswith("image.tower.")}
    for name, value in clip.visual.state_dict().items():  # frozen: exactly the checkpoint's weights
        torch.testing.assert_close(tower[name], value, rtol=0, atol=0, msg=name)
    assert pair.audio.dim == 16

    onnx = OnnxEncoders.load(export_encoders(tmp_path / "run" / "encoders.pt", tmp_path / "onnx"))
    crops = np.random.default_rng(0).random((3, 64, 64, 3)).astype(np.float32)
    with torch.no_grad():
        expected = pair.image(torch.tensor(crops).permute(0, 3, 1, 2)).numpy()
    np.testing.assert_allclose(onnx.embed_images(crops), expected, atol=1e-4)
    assert onnx.dim == 16 and onnx.image_size == 64


def test_train_encoders_cli_needs_both_clip_options(tiny_dataset, tmp_path):
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "vaf", "train", "encoders", "--dataset", str(tiny_dataset), "--out",
                          str(tmp_path / "run"), "--clip-model", "ViT-B-32"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "--clip-checkpoint" in run.stderr and not (tmp_path / "run").exists()
    missing = subprocess.run([sys.executable, "-m", "vaf", "train", "encoders", "--dataset", str(tiny_dataset), "--out",
                              str(tmp_path / "run"), "--clip-model", "ViT-B-32", "--clip-checkpoint",
                              str(tmp_path / "none.bin")], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "open_clip_image checkpoint" in missing.stderr
