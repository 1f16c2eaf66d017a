"""Recipe network: the factory, training lowers the loss, resuming, ONNX parity, the CLI."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from vaf.runtime.recipe_model import OnnxRecipeModel
from vaf.runtime.segment_geometry import EXTENT_DIMS
from vaf.training.generator.data import load_hits
from vaf.training.generator.losses import rms_normalise
from vaf.training.generator.models import GEOMETRY_LN_RANGE, RecipeConfig, RuntimeRecipe, build_generator
from vaf.training.generator.train import (GeneratorObjective, GeneratorTrainConfig, bin_energy_share,
                                          feature_prototypes, load_generator, train_generator)


def test_factory_rejects_bad_configs_naming_the_key(tiny_recipe):
    with pytest.raises(ValueError, match="unknown keys.*'hiddne'"):
        build_generator({**tiny_recipe, "hiddne": 3})
    with pytest.raises(ValueError, match="modes_out"):
        build_generator({**tiny_recipe, "modes_out": 99})
    with pytest.raises(ValueError, match="materials"):
        build_generator({**tiny_recipe, "materials": ["wood", "cheese"]})


def test_prototypes_of_repeated_features_leave_no_cluster_empty():
    """Pooled copies of the same scenes repeat each hit's features: as many centroids as distinct vectors, no warning."""
    rng = np.random.default_rng(0)
    distinct = rng.normal(size=(5, 3, 8)).astype(np.float32)
    distinct /= np.linalg.norm(distinct, axis=2, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy warns when a cluster ends empty
        centroids, threshold = feature_prototypes(np.repeat(distinct, 40, axis=0), count=256)
    assert centroids.shape == (5, 24)
    assert threshold == pytest.approx(1.0, abs=1e-5)  # every hit is its own centroid


def test_hits_carry_features_targets_and_contacts(tiny_hits):
    train, test = tiny_hits
    assert len(train) > 16 and len(test) > 0
    assert set(train.scene).isdisjoint(set(test.scene))
    np.testing.assert_allclose(np.linalg.norm(train.features, axis=2), 1.0, atol=1e-4)
    rms = np.sqrt(np.mean(train.targets.astype(np.float64) ** 2, axis=1))
    np.testing.assert_allclose(rms, 0.01, rtol=1e-3)  # the seed's RMS normalisation
    assert np.all(train.level > 0) and np.all(train.impulse > 0)


def test_hits_carry_the_struck_segments_extents(tiny_hits):
    train, _ = tiny_hits
    assert train.geometry.shape == (len(train), 9) and np.isfinite(train.geometry).all()
    place = train.geometry[:, 6:]
    assert np.all((place >= 0) & (place <= 1))
    # hits land on their subpart: within its span along the two largest axes (the smallest, a plate's
    # thickness, puts every hit at a face, 0.5 or beyond where the 2..98% span trims it)
    assert np.mean(place[:, :2] <= 0.55) > 0.95
    extents = np.exp(train.geometry)
    assert np.all(extents[:, 0] <= extents[:, 3] * 1.05)  # a subpart is no longer than its part
    assert np.all(np.diff(extents[:, :3], axis=1) <= 0)  # largest first


def test_training_reads_each_hits_geometry_where_the_server_does(tiny_hits):
    """The server snaps a contact to an acoustic surface sample and describes the geometry there; training must
    see the same numbers. The hit's rendered point lies off the surface (up to a plate's thickness), which once
    put flat parts' hits 'beyond the face' in training and 'on it' at runtime (docs/results.md, 2026-11-30)."""
    from vaf.runtime.scene_bundle import SceneBundle
    from vaf.runtime.scenes import SceneSurface
    from vaf.runtime.segment_geometry import SegmentGeometry

    train, _ = tiny_hits
    for name in sorted(set(train.scene))[:3]:
        bundle = SceneBundle.load(Path(name) / "bundle")
        surface, geometry = SceneSurface.of(bundle), SegmentGeometry(bundle.gaussians.positions, bundle.labels)  # as LoadedScene.of
        k = np.flatnonzero(train.scene == name)
        labels = surface.labels[train.sample[k]]
        assert np.array_equal(labels[:, 0], train.subpart[k])  # the sample lies on the struck subpart
        served = geometry.describe(labels[:, 0], labels[:, 1], surface.points[train.sample[k]])
        np.testing.assert_array_equal(train.geometry[k], served)  # what runtime/generators.py feeds the network
        seen = geometry.describe(labels[:, 0], labels[:, 1], train.point[k])
        assert np.abs(seen - served).max() > 0.05  # the rendered point is another place: the skew this test guards


def test_a_geometry_model_needs_geometry(tiny_recipe, tiny_hits):
    net = build_generator(tiny_recipe)
    with pytest.raises(ValueError, match="geometry"):
        net(torch.tensor(tiny_hits[0].features[:2]))
    without = build_generator({**tiny_recipe, "geometry": False})
    assert without(torch.tensor(tiny_hits[0].features[:2]))["gain"].shape == (2, tiny_recipe["grid_bins"])


@pytest.mark.parametrize("hz", [97.0, 440.0, 2500.0, 9000.0])
def test_energy_share_lands_in_the_bin_that_rings(hz):
    grid = RecipeConfig().grid_hz()
    t = np.arange(12000) / 24000
    ring = np.sin(2 * np.pi * hz * t) * np.exp(-8 * t) + 0.01 * np.random.default_rng(0).normal(size=t.size)
    share = bin_energy_share(ring[None], 24000, grid)[0]
    assert share.sum() == pytest.approx(1.0, abs=1e-5)
    assert abs(np.log2(grid[share.argmax()] / hz)) * 1200 < 40  # within the bin (77 cents wide)
    assert share.max() > 0.5  # low bins are a few Hz wide: the ring leaks into its neighbours


def test_the_pitch_term_moves_the_gain_to_where_the_recording_rings(tiny_hits, tiny_recipe):
    train, _ = tiny_hits
    torch.manual_seed(0)
    net = build_generator(tiny_recipe).eval()
    objective = GeneratorObjective(train, net.config, 0.0, 0.0, pitch_weight=1.0)
    index = torch.arange(min(16, len(train)))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    before = objective(net, index, index % 8)[1]["pitch_ce"]
    for _ in range(40):
        out = net(objective.inputs[index], objective.geometry[index])
        loss = -(objective.energy_share[index] * out["bin_log_share"]).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = objective(net, index, index % 8)[1]
    assert after["pitch_ce"] < 0.8 * before, (before, after)
    with torch.no_grad():
        gains = net(objective.inputs[index], objective.geometry[index])["gain"].numpy()
    target = objective.energy_share[index].numpy()
    # the loudest predicted bin is now one where the recording holds energy
    assert np.mean(target[np.arange(len(index)), gains.argmax(axis=1)] > 0.05) > 0.7


def test_the_decay_term_pulls_decays_towards_the_recordings(term_after_steps, tiny_recipe):
    """The same 30 steps from the same start, without and with the decay term: with it, the generated
    decays end closer to the recordings' (the spectral terms alone move them too, less). Free decays: the
    term's own pull, not what the material's damping law lets 30 steps do."""
    decay_after = lambda w: term_after_steps({**tiny_recipe, "decay_law": "free"}, "decay", decay_weight=w)  # noqa: E731
    (start, without), (same_start, with_term) = decay_after(0.0), decay_after(20.0)
    assert start == same_start
    assert with_term < 0.8 * without, (start, without, with_term)
    with pytest.raises(ValueError, match="decay_weight"):
        GeneratorTrainConfig(decay_weight=-1.0)
    with pytest.raises(ValueError, match="loss_modes"):
        GeneratorTrainConfig(loss_modes="bins")
    with pytest.raises(ValueError, match="mel_weight"):
        GeneratorTrainConfig(mel_weight=-0.5)


@pytest.mark.parametrize("loss_modes, decay_law", [("grid", "free"), ("runtime", "free"), ("grid", "rayleigh")])
def test_a_few_steps_lower_the_loss(tiny_hits, tiny_recipe, loss_modes, decay_law):
    """Hearing every grid bin, or the folded runtime recipe the model will ship (models.fold_modes); decays free
    or by the material's learnt damping law (RecipeConfig.decay_law)."""
    train, _ = tiny_hits
    torch.manual_seed(0)
    net = build_generator({**tiny_recipe, "decay_law": decay_law})
    objective = GeneratorObjective(train, net.config, 0.2, 0.3, loss_modes=loss_modes)
    index = torch.arange(min(16, len(train)))
    seeds = index % 8
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.eval()  # no dropout: the same loss function before and after
    before = objective(net, index, seeds)[0].item()
    for _ in range(30):
        loss, _ = objective(net, index, seeds)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = objective(net, index, seeds)[0].item()
    assert after < 0.9 * before, (before, after)


def objectives_apart_in(name: str, low: float, high: float, tiny_hits, tiny_recipe):
    """One untrained net (dry: the terms below are recomputed without a room), 8 training hits, and two objectives
    that differ only in the weight `name`."""
    torch.manual_seed(0)
    net = build_generator({**tiny_recipe, "room": False}).eval()
    make = lambda w: GeneratorObjective(tiny_hits[0], net.config, 0.0, 0.0, **{name: w})  # noqa: E731
    return net, torch.arange(8), make(low), make(high)


def test_the_mel_weight_scales_the_log_mel_term(tiny_hits, tiny_recipe):
    """The same net, hits and noise: the spectral loss grows by exactly (w - 1) * 0.1 * (log-mel L1)."""
    net, index, one, five = objectives_apart_in("mel_weight", 1.0, 5.0, tiny_hits, tiny_recipe)
    with torch.no_grad():
        _, audio = one.render(net, index, index)
        mel = one.spectral.mel
        mel_l1 = (mel(rms_normalise(audio)) - mel(rms_normalise(one.targets[index]))).abs().mean()
    gap = five(net, index, index)[1]["spectral"] - one(net, index, index)[1]["spectral"]
    assert mel_l1 > 0
    assert gap == pytest.approx(4 * 0.1 * mel_l1.item(), rel=1e-4)


@pytest.mark.parametrize(("weight", "part"), [("band_decay_weight", "band_decay"), ("mel_stats_weight", "mel_stats")])
def test_a_loss_term_joins_the_loss_at_its_weight(weight, part, tiny_hits, tiny_recipe):
    net, index, off, on = objectives_apart_in(weight, 0.0, 2.0, tiny_hits, tiny_recipe)
    with torch.no_grad():
        (loss_off, parts), (loss_on, _) = off(net, index, index), on(net, index, index)
    assert parts[part] > 0
    assert (loss_on - loss_off).item() == pytest.approx(2.0 * parts[part], rel=1e-4)
    with pytest.raises(ValueError, match=weight):
        GeneratorTrainConfig(**{weight: -1.0})


def test_onnx_matches_torch(tiny_generator, tiny_hits):
    folder, runtime = tiny_generator
    net = load_generator(folder / "generator.pt")
    features, geometry = tiny_hits[1].features[:8], tiny_hits[1].geometry[:8]
    with torch.no_grad():
        expected = [t.numpy() for t in RuntimeRecipe(net)(torch.tensor(features), torch.tensor(geometry))]
    got = OnnxRecipeModel.load(runtime).run(features, geometry)
    for name, e, g in zip(("freq", "decay", "gain", "noise", "material"), expected, got):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-6 * np.abs(e).max(), err_msg=name)


