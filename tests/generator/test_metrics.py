"""The evaluation's metrics on signals whose answers are known."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vaf.training.eval import generator as ev

RATE = 24000


def _tone(freq, decay, seconds=0.5, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * np.exp(-decay * t)).astype(np.float32)


@pytest.mark.parametrize("freq", [110.0, 440.0, 1234.5, 5000.0])
def test_dominant_frequency_within_five_cents(freq):
    x = _tone(freq, 6.0) + 0.3 * _tone(freq * 2.7, 6.0)
    assert abs(1200 * np.log2(ev.dominant_hz(x, RATE) / freq)) < 5


@pytest.mark.parametrize("decay", [14.0, 40.0, 120.0])
def test_t60_of_an_exponential_decay(decay):
    # energy falls as exp(-2 d t): 60 dB after ln(1000) / d seconds
    assert ev.t60(_tone(700.0, decay), RATE) == pytest.approx(np.log(1000) / decay, rel=0.05)


def test_identical_clips_score_perfectly_and_different_ones_do_not():
    a, b = _tone(440, 10), _tone(3000, 60)
    pa, pb = ev.mel_power(np.stack([a, b]), RATE)
    ua, ub = ev.unit_db(pa), ev.unit_db(pb)
    assert ev.ssim(ua, ua) == pytest.approx(1.0) and ev.ssim(ua, ub) < 0.8
    assert ev.psnr(ua, ua) > 100 and ev.psnr(ua, ub) < 20
    assert ev.paired_kl(pa, pa) == pytest.approx(0.0, abs=1e-9) and ev.paired_kl(pa, pb) > 0.5


def test_frechet_distance_is_zero_for_the_same_set_and_grows_with_a_shift():
    x = np.random.default_rng(0).normal(size=(400, 8))
    assert ev.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    assert ev.frechet_distance(x, x + 1.0) == pytest.approx(8.0, rel=0.01)  # |mean shift|^2


@pytest.mark.parametrize("hidden", [0, ev.MLP_JUDGE_HIDDEN])
def test_material_classifier_learns_separable_materials(hidden):
    rng = np.random.default_rng(0)
    tones = lambda low, high, decay: [(rng.uniform(low, high), decay) for _ in range(20)]  # noqa: E731
    clips = np.stack([ev.finish_clip(_tone(f, d), RATE) for f, d in tones(200, 400, 60) + tones(2000, 4000, 5)])
    labels = np.array(["wood"] * 20 + ["steel"] * 20)
    judge = ev.MaterialClassifier(clips, labels, RATE, hidden=hidden, steps=200)
    assert judge.accuracy(clips, labels) == 1.0
    unseen = np.stack([ev.finish_clip(_tone(f, d), RATE) for f, d in tones(250, 350, 60) + tones(2500, 3500, 5)])
    assert judge.accuracy(unseen, labels) == 1.0
    assert judge.accuracy(unseen, labels[::-1]) == 0.0  # it names materials, not the order of the clips


def test_the_same_subpart_oracle_never_returns_the_hit_itself(tiny_hits):
    from vaf.training.eval.generator import same_subpart_clips

    _, test = tiny_hits
    clips = same_subpart_clips(test).audio
    assert clips.shape == test.targets.shape
    for i in range(len(test)):
        j = [k for k in range(len(test)) if np.array_equal(test.targets[k], clips[i])]
        assert i not in j and test.scene[j[0]] == test.scene[i]


@pytest.mark.parametrize("decay", [4.0, 15.0, 60.0])
def test_decay_curve_falls_at_the_rate_of_the_ring(decay):
    """A ring of amplitude exp(-k t) leaves energy exp(-2 k t): its decay curve falls 20 k log10(e) dB/s
    (T60 = 6.91 / k), the law the T60 metric reads."""
    import torch

    from vaf.training.generator.losses import decay_curve_db

    clip = torch.tensor(_tone(440.0, decay, seconds=2.0))[None]
    curve = decay_curve_db(clip, hop=64)[0].numpy()
    times = np.arange(curve.size) * 64 / RATE
    sel = (curve < -3) & (curve > -40)
    slope = np.polyfit(times[sel], curve[sel], 1)[0]
    assert slope == pytest.approx(-20 * decay * np.log10(np.e), rel=0.03)
    assert curve.min() >= -60.0 - 1e-3  # floored


def test_decay_loss_hears_decay_not_level_or_pitch():
    import torch

    from vaf.training.generator.losses import decay_loss

    ring = torch.tensor(_tone(440.0, 8.0))[None]
    assert decay_loss(ring, ring).item() == pytest.approx(0.0, abs=1e-6)
    assert decay_loss(3.0 * ring, ring).item() == pytest.approx(0.0, abs=1e-5)
    other_pitch = decay_loss(torch.tensor(_tone(1234.0, 8.0))[None], ring).item()
    other_decay = decay_loss(torch.tensor(_tone(440.0, 40.0))[None], ring).item()
    assert other_pitch < 0.01 < 0.1 < other_decay


def test_band_decay_loss_judges_each_octave_the_recording_rings_in():
    """A loud low ring plus a quiet 1.5 kHz one: damping the quiet ring 10x barely moves the whole clip's
    decay curve and moves its octave's; a ring the recording has no energy near is not judged by this term."""
    import torch

    from vaf.training.generator.losses import band_decay_loss, decay_loss

    low = _tone(300.0, 6.0)
    recorded = torch.tensor(low + 0.05 * _tone(1500.0, 8.0))[None]
    damped = torch.tensor(low + 0.05 * _tone(1500.0, 80.0))[None]
    assert band_decay_loss(recorded, recorded, RATE).item() == pytest.approx(0.0, abs=1e-6)
    judged = band_decay_loss(damped, recorded, RATE).item()
    assert judged > 0.05 and decay_loss(damped, recorded).item() < 0.02
    extra = torch.tensor(low + 0.05 * _tone(1500.0, 80.0) + 0.05 * _tone(9000.0, 3.0))[None]  # nothing above 8 kHz recorded
    assert band_decay_loss(extra, recorded, RATE).item() == pytest.approx(judged, rel=0.02)  # its onset leaks a little
    assert band_decay_loss(extra, recorded, RATE, edges_hz=(8000.0,), min_share=0.0).item() > judged  # were it judged, it would count


