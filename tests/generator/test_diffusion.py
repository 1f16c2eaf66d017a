"""The seed's diffusion path with a tiny config: factory, training, sampling, baking (pretrained checkpoints: test_sat_checkpoint.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vaf.export.scene_bake import bake_scene
from vaf.runtime.scene_bundle import SceneBundle
from vaf.training.generator.diffusion import build_diffusion, tiny_config


def _tiny(dim=16):
    config = tiny_config(feature_dim=dim)
    config["model"]["diffusion"]["config"].update(embed_dim=32, depth=1, num_heads=1, cond_token_dim=32, global_cond_dim=32)
    return config


def test_factory_names_what_is_wrong():
    bad = _tiny()
    bad["model"]["conditioning"]["type"] = "t5"
    with pytest.raises(ValueError, match="model.conditioning.type"):
        build_diffusion(bad)
    with pytest.raises(ValueError, match="model_type"):
        build_diffusion({**_tiny(), "model_type": "autoencoder"})


def test_a_few_steps_lower_the_v_loss():
    torch.manual_seed(0)
    model = build_diffusion(_tiny())
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(model.sample_size) / model.sample_rate
    audio = (0.014 * torch.sin(2 * np.pi * 440 * t) * torch.exp(-8 * t)).repeat(8, 1)
    features = torch.nn.functional.normalize(torch.randn(8, 3, 16), dim=-1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)

    def loss():
        return model.loss(audio, features, torch.Generator().manual_seed(1))

    before = loss().item()
    for _ in range(80):
        step = model.loss(audio, features, gen)
        opt.zero_grad()
        step.backward()
        opt.step()
    assert loss().item() < 0.9 * before


@pytest.mark.parametrize("cfg_scale,eta", [(1.0, 0.0), (6.0, 0.0), (3.0, 1.0)])
def test_sampler_settings_give_finite_clips(cfg_scale, eta):
    model = build_diffusion(_tiny()).eval()
    out = model.sample(torch.nn.functional.normalize(torch.randn(2, 3, 16), dim=-1), steps=3, cfg_scale=cfg_scale, eta=eta)
    assert out.shape == (2, model.sample_size) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="steps"):
        model.sample(torch.zeros(1, 3, 16), steps=0)


def test_bake_stores_a_bank_per_seen_part_and_never_overwrites(baked_scene, feature_scene, tiny_diffusion):
    baked = SceneBundle.load(baked_scene)
    plain = SceneBundle.load(feature_scene)
    bank = baked.baked
    assert bank is not None and plain.baked is None
    parts = {s.id for s in plain.segments if s.level == "part"}
    assert set(bank.segment_ids.tolist()) <= parts and bank.audio.shape[1] == 2
    rms = np.sqrt(np.mean(bank.audio.astype(np.float64) ** 2, axis=2))
    np.testing.assert_allclose(rms, 0.01, rtol=0.02)  # finished like a recording
    assert bank.source["steps"] == 4 and bank.source["rms_per_impulse"] > 0
    with pytest.raises(FileExistsError, match="nothing was overwritten"):
        bake_scene(feature_scene, baked_scene, tiny_diffusion, variations=1, steps=1, progress=False)


def test_a_broken_bank_is_rejected_naming_the_field(baked_scene, tmp_path):
    import shutil

    broken = tmp_path / "scene"
    shutil.copytree(baked_scene, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["baked"]["sample_rate"] = "fast"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="baked.sample_rate"):
        SceneBundle.load(broken)


def test_bake_cli_writes_a_new_bundle_and_refuses_a_missing_gpu(feature_scene, tiny_diffusion, tmp_path):
    import subprocess
    import sys

    def bake(out, *extra):
        return subprocess.run([sys.executable, "-m", "vaf", "scene", "bake", str(feature_scene), "--out", str(out), "--model",
                               str(tiny_diffusion), "--variations", "1", "--steps", "1", *extra],
                              capture_output=True, text=True, timeout=600)

    r = bake(tmp_path / "baked", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert SceneBundle.load(tmp_path / "baked").baked is not None
    if not torch.cuda.is_available():
        r = bake(tmp_path / "gpu", "--device", "cuda")
        assert r.returncode == 2 and "no CUDA GPU" in r.stderr and not (tmp_path / "gpu").exists()