def test_segments_beyond_the_worlds_sizes_sound_like_the_largest_it_knows(tiny_generator, tiny_hits):
    """A 50 m segment (an unsplit imported capture) is read as a 5 m one, in the exported ONNX model as in
    torch, while sizes within the range still change the recipe."""
    folder, runtime = tiny_generator
    model, net = OnnxRecipeModel.load(runtime), load_generator(folder / "generator.pt")
    features = np.repeat(tiny_hits[1].features[:1], 3, axis=0)
    geometry = np.repeat(tiny_hits[1].geometry[:1], 3, axis=0)
    geometry[:, :EXTENT_DIMS] = np.array([[np.log(50.0)], [GEOMETRY_LN_RANGE[1]], [np.log(0.5)]], np.float32)
    freq, _, gain, _, _ = model.run(features, geometry)
    np.testing.assert_array_equal(freq[0], freq[1])
    np.testing.assert_array_equal(gain[0], gain[1])
    assert not np.allclose(freq[1], freq[2]) or not np.allclose(gain[1], gain[2])
    with torch.no_grad():
        torch_freq = RuntimeRecipe(net)(torch.tensor(features), torch.tensor(geometry))[0].numpy()
    np.testing.assert_allclose(freq, torch_freq, rtol=1e-4)


def test_export_can_ship_a_cheaper_or_richer_recipe(tiny_generator, tiny_encoders, tiny_hits, tmp_path):
    """The same network exported with other modes_out / fold_bands, in a real process: the ONNX recipe has that many
    modes and matches the torch RuntimeRecipe of that config; a bad value is refused by name, writing nothing."""
    folder, _ = tiny_generator
    run = lambda *a: subprocess.run([sys.executable, "-m", "vaf", "export", "generator", str(folder / "generator.pt"),  # noqa: E731
                                     "--encoders", str(tiny_encoders.path), *a], capture_output=True, text=True, timeout=300)
    r = run("--out", str(tmp_path / "lean"), "--modes-out", "5", "--fold-bands", "0")
    assert r.returncode == 0, r.stderr
    manifest = json.loads((tmp_path / "lean" / "generator.json").read_text())
    assert manifest["modes"] == 5 and manifest["fold_bands"] == 0 and "--modes-out 5" in manifest["source"]["command"]
    features, geometry = tiny_hits[1].features[:4], tiny_hits[1].geometry[:4]
    freq, _, gain, _, _ = OnnxRecipeModel.load(tmp_path / "lean").run(features, geometry)
    net = load_generator(folder / "generator.pt")
    net.config.modes_out, net.config.fold_bands = 5, 0
    with torch.no_grad():
        expected = RuntimeRecipe(net)(torch.tensor(features), torch.tensor(geometry))
    assert freq.shape == (4, 5)
    np.testing.assert_allclose(gain, expected[2].numpy(), rtol=1e-4)
    r = run("--out", str(tmp_path / "bad"), "--fold-bands", "8")
    assert r.returncode == 2 and "fold_bands" in r.stderr
    assert not (tmp_path / "bad").exists()