def test_mel_statistics_loss_hears_level_and_spectrum_not_when():
    """Louder by a factor g: each band's mean and max log power rise by 2 ln g and its spread stays, so the
    loss is exactly (2 + 0 + 2) ln g / 3; the clip played backwards keeps its statistics (nearly: the frame
    grid moves by a sample); a brighter ring does not."""
    import torch

    from vaf.training.encoders.logmel import LogMel
    from vaf.training.generator.losses import mel_statistics_loss

    mel = LogMel(RATE)
    hiss = 0.05 * np.random.default_rng(0).standard_normal(RATE // 2).astype(np.float32)  # every band well above the log floor
    ring = torch.tensor(_tone(440.0, 8.0) + 0.2 * _tone(2600.0, 12.0) + hiss)[None]
    assert mel_statistics_loss(ring, ring, mel).item() == pytest.approx(0.0, abs=1e-6)
    assert mel_statistics_loss(3.0 * ring, ring, mel).item() == pytest.approx(4 * np.log(3.0) / 3, rel=1e-3)
    backwards = ring.flip(-1)  # the same frames in the opposite order: frame by frame, nothing alike
    bright = torch.tensor(_tone(440.0, 8.0) + 0.2 * _tone(7000.0, 12.0) + hiss)[None]
    assert mel_statistics_loss(backwards, ring, mel).item() < 0.01 < 0.1 < mel_statistics_loss(bright, ring, mel).item()


def test_the_evaluation_scores_every_method_with_both_judges(tiny_hits, tiny_generator, tiny_encoders, tiny_dataset,
                                                            tmp_path):
    """`vaf eval generator`'s whole path on the tiny world: a trained model, retrieval, physics and the oracle
    scored on the held-out hits; the table has a row per method and a column per judge; the listening set holds
    what was scored."""
    train, test = tiny_hits
    listen = tmp_path / "listen"
    louder = ev.Clips("the recordings themselves, 6 dB up", test.targets, 2 * test.level)
    report = ev.evaluate_generator(tiny_dataset, tiny_generator[1], train, test, tiny_encoders, {"louder": louder},
                                   progress=False, listen=listen, listen_hits=5, views=4)
    assert report["hits"] == len(test) and 0 < report["recordings_material_acc_mlp"] <= 1
    # the same clips louder embed alike, so they are localised exactly as often as the recordings
    assert 0 < report["recordings_localised"] <= 1 and report["methods"][louder.name]["localised"] == report["recordings_localised"]
    methods = report["methods"]
    assert any(name.startswith("nearest-neighbour") for name in methods) and len(methods) >= 4
    for name, m in methods.items():
        assert all(np.isfinite(m[k]) for k in ("ssim", "psnr_db", "kl", "fad_own", "cents_median")), name
        assert 0 <= m["material_acc"] <= 1 and 0 <= m["material_acc_mlp"] <= 1 and 0 <= m["localised"] <= 1, name
    physics = next(m for name, m in methods.items() if name.startswith("physics ground truth, dry"))
    retrieval = next(m for name, m in methods.items() if name.startswith("nearest-neighbour"))
    assert physics["cents_median"] < retrieval["cents_median"]  # the exact modes find the pitch; another hit's clip does not
    assert retrieval["fad_own"] < physics["fad_own"]  # retrieval returns real recordings
    # loudness: each method's level for the hit's contact against the recording's, before the normalisation
    assert methods[louder.name]["ssim"] == pytest.approx(1.0) and methods[louder.name]["level_db_median"] == pytest.approx(20 * np.log10(2))
    assert all(np.isfinite(m["level_db_median"]) for m in methods.values())
    assert physics["level_db_median"] < 3.0  # the world's own recipe at the hit's contact, heard without the room
    table = ev.results_table(report, "vaf eval generator --dataset tiny")
    assert "material acc., MLP judge" in table and "localised (top 3)" in table and table.count("\n| ") == len(methods) + 1
    # per part kind: the rows partition the hits, and the pooled row is the headline median
    by_kind = ev.pitch_by_kind_table(report, min_hits=2)
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in by_kind.splitlines()[2:]]
    assert sum(int(r[1]) for r in rows[:-1]) == len(test) and rows[-1][:2] == ["all", str(len(test))]
    assert [float(c) for c in rows[-1][2:]] == [round(m["cents_median"]) for m in methods.values()]
    _check_listening_set(listen, report, test, 5)


