"""The seed's diffusion path with a tiny config: factory, training, sampling, baking (pretrained checkpoints: test_sat_checkpoint.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from vaf.export.scene_bake import bake_scene
from vaf.runtime.scene_bundle import SceneBundle
from vaf.training.generator.diffusion import build_diffusion, tiny_config, train_diffusion


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


# Trains the tiny config on argv[1]'s clips into argv[2], 30 epochs, until killed.
TRAINER = """
import sys
import numpy as np
from vaf.training.generator.diffusion import tiny_config, train_diffusion
data = np.load(sys.argv[1])
config = tiny_config(feature_dim=16)
config["model"]["diffusion"]["config"].update(embed_dim=32, depth=1, num_heads=1, cond_token_dim=32, global_cond_dim=32)
train_diffusion(data["clips"], data["features"], sys.argv[2], config, epochs=30, batch=8, progress=False)
"""


def test_a_killed_diffusion_training_resumes_to_the_same_weights(tmp_path):
    rng = np.random.default_rng(0)
    clips, features = rng.normal(0, 0.1, (16, 4000)).astype(np.float32), rng.normal(size=(16, 3, 16)).astype(np.float32)
    np.savez(tmp_path / "data.npz", clips=clips, features=features)
    unbroken = train_diffusion(clips, features, tmp_path / "unbroken", _tiny(), epochs=30, batch=8, progress=False)
    trainer = subprocess.Popen([sys.executable, "-c", TRAINER, str(tmp_path / "data.npz"), str(tmp_path / "run")])
    while not (tmp_path / "run" / "checkpoint.pt").exists():
        assert trainer.poll() is None, "the training ended before it could be killed"
        time.sleep(0.01)
    trainer.kill()
    trainer.wait(30)
    done = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)["epoch"]
    assert 1 <= done < 30
    with pytest.raises(ValueError, match=r"another config \(lr: 0\.001 -> 0\.002\)"):
        train_diffusion(clips, features, tmp_path / "run", _tiny(), epochs=30, batch=8, lr=2e-3, progress=False)
    with pytest.raises(ValueError, match=r"clips: "):  # other training data
        train_diffusion(clips[:8], features[:8], tmp_path / "run", _tiny(), epochs=30, batch=8, progress=False)
    resumed = train_diffusion(clips, features, tmp_path / "run", _tiny(), epochs=30, batch=8, progress=False)
    # the same run, up to the order of torch's CPU reductions (a process of its own each)
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, 31))
    np.testing.assert_allclose([h["loss"] for h in resumed["history"]], [h["loss"] for h in unbroken["history"]], rtol=1e-4)
    mine, theirs = (torch.load(tmp_path / name / "diffusion.pt", weights_only=False)["model"] for name in ("run", "unbroken"))
    assert mine.keys() == theirs.keys()
    for k in mine:
        torch.testing.assert_close(mine[k], theirs[k], rtol=1e-4, atol=1e-5, msg=k)