def test_training_resumes_and_refuses_another_config(tiny_dataset, tiny_encoders, tiny_hits, tiny_recipe, tmp_path):
    train, test = tiny_hits
    one = GeneratorTrainConfig(epochs=1, batch=8, views=4, model=dict(tiny_recipe))
    train_generator(tiny_dataset, tmp_path, one, tiny_encoders.path, progress=False, train=train, test=test)
    first = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    two = GeneratorTrainConfig(epochs=1, batch=8, views=4, lr=1e-3, model={**tiny_recipe, "hidden": 48})
    with pytest.raises(ValueError, match="another config") as refused:
        train_generator(tiny_dataset, tmp_path, two, tiny_encoders.path, progress=False, train=train, test=test)
    # the error names each changed field, nested ones dotted, so the user can pass the options it was trained with
    assert f"lr: {one.lr!r} -> 0.001" in str(refused.value)
    assert f"model.hidden: {tiny_recipe['hidden']} -> 48" in str(refused.value)
    # a checkpoint from before an option existed: the option shows as absent then
    older = {**first, "config": {k: v for k, v in first["config"].items() if k != "mel_stats_weight"}}
    torch.save(older, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"mel_stats_weight: absent -> 0\.0"):
        train_generator(tiny_dataset, tmp_path, one, tiny_encoders.path, progress=False, train=train, test=test)
    torch.save(first, tmp_path / "checkpoint.pt")
    # refused before any data is read: a dataset that is not there is only named as the change
    with pytest.raises(ValueError, match=r"datasets: .* -> .*nowhere"):
        train_generator(tmp_path / "nowhere", tmp_path, one, tiny_encoders.path, progress=False)
    report = train_generator(tiny_dataset, tmp_path, one, tiny_encoders.path, progress=False, train=train, test=test)
    assert report["history"] == first["history"]  # finished: nothing re-run


