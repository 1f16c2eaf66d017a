"""The capture layout, the seed's preprocessing, recordings, and `vaf world dataset`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.wav import read_wav
from vaf.training.data.capture import Hit, read_colmap, read_hits, write_colmap, write_hits
from vaf.runtime.preprocess import CLIP_SECONDS, TARGET_RMS, crop_or_pad, preprocess, spectral_gate
from vaf.runtime.cameras import orbit
from vaf.training.world.dataset import PARTIAL, DatasetConfig, make_dataset, split_scenes
from vaf.training.world.recording import pink_noise, record

FS = 48000


def impact(seconds: float = 1.0, start: float = 0.2) -> np.ndarray:
    t = np.arange(int(seconds * FS)) / FS
    y = np.zeros_like(t)
    on = t >= start
    y[on] = 0.3 * np.exp(-8 * (t[on] - start)) * np.sin(2 * np.pi * 880 * (t[on] - start))
    return y


def test_preprocess_crops_to_onset_and_normalises():
    rng = np.random.default_rng(0)
    noisy = impact() + 0.003 * rng.normal(size=FS)
    clip = preprocess(noisy, FS)
    assert clip.shape == (int(CLIP_SECONDS * FS),) and clip.dtype == np.float32
    assert np.sqrt(np.mean(clip.astype(np.float64) ** 2)) == pytest.approx(TARGET_RMS, rel=1e-4)
    onset = np.argmax(np.abs(clip) > 0.1 * np.abs(clip).max())
    assert abs(onset - int(0.005 * FS)) < 0.002 * FS  # the onset sits 5 ms into the clip


def test_spectral_gate_removes_noise_keeps_impact():
    rng = np.random.default_rng(1)
    clean = impact()
    noise = 0.003 * rng.normal(size=FS)
    gated = spectral_gate(clean + noise, FS)
    silence = slice(0, int(0.15 * FS))
    body = slice(int(0.2 * FS), int(0.4 * FS))
    before = 10 * np.log10(np.mean(noise[silence] ** 2))
    after = 10 * np.log10(np.mean(gated[silence].astype(np.float64) ** 2) + 1e-20)
    assert after < before - 10
    kept = np.mean(gated[body].astype(np.float64) ** 2) / np.mean(clean[body] ** 2)
    assert 10 * np.log10(kept) == pytest.approx(0.0, abs=1.0)


def test_crop_pads_short_audio_and_rejects_bad_audio():
    short = impact(0.3, 0.0)
    assert crop_or_pad(short, FS).shape == (FS // 2,)
    with pytest.raises(ValueError, match="NaN"):
        spectral_gate(np.array([0.0, np.nan, 1.0] * 1000), FS)
    with pytest.raises(ValueError, match="silent"):
        preprocess(np.zeros(FS), FS)


def test_recording_adds_noise_at_the_requested_snr():
    rng = np.random.default_rng(3)
    dry = impact(1.0, 0.0)
    wet = record(dry, FS, rng, rt60=None, snr_db=20.0)
    noise = wet - dry
    snr = 10 * np.log10(np.mean(dry[: FS // 2] ** 2) / np.mean(noise**2))
    assert snr == pytest.approx(20.0, abs=0.2)
    spectrum = np.abs(np.fft.rfft(pink_noise(FS, rng))) ** 2
    low, high = spectrum[100:200].mean(), spectrum[10000:20000].mean()
    assert low > 20 * high  # 1/f: far more power at low frequencies


def test_colmap_and_hits_round_trip(tmp_path):
    cams = {f"v{i}.png": c for i, c in enumerate(orbit(np.zeros(3), 2.0, (0.5, 1.0), 4, 55.0, 96, np.random.default_rng(4)))}
    write_colmap(tmp_path, cams)
    back = read_colmap(tmp_path)
    assert list(back) == list(cams)
    for name, cam in cams.items():
        np.testing.assert_allclose(back[name].rotation, cam.rotation, atol=1e-12)
        np.testing.assert_allclose(back[name].translation, cam.translation, atol=1e-12)
        assert (back[name].fx, back[name].width) == (cam.fx, cam.width)
    hits = [Hit("v0.png", [1.5, 2.5], [0.0, 1.0, 2.0], [0.0, 1.0, 0.0], 0.02, 1.0, "wood", "audio/h.wav", 1, 2, 3, "steel"),
            Hit("v1.png", [3.5, 4.5], [1.0, 1.0, 2.0], [1.0, 0.0, 0.0], 0.05, 2.0, "rubber", "audio/i.wav")]
    write_hits(tmp_path / "hits.jsonl", hits)
    assert read_hits(tmp_path / "hits.jsonl") == hits
    (tmp_path / "bad.jsonl").write_text('{"image": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        read_hits(tmp_path / "bad.jsonl")


def test_split_is_by_scene_four_to_one():
    split = split_scenes([f"s{i}" for i in range(10)], 0.2, np.random.default_rng(0))
    assert len(split["train"]) == 8 and len(split["test"]) == 2 and not set(split["train"]) & set(split["test"])
    extra = split_scenes([f"s{i}" for i in range(10)], 0.0, np.random.default_rng(0))
    assert len(extra["train"]) == 10 and extra["test"] == []
    with pytest.raises(ValueError, match="test_fraction"):
        DatasetConfig(scenes=2, hits_per_scene=1, test_fraction=1.0)


def test_dataset_cli(tmp_path):
    out = tmp_path / "ds"
    cmd = [sys.executable, "-m", "vaf", "world", "dataset", "--scenes", "5", "--hits-per-scene", "6", "--seed", "2",
           "--views", "3", "--image-size", "48", "--gaussians", "4000", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "dataset.json").read_text())
    assert len(manifest["split"]["train"]) == 4 and len(manifest["split"]["test"]) == 1
    scene = out / manifest["scenes"][0]
    hits = read_hits(scene / "hits.jsonl")
    cams = read_colmap(scene)
    bundle = SceneBundle.load(scene / "bundle")
    ids = {s.id: s for s in bundle.segments}
    assert len(hits) == 6
    for hit in hits:
        uv, _ = cams[hit.image].project(np.array([hit.point]))
        np.testing.assert_allclose(uv[0], hit.pixel, atol=1e-3)  # the hit is where its pixel says
        labels = np.load(scene / "labels" / f"{hit.image[:-4]}.npy")
        x, y = int(hit.pixel[0]), int(hit.pixel[1])
        assert labels[y, x].tolist() == [hit.subpart, hit.part, hit.object]
        assert ids[hit.subpart].material == hit.material and ids[hit.subpart].parent == hit.part
        pcm, rate = read_wav(scene / hit.wav)
        assert rate == 48000 and pcm.size == 48000 and np.abs(pcm).max() > 0
    assert Image.open(scene / "images" / hits[0].image).size == (48, 48)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "not empty" in again.stderr


SMALL = dict(scenes=4, hits_per_scene=4, seed=3, views=2, image_size=48, gaussians=3000, acoustic_points=1500)
MAKER = f"""
import sys
from vaf.training.world.dataset import DatasetConfig, make_dataset
make_dataset(sys.argv[1], DatasetConfig(**{SMALL!r}), progress=False)
"""


def test_a_killed_dataset_run_resumes_to_the_same_files(tmp_path):
    whole = tmp_path / "whole"
    make_dataset(whole, DatasetConfig(**SMALL), progress=False)
    out = tmp_path / "stopped"
    maker = subprocess.Popen([sys.executable, "-c", MAKER, str(out)])
    while not (out / "scene_0001" / "hits.jsonl").exists():
        assert maker.poll() is None, "the run ended before it could be killed"
        time.sleep(0.005)
    maker.kill()
    maker.wait(30)
    assert (out / PARTIAL).exists() and not (out / "dataset.json").exists()
    with pytest.raises(ValueError, match=r"another config \(hits_per_scene: 4 -> 5\)"):
        make_dataset(out, DatasetConfig(**{**SMALL, "hits_per_scene": 5}), progress=False)
    make_dataset(out, DatasetConfig(**SMALL), progress=False)

    def files(root):
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(out) == files(whole)  # scenes kept, the one cut short made again, the rest made: the same bytes
    with pytest.raises(FileExistsError, match="not empty"):  # a finished dataset is never touched again
        make_dataset(out, DatasetConfig(**SMALL), progress=False)


def test_a_dataset_run_stopped_with_ctrl_c_says_it_resumes(tmp_path, start_interruptible):
    out = tmp_path / "data"
    run = start_interruptible("world", "dataset", "--scenes", "40", "--hits-per-scene", "2", "--views", "2",
                              "--image-size", "48", "--gaussians", "3000", "--out", str(out),
                              stderr=subprocess.PIPE, text=True)
    while not (out / "scene_0000" / "hits.jsonl").exists():
        assert run.poll() is None, run.stderr.read()
        time.sleep(0.01)
    run.send_signal(signal.SIGINT)
    _, said = run.communicate(timeout=60)
    assert run.returncode == 130, said
    assert said.rstrip().endswith("vaf world dataset: stopped; the same command resumes after the scenes it made")
    assert "Traceback" not in said
