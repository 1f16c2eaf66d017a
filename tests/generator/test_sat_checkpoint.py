"""Loading a stable-audio-tools checkpoint (the seed's pretrained Stable Audio Open path).

fixtures/sat_tiny was written by stable-audio-tools itself (fixtures/make_sat_fixture.py): a model
config in Stable Audio Open's layout with every width shrunk, random weights under its parameter
names, and what its own modules computed for fixed inputs. Our loader must read that file through
the same code a user's model_config.json + model.ckpt takes, and our modules must reproduce its
numbers: the Oobleck encoder and decoder, the DiT's v prediction, and its classifier-free guidance.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vaf.training.generator.diffusion import load_diffusion, load_pretrained, read_checkpoint, train_diffusion

FIXTURE = Path(__file__).parent / "fixtures" / "sat_tiny"


@pytest.fixture(scope="module")
def expected():
    return {k: torch.tensor(v) for k, v in np.load(FIXTURE / "expected.npz").items()}


@pytest.fixture(scope="module")
def model():
    return load_pretrained(FIXTURE / "model_config.json", FIXTURE / "model.ckpt", feature_dim=16, seconds=None)


def _close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    scale = theirs.abs().max().item()
    assert scale > 1e-3  # the reference is not trivially zero
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-4 * max(1.0, scale), rtol=1e-4)


def test_oobleck_vae_matches_stable_audio_tools(model, expected):
    with torch.no_grad():
        _close(model.pretransform.encoder(expected["audio"]), expected["encoded"])
        _close(model.pretransform.decode(expected["latents"]), expected["decoded"])
        mean = model.pretransform.encode(expected["audio"])
    _close(mean, expected["encoded"][:, :8])  # the VAE mean without a generator


def test_dit_and_guidance_match_stable_audio_tools(model, expected):
    args = expected["latents"], expected["t"], expected["tokens"], expected["global_cond"]
    with torch.no_grad():
        _close(model.guided_v(*args, cfg_scale=1.0), expected["v"])
        _close(model.guided_v(*args, cfg_scale=6.0), expected["v_cfg"])


def test_every_dit_and_vae_weight_is_read(model):
    state = read_checkpoint(FIXTURE / "model.ckpt")
    ours = model.state_dict()
    for key, value in state.items():
        if key.startswith("conditioner."):
            continue  # the checkpoint's own conditioners (seconds here, T5 too in Stable Audio Open) are replaced
        mine = key.replace("model.model.", "model.", 1).replace("pretransform.model.", "pretransform.", 1)
        torch.testing.assert_close(ours[mine], value.float())


def test_safetensors_weights_load_the_same(tmp_path, model):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in read_checkpoint(FIXTURE / "model.ckpt").items()}, tmp_path / "model.safetensors")
    again = load_pretrained(FIXTURE / "model_config.json", tmp_path / "model.safetensors", feature_dim=16, seconds=None)
    theirs = {k: v for k, v in again.state_dict().items() if not k.startswith("conditioner.")}
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in theirs.items())


def test_conditioner_alone_trains_from_the_checkpoint_on_resampled_clips(tmp_path):
    """The seed's recipe: sample length shortened to the hit (0.5 s), every pretrained weight frozen,
    the MLP conditioner trained; clips at another rate than the model's are resampled to it."""
    model = load_pretrained(FIXTURE / "model_config.json", FIXTURE / "model.ckpt", feature_dim=16)
    assert model.sample_size == 4000 and model.config["sample_size"] == 4000  # 0.5 s at 8 kHz, a multiple of 8
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("conditioner.")}
    conditioner = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("conditioner.")}
    clips = np.random.default_rng(0).normal(0, 0.1, (8, 8000)).astype(np.float32)  # 0.5 s at 16 kHz
    features = np.random.default_rng(1).normal(size=(8, 3, 16)).astype(np.float32)
    report = train_diffusion(clips, features, tmp_path / "out", init=model, epochs=1, batch=4, progress=False,
                             sample_rate=16_000)
    assert report["trained"] == "conditioner"
    trained = load_diffusion(tmp_path / "out" / "diffusion.pt")
    state = trained.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())
    assert any(not torch.equal(state[k], v) for k, v in conditioner.items())
    out = trained.sample(torch.tensor(features[:2]), steps=2)
    assert out.shape == (2, 4000) and torch.isfinite(out).all()


def test_a_checkpoint_that_does_not_fit_is_refused(tmp_path):
    torch.save({"state_dict": {"model.model.nonsense.weight": torch.zeros(1)}}, tmp_path / "wrong.ckpt")
    with pytest.raises(ValueError, match="does not fit"):
        load_pretrained(FIXTURE / "model_config.json", tmp_path / "wrong.ckpt", feature_dim=16)
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        load_pretrained(FIXTURE / "model_config.json", tmp_path / "missing.ckpt", feature_dim=16)


