"""Physics checks of the sounding world: scaling laws, damping measured on waveforms, hit dependence."""

from __future__ import annotations

import numpy as np
import pytest

from vaf.runtime.materials import MATERIALS
from vaf.runtime.synthesis import Excitation, render
from vaf.training.world.acoustics import unit_acoustics
from vaf.training.world.objects import ObjectSpec, Part, Pose, Subpart
from vaf.training.world.parts import Box, Disc, Tube
from vaf.training.world.scene import PlacedObject, SceneUnit

FS = 48000


def unit(primitive, material: str) -> SceneUnit:
    sub = Subpart("s", primitive, Pose())
    part = Part("p", material, [sub])
    return SceneUnit(sub, part, PlacedObject(ObjectSpec("test", [part], 0.1, 0.1), Pose(), "test"), Pose(), (0, 1, 2))


def scaled(prim, k: float):
    if isinstance(prim, Box):
        return Box(tuple(k * s for s in prim.size))
    if isinstance(prim, Tube):
        return Tube(k * prim.radius, k * prim.height, k * prim.wall)
    return Disc(k * prim.radius, k * prim.thickness)


PRIMITIVES = {
    "plate": Box((0.3, 0.01, 0.2)),
    "bar": Box((0.4, 0.02, 0.03)),
    "shell": Tube(0.05, 0.1, 0.004),
    "disc": Disc(0.12, 0.006),
}


@pytest.mark.parametrize("name", PRIMITIVES)
def test_doubling_every_length_halves_every_frequency(name):
    prim = PRIMITIVES[name]
    steel = MATERIALS["steel"]
    f1 = prim.modes(steel, 16, 1e6).freqs
    f2 = scaled(prim, 2.0).modes(steel, 16, 1e6).freqs
    np.testing.assert_allclose(f2, f1 / 2, rtol=1e-9)


def test_plate_frequency_grows_with_thickness_over_length_squared():
    steel = MATERIALS["steel"]
    f = Box((0.3, 0.01, 0.2)).modes(steel, 8, 1e6).freqs
    np.testing.assert_allclose(Box((0.3, 0.02, 0.2)).modes(steel, 8, 1e6).freqs, 2 * f, rtol=1e-9)


@pytest.mark.parametrize("name", PRIMITIVES)
def test_frequency_scales_as_sqrt_stiffness_over_density(name):
    prim = PRIMITIVES[name]
    a, b = MATERIALS["aluminium"], MATERIALS["glass"]
    fa, fb = prim.modes(a, 8, 1e6).freqs, prim.modes(b, 8, 1e6).freqs
    law = np.sqrt(a.youngs_modulus / a.density / (b.youngs_modulus / b.density))
    if name != "bar":  # plates and shells also carry 1 / sqrt(1 - nu^2)
        law *= np.sqrt((1 - b.poisson**2) / (1 - a.poisson**2))
    np.testing.assert_allclose(fa / fb, law, rtol=1e-9)


def t60(y: np.ndarray) -> float:
    """Reverberation time from the Schroeder backward-integrated energy decay, -5 to -25 dB fit, extrapolated."""
    energy = np.cumsum((y.astype(np.float64) ** 2)[::-1])[::-1]
    edc = 10 * np.log10(energy / energy[0] + 1e-30)
    t = np.arange(y.size) / FS
    sel = (edc <= -5) & (edc >= -25)
    slope = np.polyfit(t[sel], edc[sel], 1)[0]
    return -60.0 / slope


def hit(material: str, point=(0.05, 0.005, 0.03), seconds: float = 3.0, seed: int = 0, impulse=0.02, speed=1.0):
    acoustics = unit_acoustics(unit(Box((0.3, 0.01, 0.2)), material), 32, np.random.default_rng(0))
    recipe = acoustics.recipe(np.array(point, float), np.array([0.0, 1.0, 0.0]))
    excitation = Excitation.from_materials(impulse, speed, "rubber", material)
    return render(recipe, excitation, FS, int(seconds * FS), seed=seed)


def test_metal_and_glass_ring_far_longer_than_wood_plastic_cardboard():
    ringing = {m: t60(hit(m)) for m in ("steel", "aluminium", "glass")}
    dull = {m: t60(hit(m)) for m in ("wood", "plastic", "cardboard")}
    assert min(ringing.values()) > 4 * max(dull.values()), (ringing, dull)
    assert dull["cardboard"] < dull["wood"]


def band_db(y: np.ndarray, bands: int = 24) -> np.ndarray:
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    edges = np.geomspace(50, 20000, bands + 1) * y.size / FS
    return np.array([10 * np.log10(power[int(a) : int(b) + 1].sum() + 1e-30) for a, b in zip(edges, edges[1:])])


def test_two_points_on_one_part_sound_different():
    # The plate's centre is a node of every mode even along one axis; a quarter point is not.
    centre = band_db(hit("steel", (0.0, 0.005, 0.0), 0.5))
    quarter = band_db(hit("steel", (0.075, 0.005, 0.05), 0.5))
    assert np.max(np.abs(centre - quarter)) > 10.0


def test_same_point_and_seed_is_bit_identical():
    assert np.array_equal(hit("glass", seconds=0.5, seed=4), hit("glass", seconds=0.5, seed=4))


def _centroid(y):
    s = np.abs(np.fft.rfft(y.astype(np.float64)))
    return float((s * np.fft.rfftfreq(y.size, 1 / FS)).sum() / s.sum())


def test_stronger_hit_is_louder_and_brighter():
    # Same striker thrown twice as fast: twice the impulse, a shorter Hertz contact.
    soft = hit("wood", seconds=0.5, impulse=0.02, speed=1.0)
    hard = hit("wood", seconds=0.5, impulse=0.04, speed=2.0)
    assert np.sqrt(np.mean(hard.astype(np.float64) ** 2)) > 1.8 * np.sqrt(np.mean(soft.astype(np.float64) ** 2))
    assert _centroid(hard) > _centroid(soft)


@pytest.mark.parametrize(
    ("build", "message"),
    [(lambda: Box((-0.1, 0.1, 0.1)), r"size\[0\]"), (lambda: Tube(float("nan"), 0.1, 0.01), "radius"),
     (lambda: Disc(0.1, 0.0), "thickness")],
)
def test_bad_sizes_name_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()
