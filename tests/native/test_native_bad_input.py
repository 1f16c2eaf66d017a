"""Bad input to the native synthesizer: a ValueError naming the field, never a crash."""

from __future__ import annotations

import time

import numpy as np
import pytest

from vaf import _native
from vaf.runtime.synthesis import Excitation, ImpactRecipe, render, voice

GOOD_CONTACT = Excitation.from_materials(0.01, 1.0, "steel", "wood")
F = np.array([440.0, 880.0], np.float32)
D = np.array([5.0, 9.0], np.float32)
G = np.array([0.1, 0.1], np.float32)


@pytest.mark.parametrize(
    ("recipe", "field"),
    [
        (ImpactRecipe(np.array([440.0, np.nan], np.float32), D, G), "recipe.freq_hz[1] is NaN"),
        (ImpactRecipe(np.array([-1.0, 2.0], np.float32), D, G), "recipe.freq_hz[0]"),
        (ImpactRecipe(F, np.array([1.0, np.inf], np.float32), G), "recipe.decay_per_s[1] is infinite"),
        (ImpactRecipe(F, np.array([-1.0, 1.0], np.float32), G), "recipe.decay_per_s[0]"),
        (ImpactRecipe(F, D, np.array([np.nan, 1.0], np.float32)), "recipe.gain[0] is NaN"),
        (ImpactRecipe(F, D[:1], G), "same length"),
        (ImpactRecipe(F, D, G, noise_level=-0.1), "recipe.noise_level"),
        (ImpactRecipe(F, D, G, noise_level=0.1, noise_decay_per_s=0.0), "recipe.noise_decay_per_s"),
        (ImpactRecipe(F, D, G, noise_center_hz=float("nan")), "recipe.noise_center_hz is NaN"),
        (ImpactRecipe(np.zeros((2, 2), np.float32), D, G), "one-dimensional"),
        (ImpactRecipe(np.zeros(2000, np.float32), np.zeros(2000, np.float32), np.zeros(2000, np.float32)), "num_modes"),
    ],
)
def test_bad_recipe_names_field(recipe, field):
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        render(recipe, GOOD_CONTACT, 48000, 100)


@pytest.mark.parametrize(
    ("name", "value"),
    [("impulse", 0.0), ("impulse", -1.0), ("speed", float("nan")), ("striker_modulus", float("inf")),
     ("striker_poisson", 0.5), ("striker_radius", 0.0), ("target_modulus", -5.0), ("target_poisson", -0.1)],
)
def test_bad_contact_names_field(name, value):
    bad = Excitation(**{**GOOD_CONTACT.__dict__, name: value})
    with pytest.raises(ValueError, match=f"contact.{name}"):
        render(ImpactRecipe(F, D, G), bad, 48000, 100)
    with pytest.raises(ValueError, match=f"contact.{name}"):
        voice(ImpactRecipe(F, D, G), bad, 48000)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"sample_rate": 7999}, "options.sample_rate"), ({"sample_rate": 192001}, "options.sample_rate"),
     ({"sample_rate": -5}, "options.sample_rate"), ({"frames": -1}, "frames"), ({"detune": 0.5}, "options.detune"),
     ({"gain": -1.0}, "options.gain"), ({"format": "s24"}, "format")],
)
def test_bad_options_name_field(kwargs, field):
    args = {"sample_rate": 48000, "frames": 100, **kwargs}
    with pytest.raises(ValueError, match=field):
        render(ImpactRecipe(F, D, G), GOOD_CONTACT, **args)


def test_unknown_striker_material():
    with pytest.raises(ValueError, match="striker: unknown material 'jelly'"):
        Excitation.from_materials(0.1, 1.0, striker="jelly")


def test_fuzz_random_floats_and_sizes():
    """Random bit patterns as floats and random sizes, for a bounded time: errors or audio, never a crash."""
    rng = np.random.default_rng(1234)
    deadline = time.monotonic() + 5.0
    rendered = rejected = 0
    while time.monotonic() < deadline:
        k = int(rng.integers(0, 80))
        arrays = [rng.integers(0, 2**32, k, dtype=np.uint64).astype(np.uint32).view(np.float32) for _ in range(3)]
        if rng.random() < 0.5:  # half the time, plausible numbers so the render path runs too
            arrays = [np.nan_to_num(np.abs(a)) % 20000 if i < 2 else np.nan_to_num(a) % 3 for i, a in enumerate(arrays)]
        noise = tuple(float(x) for x in rng.integers(0, 2**32, 4, dtype=np.uint64).astype(np.uint32).view(np.float32))
        contact = tuple(float(x) for x in np.abs(rng.normal(0, 1e3, 7)))
        contact = contact[:3] + (min(contact[3], 0.4),) + contact[4:6] + (min(contact[6], 0.4),)
        try:
            out = _native.render(*arrays, noise, contact, int(rng.integers(0, 300000)), int(rng.integers(0, 5000)))
            assert out.dtype == np.float32
            rendered += 1
        except ValueError as e:
            assert str(e)
            rejected += 1
    assert rejected > 0 and rendered > 0
