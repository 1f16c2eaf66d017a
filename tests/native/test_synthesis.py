"""The native impact synthesizer against its numpy reference and against physics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vaf.runtime.synthesis import (
    Excitation,
    ImpactRecipe,
    contact_duration,
    contact_spectrum,
    reference_contact_duration,
    render,
    render_batch,
    render_reference,
    voice,
)

FS = 48000
HARD = Excitation.from_materials(0.002, 5.0, striker="steel", target="steel", striker_radius=0.005)


def recipe_strategy(max_modes: int = 64):
    @st.composite
    def build(draw):
        k = draw(st.integers(0, max_modes))
        floats = lambda lo, hi: st.lists(st.floats(lo, hi, width=32), min_size=k, max_size=k)  # noqa: E731
        noisy = draw(st.booleans())
        return ImpactRecipe(
            np.array(draw(floats(20.0, 30000.0)), np.float32),
            np.array(draw(floats(0.0, 200.0)), np.float32),
            np.array(draw(floats(-2.0, 2.0)), np.float32),
            noise_center_hz=draw(st.floats(100.0, 20000.0)),
            noise_bandwidth_hz=draw(st.floats(50.0, 8000.0)),
            noise_level=draw(st.floats(0.0, 0.5)) if noisy else 0.0,
            noise_decay_per_s=draw(st.floats(50.0, 2000.0)),
        )

    return build()


excitations = st.builds(
    Excitation.from_materials,
    impulse=st.floats(1e-4, 5.0),
    speed=st.floats(0.05, 20.0),
    striker=st.sampled_from(["rubber", "wood", "steel", "plastic"]),
    target=st.sampled_from(["wood", "steel", "glass", "cardboard"]),
    striker_radius=st.floats(0.002, 0.2),
)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-3))


@settings(max_examples=60, deadline=None)
@given(
    recipe=recipe_strategy(),
    excitation=excitations,
    sample_rate=st.sampled_from([8000, 22050, 44100, 48000, 96000, 192000]),
    frames=st.integers(0, 6000),
    seed=st.integers(0, 2**64 - 1),
    detune=st.floats(0.0, 0.1),
)
def test_native_matches_reference(recipe, excitation, sample_rate, frames, seed, detune):
    native = render(recipe, excitation, sample_rate, frames, seed=seed, detune=detune)
    reference = render_reference(recipe, excitation, sample_rate, frames, seed=seed, detune=detune)
    assert native.dtype == np.float32 and native.shape == (frames,)
    if frames:
        assert relative_error(native, reference) <= 1e-5


@settings(max_examples=40, deadline=None)
@given(
    recipe=recipe_strategy(32),
    excitation=excitations,
    chunks=st.lists(st.integers(1, 700), min_size=1, max_size=20),
    seed=st.integers(0, 2**32),
)
def test_chunked_render_is_bit_identical(recipe, excitation, chunks, seed):
    total = sum(chunks)
    whole = render(recipe, excitation, FS, total, seed=seed, detune=0.02)
    v = voice(recipe, excitation, FS, seed=seed, detune=0.02)
    parts = [v.render(n) for n in chunks]
    assert v.position == total
    assert np.array_equal(np.concatenate(parts), whole)


def test_single_mode_peak_and_decay():
    f, decay = 1234.5, 6.0
    recipe = ImpactRecipe(np.array([f], np.float32), np.array([decay], np.float32), np.array([0.5], np.float32))
    frames = FS
    y = render(recipe, HARD, FS, frames).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(frames)))
    bin_hz = FS / frames
    assert abs(np.argmax(spectrum) * bin_hz - f) <= bin_hz
    # Decay measured on the waveform: log of the peak amplitude per 10 ms window.
    window = FS // 100
    peaks = np.abs(y[: frames - frames % window]).reshape(-1, window).max(axis=1)
    t = (np.arange(peaks.size) + 0.5) * window / FS
    slope = np.polyfit(t[2:], np.log(peaks[2:]), 1)[0]
    assert slope == pytest.approx(-decay, rel=0.03)


def test_modes_above_nyquist_are_dropped():
    recipe = ImpactRecipe(np.array([5000.0, 9000.0], np.float32), np.ones(2, np.float32), np.ones(2, np.float32))
    y = render(recipe, HARD, 16000, 8000).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(y))
    freqs = np.fft.rfftfreq(8000, 1 / 16000)
    assert spectrum[np.argmin(np.abs(freqs - 5000))] > 100 * spectrum[freqs > 6000].max()
    above = ImpactRecipe(np.array([9000.0], np.float32), np.ones(1, np.float32), np.ones(1, np.float32))
    assert not np.any(render(above, HARD, 16000, 8000))


def _rms_db(y: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))


def test_doubling_impulse_follows_documented_law():
    rng = np.random.default_rng(1)
    recipe = ImpactRecipe(
        rng.uniform(200, 4000, 16).astype(np.float32), rng.uniform(5, 40, 16).astype(np.float32), np.full(16, 0.05, np.float32)
    )
    # A very short contact: H(f tau) ~ 1 for every mode, so level follows impulse alone (+6.02 dB).
    soft = render(recipe, HARD, FS, FS // 2)
    loud = render(recipe, Excitation(**{**HARD.__dict__, "impulse": 2 * HARD.impulse}), FS, FS // 2)
    assert _rms_db(loud) - _rms_db(soft) == pytest.approx(20 * np.log10(2), abs=0.05)
    # A single mode under a long contact: amplitude ratio = 2 * H(f tau2) / H(f tau1).
    one = ImpactRecipe(np.array([3000.0], np.float32), np.array([10.0], np.float32), np.array([0.1], np.float32))
    e1 = Excitation.from_materials(0.05, 1.0, "rubber", "wood")
    e2 = Excitation.from_materials(0.10, 1.0, "rubber", "wood")
    ratio = np.abs(render(one, e2, FS, FS // 4)).max() / np.abs(render(one, e1, FS, FS // 4)).max()
    law = 2 * contact_spectrum(3000 * contact_duration(e2)) / contact_spectrum(3000 * contact_duration(e1))
    assert ratio == pytest.approx(float(law), rel=0.01)


def _centroid(y: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(y.astype(np.float64)))
    freqs = np.fft.rfftfreq(y.size, 1 / FS)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_harder_striker_is_brighter():
    rng = np.random.default_rng(2)
    recipe = ImpactRecipe(
        np.geomspace(150, 12000, 32).astype(np.float32), rng.uniform(10, 30, 32).astype(np.float32), np.full(32, 0.05, np.float32)
    )
    centroids = [
        _centroid(render(recipe, Excitation.from_materials(0.02, 2.0, striker, "wood"), FS, FS // 2))
        for striker in ("rubber", "plastic", "wood", "steel")
    ]
    assert centroids == sorted(centroids) and centroids[-1] > 1.5 * centroids[0]


def test_contact_duration_matches_reference_and_scales():
    e = Excitation.from_materials(0.05, 2.0, "steel", "wood")
    assert contact_duration(e) == pytest.approx(reference_contact_duration(e), rel=1e-6)
    faster = Excitation(**{**e.__dict__, "impulse": 0.1, "speed": 4.0})  # same mass, double speed
    assert contact_duration(faster) / contact_duration(e) == pytest.approx(2 ** -0.2, rel=1e-5)


def test_s16_is_saturated_f32():
    recipe = ImpactRecipe(np.array([440.0], np.float32), np.array([3.0], np.float32), np.array([800.0], np.float32))
    f32 = render(recipe, HARD, FS, 4800)
    s16 = render(recipe, HARD, FS, 4800, format="s16")
    assert s16.dtype == np.int16
    assert np.array_equal(s16, np.rint(np.clip(f32, -1, 1) * 32767).astype(np.int16))
    assert s16.max() == 32767  # the recipe clips on purpose
    streamed = np.concatenate([voice(recipe, HARD, FS).render(n, "s16") for n in (4800,)])
    assert np.array_equal(streamed, s16)


def test_batch_equals_single_renders():
    rng = np.random.default_rng(3)
    recipes = [
        ImpactRecipe(
            rng.uniform(100, 9000, k).astype(np.float32),
            rng.uniform(1, 60, k).astype(np.float32),
            rng.uniform(-0.1, 0.1, k).astype(np.float32),
            3000.0,
            2000.0,
            0.05,
            500.0,
        )
        for k in (0, 1, 17, 64)
    ]
    excitations = [Excitation.from_materials(0.01 * (i + 1), 1.0 + i, "steel", "wood") for i in range(4)]
    batch = render_batch(recipes, excitations, [1, 2, 3, 4], FS, 3000)
    assert batch.shape == (4, 3000)
    for i, (r, e) in enumerate(zip(recipes, excitations)):
        assert np.array_equal(batch[i], render(r, e, FS, 3000, seed=i + 1))


def test_same_seed_same_audio_other_seed_other_noise():
    recipe = ImpactRecipe(np.array([800.0], np.float32), np.array([20.0], np.float32), np.array([0.1], np.float32), 5000, 3000, 0.2, 300)
    a = render(recipe, HARD, FS, 4800, seed=5, detune=0.05)
    assert np.array_equal(a, render(recipe, HARD, FS, 4800, seed=5, detune=0.05))
    assert not np.array_equal(a, render(recipe, HARD, FS, 4800, seed=6, detune=0.05))