def test_a_training_stopped_with_ctrl_c_says_how_to_resume(tiny_dataset, tiny_encoders, tmp_path, start_interruptible):
    out, log = tmp_path / "model", tmp_path / "stderr.txt"
    with open(log, "w") as err:
        train = start_interruptible("train", "generator", "--dataset", str(tiny_dataset), "--out", str(out),
                                    "--encoders", str(tiny_encoders.path), "--epochs", "1000", "--batch", "8",
                                    "--views", "4", "--cache", str(tmp_path / "cache"), "--threads", "1", stderr=err)
        deadline = time.monotonic() + 300
        while not (out / "checkpoint.pt").exists():  # an epoch is done
            assert train.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        train.send_signal(signal.SIGINT)
        train.wait(120)
    said = log.read_text()
    assert train.returncode == 130, said
    assert said.rstrip().endswith(f"vaf train generator: stopped; the same command resumes from {out / 'checkpoint.pt'}")
    assert "Traceback" not in said
    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] >= 1


def test_train_and_eval_generator_cli(tiny_dataset, tiny_encoders, tmp_path):
    out = tmp_path / "model"
    run = lambda *a: subprocess.run([sys.executable, "-m", "vaf", *a], capture_output=True, text=True, timeout=600)  # noqa: E731
    r = run("train", "generator", "--dataset", str(tiny_dataset), "--out", str(out), "--encoders", str(tiny_encoders.path),
            "--epochs", "1", "--batch", "8", "--views", "4", "--cache", str(tmp_path / "cache"), "--threads", "1")
    assert r.returncode == 0, r.stderr
    assert "vaf train generator: 1 torch threads" in r.stderr  # the run says what it takes of the machine
    manifest = json.loads((out / "runtime" / "generator.json").read_text())
    assert manifest["encoders"] == tiny_encoders.fingerprint and "vaf train generator" in manifest["source"]["command"]
    assert manifest["modes"] == 40 and manifest["fold_bands"] == 8  # the defaults
    # models are checked before any hit is read: a dataset that is not there is never reached
    other = tmp_path / "other_encoders_model"
    shutil.copytree(out / "runtime", other)
    (other / "generator.json").write_text(json.dumps({**manifest, "encoders": "0123456789abcdef"}))
    nowhere = str(tmp_path / "no_dataset")
    for flags, named in ((["--compare", str(tmp_path / "no_model")], "no_model"),
                         (["--compare", str(other)], "0123456789abcdef"),
                         (["--local", str(tmp_path / "no_local.pt")], "--local"),
                         (["--listen", str(out)], "--listen")):  # a folder with files in it
        r = run("eval", "generator", "--dataset", nowhere, "--model", str(out), "--encoders", str(tiny_encoders.path), *flags)
        assert r.returncode == 2 and named in r.stderr and "no_dataset" not in r.stderr, r.stderr
    results = tmp_path / "results.md"
    results.write_text("# kept\n")
    r = run("eval", "generator", "--dataset", str(tiny_dataset), "--model", str(out), "--encoders", str(tiny_encoders.path),
            "--views", "4", "--cache", str(tmp_path / "cache"), "--results", str(results))
    assert r.returncode == 0, r.stderr
    text = results.read_text()
    assert text.startswith("# kept\n")  # appended, nothing lost
    for row in ("real-time (ONNX, shipped path)", "nearest-neighbour retrieval", "physics ground truth"):
        assert row in text
    r = run("train", "generator", "--dataset", nowhere, "--out", str(tmp_path / "unused"), "--threads", "0")
    assert r.returncode == 2 and "--threads: must be >= 1" in r.stderr, r.stderr
    # a second training into the same folder does not overwrite the exported model
    r = run("train", "generator", "--dataset", str(tiny_dataset), "--out", str(out), "--encoders", str(tiny_encoders.path),
            "--epochs", "1", "--batch", "8", "--views", "4", "--cache", str(tmp_path / "cache"))
    assert r.returncode == 2 and "nothing was overwritten" in r.stderr


