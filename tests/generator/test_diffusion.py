"""The seed's diffusion path with a tiny config: factory, training, pretrained conditioner-only training, baking."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vaf.export.scene_bake import bake_scene
from vaf.runtime.scene_bundle import SceneBundle
from vaf.training.generator.diffusion import build_diffusion, load_diffusion, load_pretrained, tiny_config, train_diffusion


def _tiny(dim=16):
    config = tiny_config(feature_dim=dim)
    config["model"]["diffusion"]["config"].update(embed_dim=32, depth=1, num_heads=2, cond_token_dim=32, global_cond_dim=32)
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


def test_pretrained_start_trains_only_the_conditioner(tmp_path):
    """A 'pretrained' text-conditioned model (config JSON + weights on local disk): the text conditioner is
    replaced by the MLP one, every other weight is loaded and stays frozen."""
    source = build_diffusion(_tiny())
    config = _tiny()
    config["model"]["conditioning"] = {"type": "t5", "config": {"t5_model_name": "t5-base", "max_length": 128}}
    (tmp_path / "model_config.json").write_text(json.dumps(config))
    torch.save({"state_dict": {k: v for k, v in source.state_dict().items() if not k.startswith("conditioner.")}},
               tmp_path / "model.ckpt")
    model = load_pretrained(tmp_path / "model_config.json", tmp_path / "model.ckpt", feature_dim=16)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("conditioner.")}
    conditioner = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("conditioner.")}
    clips = np.random.default_rng(0).normal(0, 0.01, (8, 12000)).astype(np.float32)
    features = np.random.default_rng(1).normal(size=(8, 3, 16)).astype(np.float32)
    report = train_diffusion(clips, features, tmp_path / "out", init=model, epochs=1, batch=4, progress=False)
    assert report["trained"] == "conditioner"
    trained = load_diffusion(tmp_path / "out" / "diffusion.pt").state_dict()
    assert all(torch.equal(trained[k], v) for k, v in frozen.items())
    assert any(not torch.equal(trained[k], v) for k, v in conditioner.items())
    torch.save({"state_dict": {"nonsense.weight": torch.zeros(1)}}, tmp_path / "wrong.ckpt")
    with pytest.raises(ValueError, match="does not fit"):
        load_pretrained(tmp_path / "model_config.json", tmp_path / "wrong.ckpt", feature_dim=16)


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