def _check_listening_set(folder, report, test, count):
    """Each hit's folder: the recording, then every scored method in the table's order, at one gain whose loudest
    clip peaks at -1 dBFS; index.md gives each clip's per-hit scores."""
    from vaf.runtime.wav import read_wav
    from vaf.training.eval.listening import PEAK

    methods = list(report["methods"])
    hits = sorted(p for p in folder.iterdir() if p.is_dir())
    assert len(hits) == min(count, len(test))
    index = (folder / "index.md").read_text()
    for hit in hits:
        wavs = sorted(hit.glob("*.wav"))
        assert [w.name[:2] for w in wavs] == [f"{k:02d}" for k in range(len(methods) + 1)]
        assert wavs[0].name == "00_recording.wav" and hit.name in index
        heard = [read_wav(w) for w in wavs]
        assert all(rate == test.sample_rate for _, rate in heard)
        assert max(float(np.abs(a).max()) for a, _ in heard) == pytest.approx(PEAK, abs=1e-3)
        # the recording is one of the held-out targets, scaled: it names which hit this folder is
        recording = heard[0][0]
        match = [i for i, t in enumerate(test.targets) if np.corrcoef(t, recording)[0, 1] > 0.999]
        assert len(match) == 1 and str(test.kind[match[0]]) in index
        for name, m in report["methods"].items():
            assert f"| {name} | {m['per_hit']['cents'][match[0]]:.0f} | {m['per_hit']['ssim'][match[0]]:.3f} |" in index
        assert Image.open(hit / "spectrograms.png").height % len(wavs) == 0  # a row a file


def test_the_spectrogram_sheet_puts_a_row_per_clip_and_low_bands_at_the_bottom():
    from vaf.training.eval.listening import spectrogram_sheet

    sheet = np.asarray(Image.open(io.BytesIO(spectrogram_sheet([_tone(200.0, 4.0), _tone(6000.0, 4.0)], RATE))))
    low, high = np.split(sheet.sum(axis=2), 2)  # two rows of equal height
    brightest = lambda row: int(np.argmax(row[:, 40:].sum(axis=1)))  # noqa: E731  (past the label margin)
    assert brightest(low) > 0.7 * len(low) and brightest(high) < 0.5 * len(high)


def test_a_listening_set_takes_the_materials_in_turn_and_never_overwrites(tmp_path):
    from vaf.training.eval.listening import check_listening_folder, pick_hits

    materials = np.array(["wood"] * 20 + ["steel"] * 3 + ["glass"])
    picked = pick_hits(materials, 5)
    assert len(set(picked)) == 5 and set(materials[picked[:3]]) == {"wood", "steel", "glass"}
    assert sorted(pick_hits(materials, 100)) == list(range(len(materials)))  # all of them, once
    assert check_listening_folder(tmp_path / "new") == tmp_path / "new"
    kept = tmp_path / "used" / "notes.txt"
    kept.parent.mkdir()
    kept.write_text("mine")
    with pytest.raises(FileExistsError, match="nothing was overwritten"):
        check_listening_folder(kept.parent)
    assert kept.read_text() == "mine"