def test_config_round_trips_through_the_checkpoint(tiny_generator, tiny_recipe):
    folder, _ = tiny_generator
    net = load_generator(folder / "generator.pt")
    assert asdict(net.config) == asdict(RecipeConfig(**tiny_recipe))


def test_training_pools_datasets_keeping_their_scenes_apart(tiny_dataset, tiny_encoders, tiny_hits, tiny_recipe, tmp_path):
    extra = tmp_path / "extra"  # the same scenes under another folder, all for training
    shutil.copytree(tiny_dataset, extra)
    manifest = json.loads((extra / "dataset.json").read_text())
    manifest["split"] = {"train": manifest["scenes"], "test": []}
    (extra / "dataset.json").write_text(json.dumps(manifest))
    train, test = tiny_hits
    cache = tmp_path / "cache"
    more = load_hits(extra, "train", tiny_encoders.path, views=4, cache=cache, workers=1, progress=False)
    pooled = load_hits([tiny_dataset, extra], "train", tiny_encoders.path, views=4, cache=cache, workers=1, progress=False)
    assert len(pooled) == len(train) + len(more)
    assert len(set(pooled.scene)) == len(set(train.scene)) + len(set(more.scene))  # same folder names, different scenes
    pooled_test = load_hits([tiny_dataset, extra], "test", tiny_encoders.path, views=4, cache=cache, workers=1, progress=False)
    assert len(pooled_test) == len(test)  # the training-only dataset adds no held-out hits
    config = GeneratorTrainConfig(epochs=1, batch=8, views=4, model=dict(tiny_recipe))
    run = tmp_path / "run"
    report = train_generator([tiny_dataset, extra], run, config, tiny_encoders.path, cache=cache, progress=False)
    assert report["train_hits"] == len(pooled) and report["test_hits"] == len(test)
    with pytest.raises(ValueError, match="another config"):  # the same run folder on other data does not resume
        train_generator(tiny_dataset, run, config, tiny_encoders.path, cache=cache, progress=False)
    r = subprocess.run([sys.executable, "-m", "vaf", "train", "generator", "--dataset", str(tiny_dataset), "--dataset",
                        str(extra), "--out", str(tmp_path / "cli"), "--encoders", str(tiny_encoders.path), "--epochs", "1",
                        "--batch", "8", "--views", "4", "--cache", str(cache)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "cli" / "training.json").read_text())["train_hits"] == len(pooled)
