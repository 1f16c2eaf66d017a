"""The embedded real-time generator on the embedded demo scene: physically sensible, measured on waveforms."""

from __future__ import annotations

import numpy as np
import pytest

from vaf.export.scene_bake import segment_features
from vaf.runtime.recipe_model import DEFAULT_GENERATOR, MANIFEST, OnnxRecipeModel
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE
from vaf.runtime.synthesis import Excitation, render
from vaf.training.eval.generator import t60

pytestmark = pytest.mark.skipif(not (DEFAULT_GENERATOR / MANIFEST).is_file(), reason="no embedded generator model")
METALS = ("steel", "aluminium")


@pytest.fixture(scope="module")
def demo_parts():
    bundle = SceneBundle.load(DEMO_SCENE)
    ids, features = segment_features(bundle)
    model = OnnxRecipeModel.load()
    prediction = model.predict(features)
    rate, excitation = 48000, Excitation.from_materials(0.05, 1.5, "wood", "wood")
    parts = {}
    for sid, recipe in zip(ids, prediction.recipes):
        seg = bundle.segment(int(sid))
        audio = render(recipe, excitation, rate, rate)  # 1 s
        parts[int(sid)] = {"material": seg.material, "role": (seg.label or "").split("/")[-1], "size": float(np.ptp(np.array(seg.bbox), axis=0).max()),
                           "t60": t60(audio, rate), "audio": audio}
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