@pytest.mark.parametrize("path,value,field", [
    (("model", "diffusion", "config", "global_cond_type"), "adaLN", "model.diffusion.config.global_cond_type"),
    (("model", "diffusion", "config", "num_heads"), 8, "embed_dim / num_heads"),
    (("model", "pretransform", "config", "decoder", "type"), "dac", "model.pretransform.config.decoder.type"),
    (("model", "pretransform", "config", "bottleneck", "type"), "rvq", "model.pretransform.config.bottleneck.type"),
    (("model", "diffusion", "diffusion_objective"), "rectified_flow", "model.diffusion.diffusion_objective"),
])
def test_unsupported_config_options_are_named(tmp_path, path, value, field):
    config = json.loads((FIXTURE / "model_config.json").read_text())
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (tmp_path / "model_config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=field.replace(".", r"\.").replace("/", "/")):
        load_pretrained(tmp_path / "model_config.json", FIXTURE / "model.ckpt", feature_dim=16)


def test_train_diffusion_cli_from_a_checkpoint(tiny_dataset, tiny_encoders, tmp_path):
    """`vaf train diffusion --init-config --init-weights` as a user runs it, in its own process: the
    sounding world's 24 kHz clips train the checkpoint's conditioner at its 8 kHz; a second run into
    the same folder and a CUDA device on a machine without one are refused, writing nothing."""
    out = tmp_path / "sao"

    def run(*extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vaf", "train", "diffusion", "--dataset", str(tiny_dataset), "--out", str(out),
                               "--encoders", str(tiny_encoders.path), "--init-config", str(FIXTURE / "model_config.json"),
                               "--init-weights", str(FIXTURE / "model.ckpt"), "--epochs", "1", "--batch", "8", "--views", "4",
                               "--cache", str(tmp_path / "cache"), *extra], capture_output=True, text=True, timeout=600)

    r = run("--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "trained conditioner" in r.stdout
    model = load_diffusion(out / "diffusion.pt")
    assert (model.sample_rate, model.sample_size) == (8000, 4000)
    written = (out / "diffusion.pt").read_bytes()
    r = run()
    assert r.returncode == 2 and "nothing was overwritten" in r.stderr
    assert (out / "diffusion.pt").read_bytes() == written
    if not torch.cuda.is_available():
        r = subprocess.run([sys.executable, "-m", "vaf", "train", "diffusion", "--dataset", str(tiny_dataset), "--out",
                            str(tmp_path / "gpu"), "--device", "cuda"], capture_output=True, text=True, timeout=600)
        assert r.returncode == 2 and "no CUDA GPU" in r.stderr and not (tmp_path / "gpu").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; the same code runs on the CPU in the tests above")
def test_conditioner_trains_and_samples_on_a_gpu(tmp_path):
    model = load_pretrained(FIXTURE / "model_config.json", FIXTURE / "model.ckpt", feature_dim=16)
    clips = np.random.default_rng(0).normal(0, 0.1, (8, 4000)).astype(np.float32)
    features = np.random.default_rng(1).normal(size=(8, 3, 16)).astype(np.float32)
    train_diffusion(clips, features, tmp_path / "out", init=model, epochs=1, batch=4, progress=False, device="cuda")
    trained = load_diffusion(tmp_path / "out" / "diffusion.pt").to("cuda")
    out = trained.sample(torch.tensor(features[:2]), steps=2)
    assert out.device.type == "cpu" and torch.isfinite(out).all()


def test_evaluation_samples_a_model_at_another_rate(tiny_hits, tmp_path):
    """`vaf eval generator --diffusion` on a model at 8 kHz scoring 24 kHz hits: its clips are
    resampled and finished like recordings, one per hit."""
    from vaf.training.eval.generator import diffusion_clips

    train, test = tiny_hits
    model = load_pretrained(FIXTURE / "model_config.json", FIXTURE / "model.ckpt", feature_dim=train.features.shape[2])
    train_diffusion(train.targets[:8], train.features[:8], tmp_path, init=model, epochs=1, batch=4, progress=False,
                    sample_rate=train.sample_rate)
    clips = diffusion_clips(tmp_path / "diffusion.pt", test, steps=2, progress=False)
    assert clips.audio.shape == test.targets.shape and np.isfinite(clips.audio).all()
    rms = np.sqrt(np.mean(clips.audio.astype(np.float64) ** 2, axis=1))
    assert np.all((np.abs(rms - 0.01) < 1e-4) | (rms == 0))
    assert "M parameters (2 DDIM steps, CFG 6)" in clips.name
