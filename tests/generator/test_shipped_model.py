"""The embedded real-time generator on the embedded demo scene: physically sensible, measured on waveforms."""

from __future__ import annotations

import numpy as np
import pytest

from vaf.runtime.generators import CannotSound, RealtimeGenerator
from vaf.runtime.recipe_model import DEFAULT_GENERATOR, MANIFEST, OnnxRecipeModel
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE, LoadedScene
from vaf.runtime.synthesis import Excitation, render
from vaf.training.eval.generator import t60

pytestmark = pytest.mark.skipif(not (DEFAULT_GENERATOR / MANIFEST).is_file(), reason="no embedded generator model")
METALS = ("steel", "aluminium")


@pytest.fixture(scope="module")
def demo_parts():
    """Each part of the demo scene struck once, through the runtime's real-time generator, at the surface
    sample nearest the part's centre."""
    scene = LoadedScene.of("demo", SceneBundle.load(DEMO_SCENE))
    generator = RealtimeGenerator(OnnxRecipeModel.load())
    rate, excitation = 48000, Excitation.from_materials(0.05, 1.5, "wood", "wood")
    parts = {}
    for seg in scene.bundle.segments:
        on_part = np.flatnonzero(scene.surface.labels[:, 1] == seg.id)
        if seg.level != "part" or not on_part.size:
            continue
        centre = np.mean(np.array(seg.bbox), axis=0)
        index = on_part[np.argmin(np.linalg.norm(scene.surface.points[on_part] - centre, axis=1))]
        source = generator.generate(scene, np.array([index]))[0]
        if isinstance(source, CannotSound):  # no view saw this spot
            continue
        audio = render(source.recipe, excitation, rate, rate)  # 1 s
        parts[seg.id] = {"material": seg.material, "role": (seg.label or "").split("/")[-1], "size": float(np.ptp(np.array(seg.bbox), axis=0).max()),
                         "t60": t60(audio, rate), "audio": audio}
    assert len(parts) > 10
    return parts


def test_every_part_sounds(demo_parts):
    for sid, p in demo_parts.items():
        assert np.isfinite(p["audio"]).all() and np.abs(p["audio"]).max() > 1e-6, sid


def test_metal_rings_longer_than_wood_of_the_same_size(demo_parts):
    """Object bodies (a pan or pot body against a wooden bowl) within a factor 1.6 in size: the
    same role in the object, so similar geometry; handles (thin tubes) are left out."""
    wood = [p for p in demo_parts.values() if p["material"] == "wood" and p["role"] == "body"]
    metal = [p for p in demo_parts.values() if p["material"] in METALS and p["role"] == "body"]
    pairs = [(m, w) for m in metal for w in wood if max(m["size"], w["size"]) / min(m["size"], w["size"]) < 1.6]
    assert pairs, "the demo scene has metal and wood parts of similar size"
    for m, w in pairs:
        assert m["t60"] > w["t60"], (m["size"], m["t60"], w["size"], w["t60"])


def test_as_loud_as_the_physics_across_the_demo_scene():
    """Every sounding surface sample struck alike through the real-time generator and through the scene's own
    physics: the network's loudness follows the physics (median within 3 dB), and it goes quiet where the physics
    does not on at most 3% of the samples (12 dB or more below). A network that read its input geometry at other
    spots in training than the server gives it went that quiet on 6% (a quarter of the table top, 2026-11-30)."""
    from vaf.runtime.generators import PhysicsGenerator

    scene = LoadedScene.of("demo", SceneBundle.load(DEMO_SCENE))
    index = np.random.default_rng(0).permutation(len(scene.surface.points))[:400]
    realtime = RealtimeGenerator(OnnxRecipeModel.load()).generate(scene, index)
    physics = PhysicsGenerator().generate(scene, index)
    level = lambda s: 20 * np.log10(np.sqrt(np.mean(render(s.recipe, Excitation.from_materials(0.05, 2.0, "steel", s.material),  # noqa: E731
                                                             48000, 24000).astype(np.float64) ** 2)) + 1e-12)
    difference = np.array([level(r) - level(p) for r, p in zip(realtime, physics)
                           if not isinstance(r, CannotSound) and np.abs(p.recipe.gain).max() > 0])  # physics silent: nodal spots
    assert len(difference) > 300
    assert abs(np.median(difference)) < 3.0 and np.mean(difference < -12.0) <= 0.03, np.percentile(difference, [5, 50, 95])


def localised_to_their_part(model: OnnxRecipeModel, spots: int = 60) -> int:
    """How many of `spots` sounding surface samples of the demo scene (the floor aside), each struck by a wooden
    ball through the real-time generator, the scene's localizer ranks the struck part among its top 5 for."""
    from vaf.runtime.encoders import OnnxEncoders
    from vaf.runtime.localization import SceneLocalizer

    scene = LoadedScene.of("demo", SceneBundle.load(DEMO_SCENE))
    encoders, localizer, generator = OnnxEncoders.load(), SceneLocalizer(scene.bundle), RealtimeGenerator(model)
    floor = {s.id for s in scene.bundle.segments if (s.label or "").startswith("floor")}
    candidates = np.flatnonzero(~np.isin(scene.surface.labels[:, 1], list(floor)))
    index = np.random.default_rng(0).permutation(candidates)[:spots]
    found = 0
    for i, source in zip(index, generator.generate(scene, index)):
        assert not isinstance(source, CannotSound)
        audio = render(source.recipe, Excitation.from_materials(0.05, 2.0, "wood", source.material), 48000, 24000, seed=3)
        ranked = localizer.rank(encoders.embed_sound(audio, 48000), "part", top_k=5)
        found += int(scene.surface.labels[i, 1]) in {r.id for r in ranked}
    return found


def test_its_sounds_localise_to_their_part_across_the_demo_scene():
    """The embedded localizer, hearing the network's sound of a spot, ranks the struck part among its top 5 for at
    least 36 of 60 spots (the shipped model: 40; the one before it: 44). A candidate whose material judges and
    held-out metrics were the best yet reached 26 (docs/results.md, 2026-11-30, 04:00): neither the world's held-out
    hits nor the material judges heard what this hears."""
    assert localised_to_their_part(OnnxRecipeModel.load()) >= 36
