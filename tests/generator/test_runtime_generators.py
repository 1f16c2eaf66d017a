"""The neural and baked generators in a real server: choice, fallbacks, physics-driven loudness, bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vaf.runtime.client import Client, RemoteError, contact_message
from vaf.runtime.generators import GeneratorSet, RealtimeGenerator, SoundSource
from vaf.runtime.recipe_model import DEFAULT_GENERATOR, MANIFEST, OnnxRecipeModel
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE, LoadedScene, SceneCatalog
from vaf.runtime.segment_geometry import GEOMETRY_DIM
from vaf.runtime import service as service_module
from vaf.runtime.service import Service


def _spot(bundle_dir):
    """A surface point and normal of the scene (an acoustic sample on a seen, non-floor part)."""
    b = SceneBundle.load(bundle_dir)
    a = b.acoustics
    seen = np.abs(b.features.astype(np.float32)).max(axis=(1, 2)) > 0
    seen_parts = set(np.unique(b.labels[seen, 1]).tolist())
    floor = {s.id for s in b.segments if s.label and s.label.startswith("floor")}
    parents = {s.id: s.parent for s in b.segments}
    for i in range(len(a.points)):
        part = parents[int(a.unit_segment[a.unit[i]])]
        if part in seen_parts and part not in floor and parents.get(part) not in floor:
            return a.points[i].tolist(), a.normals[i].tolist()
    raise AssertionError("no seen part")


@pytest.fixture(scope="module")
def neural_server(start_server_module, feature_scene, baked_scene, tiny_encoders, tiny_generator):
    _, runtime = tiny_generator
    srv = start_server_module(["--scene", str(feature_scene), "--scene", str(baked_scene), "--encoders", str(tiny_encoders.path),
                               "--generator-model", str(runtime)])
    srv.wait_ready()
    return srv


def test_hello_and_load_scene_list_the_generators(neural_server, feature_scene, baked_scene):
    with Client(neural_server.endpoint, timeout=30) as c:
        hello = c.hello()
        assert hello["generators"] == ["baked", "realtime", "physics"]
        learnt = OnnxRecipeModel.load(_runtime(neural_server)).room  # the tiny model learns a room (TINY_RECIPE)
        assert learnt is not None and hello["recordings_room"] == pytest.approx(
            {"rt60_s": learnt.rt60_s, "direct_to_reverb_db": learnt.direct_to_reverb_db})
        assert c.request("load_scene", scene=feature_scene.name)["generators"] == ["realtime", "physics"]
        assert c.request("load_scene", scene=baked_scene.name)["generators"] == ["baked", "realtime", "physics"]


def test_auto_prefers_realtime_and_each_generator_can_be_named(neural_server, feature_scene):
    point, normal = _spot(feature_scene)
    with Client(neural_server.endpoint, timeout=30) as c:
        auto = c.contact(feature_scene.name, point, normal, 0.05, 1.5, format="f32", seed=1)
        assert auto.generator == "realtime"
        assert auto.material in OnnxRecipeModel.load(_runtime(neural_server)).materials
        assert np.isfinite(auto.pcm).all() and np.abs(auto.pcm).max() > 1e-5
        physics = c.contact(feature_scene.name, point, normal, 0.05, 1.5, format="f32", seed=1, generator="physics")
        assert physics.generator == "physics"
        with pytest.raises(RemoteError) as e:
            c.contact(feature_scene.name, point, normal, 0.05, 1.5, generator="baked")
        assert e.value.code == "no_generator" and e.value.field == "generator"
    assert neural_server.alive()


def _runtime(srv):
    """The --generator-model folder the server was started with."""
    args = srv.proc.args
    return args[args.index("--generator-model") + 1]


@pytest.mark.parametrize("generator", ["realtime", "baked"])
def test_loudness_and_brightness_follow_the_contact(neural_server, baked_scene, generator):
    point, normal = _spot(baked_scene)
    with Client(neural_server.endpoint, timeout=30) as c:
        sound = lambda impulse, speed, striker: c.contact(baked_scene.name, point, normal, impulse, speed,  # noqa: E731
                                                          striker=striker, format="f32", seed=3, generator=generator).pcm.astype(np.float64)
        # twice the impulse at 2^(2/3) the speed keeps the Hertz contact duration (tau ~ (J^2 / v^3)^0.2): +6.02 dB
        soft, hard = sound(0.02, 1.5, "rubber"), sound(0.04, 1.5 * 2 ** (2 / 3), "rubber")
        assert 20 * np.log10(np.sqrt(np.mean(hard**2)) / np.sqrt(np.mean(soft**2))) == pytest.approx(6.02, abs=0.3)
        centroid = lambda x: float(np.sum(np.fft.rfftfreq(len(x), 1 / 48000) * np.abs(np.fft.rfft(x))) / np.sum(np.abs(np.fft.rfft(x))))  # noqa: E731
        assert centroid(sound(0.02, 1.5, "steel")) > centroid(soft)  # a hard striker: a shorter contact, a brighter sound


def test_baked_streams_in_the_same_chunks(neural_server, baked_scene):
    point, normal = _spot(baked_scene)
    with Client(neural_server.endpoint, timeout=30) as c:
        whole = c.contact(baked_scene.name, point, normal, 0.05, 1.5, format="f32", seed=2, generator="baked", duration=0.3)
        chunks = list(c.stream_contact(baked_scene.name, point, normal, 0.05, 1.5, format="f32", generator="baked", duration=0.3))
    assert len(chunks) > 1 and sum(len(x) for x in chunks) == len(whole.pcm) == int(0.3 * 48000)
    assert np.abs(np.concatenate(chunks)).max() > 0


def test_bad_features_fall_back_or_fail_clearly(start_server, feature_scene, tiny_encoders, tiny_generator, tmp_path):
    """NaN features: those Gaussians count as unseen; where no seen Gaussian is near, realtime cannot sound the
    hit: auto falls back to physics, an explicit request gets a clear error; the server stays up."""
    _, runtime = tiny_generator
    broken = tmp_path / "nan_scene"
    shutil.copytree(feature_scene, broken)
    features = np.load(broken / "features.npy")
    b = SceneBundle.load(feature_scene)
    point, normal = _spot(feature_scene)
    near = np.linalg.norm(b.gaussians.positions - np.array(point), axis=1) < 0.5
    features[near] = np.nan
    np.save(broken / "features.npy", features)
    srv = start_server(["--scene", str(broken), "--encoders", str(tiny_encoders.path), "--generator-model", str(runtime)])
    srv.wait_ready()
    with Client(srv.endpoint, timeout=30) as c:
        assert c.contact(broken.name, point, normal, 0.05, 1.5).generator == "physics"
        with pytest.raises(RemoteError) as e:
            c.contact(broken.name, point, normal, 0.05, 1.5, generator="realtime")
        assert e.value.code == "no_generator" and "features" in str(e.value)
        # One batch, one generator pass: each contact gets what fits it
        far = next(p for p in b.acoustics.points if np.linalg.norm(p - np.array(point)) > 1.0
                   and c.contact(broken.name, p.tolist(), normal, 0.05, 1.5).generator == "realtime")
        batch = c.contacts([contact_message(broken.name, point, normal, 0.05, 1.5),
                            contact_message(broken.name, far.tolist(), normal, 0.05, 1.5),
                            contact_message(broken.name, point, normal, 0.05, 1.5, generator="realtime")])
        assert [getattr(x, "generator", None) for x in batch[:2]] == ["physics", "realtime"]
        assert isinstance(batch[2], RemoteError) and batch[2].code == "no_generator"
        assert c.request("ping")["op"] == "pong"


def test_recipe_model_rejects_nan_and_replaces_out_of_distribution(tiny_generator):
    _, runtime = tiny_generator
    model = OnnxRecipeModel.load(runtime)
    ok = np.zeros((1, model.levels, model.dim), np.float32)
    ok[..., 0] = 1.0
    size = np.zeros((1, GEOMETRY_DIM), np.float32)
    with pytest.raises(ValueError, match="features: NaN"):
        model.predict(np.full((1, model.levels, model.dim), np.nan, np.float32), size)
    with pytest.raises(ValueError, match="features: shape"):
        model.predict(np.zeros((1, model.levels + 1, model.dim), np.float32), size)
    with pytest.raises(ValueError, match="geometry: this model"):
        model.predict(ok)
    with pytest.raises(ValueError, match="geometry: NaN"):
        model.predict(ok, np.full((1, GEOMETRY_DIM), np.nan, np.float32))
    with pytest.raises(ValueError, match="geometry: shape"):
        model.predict(ok, np.zeros((2, GEOMETRY_DIM), np.float32))
    rng = np.random.default_rng(0)
    strange = rng.normal(size=(16, model.levels, model.dim)).astype(np.float32)
    strange /= np.linalg.norm(strange, axis=2, keepdims=True)
    p = model.predict(strange, np.repeat(size, 16, axis=0))
    assert p.replaced.any()  # random directions are far from every training feature
    similarity, nearest = model.nearest_prototype(strange)
    prototype = model.prototype_features(nearest)
    assert similarity.dtype == prototype.dtype == np.float32  # float64 would mean a slow mixed-type matmul
    np.testing.assert_allclose(np.linalg.norm(prototype, axis=2), 1.0, atol=1e-5)  # prototypes are unit rows per level
    for r in p.recipes:
        assert np.isfinite(r.gain).all() and np.abs(r.gain).max() > 0 and np.isfinite(r.freq_hz).all()


class SilentAwayFromPrototypes(OnnxRecipeModel):
    """The real network, except that it goes silent (and its frequencies NaN) on every query that is
    not one of its prototypes: an in-distribution spot it renders unusable."""

    def run(self, features, geometry):
        out = super().run(features, geometry)
        _, nearest = self.nearest_prototype(features)
        broken = (features != self.prototype_features(nearest)).any(axis=(1, 2))
        out[0][broken], out[2][broken] = np.nan, 0.0
        return out


def test_an_unusable_recipe_is_replaced_by_the_nearest_prototypes(tiny_generator):
    _, runtime = tiny_generator
    model, broken = OnnxRecipeModel.load(runtime), SilentAwayFromPrototypes.load(runtime)
    # the tiny dataset's features are its own prototypes (threshold ~1): loosen it so a nearby query counts as known
    model.ood_threshold = broken.ood_threshold = 0.5
    size = np.zeros((1, GEOMETRY_DIM), np.float32)
    # a training-like query: near a prototype (within the threshold) but not on it
    rng = np.random.default_rng(1)
    features = model.prototype_features(np.array([0, 1]))
    features = features + 1e-3 * rng.normal(size=features.shape).astype(np.float32)
    features /= np.linalg.norm(features, axis=2, keepdims=True)
    geometry = np.repeat(size, 2, axis=0)
    assert not model.predict(features, geometry).replaced.any()
    fixed = broken.predict(features, geometry)
    assert fixed.replaced.all()
    _, nearest = model.nearest_prototype(features)
    expected = model.predict(model.prototype_features(nearest), geometry)
    for got, want in zip(fixed.recipes, expected.recipes):
        assert np.abs(got.gain).max() > 0 and np.isfinite(got.freq_hz).all()
        np.testing.assert_allclose(got.freq_hz, want.freq_hz, rtol=1e-6)
        np.testing.assert_allclose(got.gain, want.gain, rtol=1e-6)
        assert got.noise == pytest.approx(want.noise, rel=1e-6)
    assert fixed.materials == expected.materials


def test_demo_scene_sounds_through_the_embedded_model_by_default(start_server):
    if not (DEFAULT_GENERATOR / MANIFEST).is_file():
        pytest.skip("no embedded generator model")
    srv = start_server(["--scene", "demo"])
    srv.wait_ready()
    point, normal = _spot(DEMO_SCENE)
    with Client(srv.endpoint, timeout=30) as c:
        assert c.request("load_scene", scene="demo")["generators"] == ["realtime", "physics"]
        sound = c.contact("demo", point, normal, 0.05, 1.5, format="f32")
    assert sound.generator == "realtime" and np.abs(sound.pcm).max() > 1e-5


def test_realtime_sources_are_memoised_per_surface_sample(feature_scene, tiny_generator):
    _, runtime = tiny_generator
    model = OnnxRecipeModel.load(runtime)
    scene = LoadedScene.of("memo", SceneBundle.load(feature_scene))
    _, found = scene.feature_field.query(scene.surface.points)
    a, b, c, d = np.flatnonzero(found)[[0, 10, 20, 30]].tolist()
    generator = RealtimeGenerator(model)
    first = generator.generate(scene, np.array([a, b, a, c]))
    assert all(isinstance(s, SoundSource) for s in first)
    assert first[0] is first[2]  # one sample twice in a request: computed once
    again = generator.generate(scene, np.array([b, d]))
    assert again[0] is first[1]  # a later request on a known sample: the same source, not recomputed
    assert sorted(scene.memo["realtime"]) == sorted({a, b, c, d})
    for i, source in zip([a, b, c, d], [first[0], first[1], first[3], again[1]]):
        alone = RealtimeGenerator(model).generate(LoadedScene.of("fresh", scene.bundle), np.array([i]))[0]
        assert alone.material == source.material
        for name in ("freq_hz", "decay_per_s", "gain"):
            np.testing.assert_allclose(getattr(alone.recipe, name), getattr(source.recipe, name), rtol=1e-5, atol=1e-7)


def test_warm_generates_every_surface_sample_on_load(feature_scene, tiny_generator, start_server, tiny_encoders):
    _, runtime = tiny_generator
    model = OnnxRecipeModel.load(runtime)
    generators = GeneratorSet.default(model)
    cold = Service(SceneCatalog([str(feature_scene)]), generator_set=generators, warm="never").load(feature_scene.name)
    assert cold.memo == {}  # without warm, nothing is made before a hit
    warm = Service(SceneCatalog([str(feature_scene)]), generator_set=generators, warm="always").load(feature_scene.name)
    _, found = warm.feature_field.query(warm.surface.points)
    assert sorted(warm.memo["realtime"]) == np.flatnonzero(found).tolist()  # every sample the network can sound
    srv = start_server(["--scene", str(feature_scene), "--encoders", str(tiny_encoders.path), "--generator-model", str(runtime),
                        "--warm"])
    srv.wait_ready()
    point, normal = _spot(feature_scene)
    with Client(srv.endpoint, timeout=30) as c:
        assert c.contact(feature_scene.name, point, normal, 0.05, 1.5, seed=1).generator == "realtime"
    assert '"event": "scene warmed"' in srv.log()


def test_auto_warm_is_by_surface_size(feature_scene, tiny_generator, monkeypatch):
    _, runtime = tiny_generator
    generators = GeneratorSet.default(OnnxRecipeModel.load(runtime))
    samples = len(SceneBundle.load(feature_scene).acoustics.points)
    auto = Service(SceneCatalog([str(feature_scene)]), generator_set=generators)  # the default policy
    assert auto.warm == "auto" and auto.load(feature_scene.name).memo["realtime"]  # a small scene warms
    monkeypatch.setattr(service_module, "WARM_AUTO_LIMIT", samples - 1)
    large = Service(SceneCatalog([str(feature_scene)]), generator_set=generators).load(feature_scene.name)
    assert large.memo == {}  # above the limit, auto stays lazy
    always = Service(SceneCatalog([str(feature_scene)]), generator_set=generators, warm="always").load(feature_scene.name)
    assert always.memo["realtime"]
    with pytest.raises(ValueError, match="warm = 'yes' must be one of auto, always, never"):
        Service(SceneCatalog([str(feature_scene)]), warm="yes")
