"""The runtime server over real sockets: every op, end-to-end audio correctness, streaming, batches."""

from __future__ import annotations

import numpy as np
import pytest

from vaf.runtime.client import RemoteError, contact_message
from vaf.runtime.room import Room, reverberate
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE
from vaf.runtime.synthesis import Excitation, ImpactRecipe, render

BUNDLE = SceneBundle.load(DEMO_SCENE)


def surface_point(material: str | None = None, skip_floor: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """An acoustic sample of the demo scene: position, normal, index."""
    a = BUNDLE.acoustics
    for i in np.random.default_rng(5).permutation(a.points.shape[0]):
        mat = a.unit_material[a.unit[i]]
        label = BUNDLE.segment(int(a.unit_segment[a.unit[i]])).label
        if (material is None or mat == material) and not (skip_floor and label.startswith("floor")) and np.abs(a.gains[i]).max() > 0:
            return a.points[i], a.normals[i], int(i)
    raise LookupError(material)


def test_hello_lists_capabilities_and_scenes(client):
    hello = client.hello()
    assert hello["protocol"] == 1 and hello["server"].startswith("vaf-bridge")
    assert {"hello", "ping", "scenes", "load_scene", "scene_asset", "contact", "contacts", "stats"} <= set(hello["capabilities"])
    assert "localize" in hello["capabilities"] and "shape" not in hello["capabilities"]  # embedded encoders
    demo = next(s for s in hello["scenes"] if s["name"] == "demo")
    assert demo["loaded"] is True and demo["generators"] == ["realtime", "physics"] and demo["localize"] is True
    # the embedded encoders learnt from the sounding world's recordings, in its default room (`vaf world dataset --rt60`)
    assert hello["localize_room"] == {"rt60_s": 0.3, "direct_to_reverb_db": 6.0}


def test_load_scene_states_frame_and_segments(client):
    scene = client.load_scene("demo")
    assert (scene.units, scene.up, scene.handedness) == ("m", "+y", "right")
    assert scene.gaussians == len(BUNDLE.gaussians)
    levels = {s["level"] for s in scene.segments}
    assert levels == {"subpart", "part", "object"}
    seg = scene.segments[0]
    assert {"id", "level", "centroid", "bbox"} <= set(seg) and len(seg["centroid"]) == 3
    assert {a["name"] for a in scene.assets} == {"splat", "collision", "preview"}


def test_scene_assets_download_in_chunks(client):
    splat = client.scene_asset("demo", "splat", chunk_bytes=100_000)
    assert splat == (DEMO_SCENE / "gaussians.ply").read_bytes()
    glb = client.scene_asset("demo", "collision")
    assert glb[:4] == b"glTF" and glb == (DEMO_SCENE / "collision.glb").read_bytes()
    assert client.scene_asset("demo", "preview")[:8] == b"\x89PNG\r\n\x1a\n"


def test_contact_audio_is_the_physics_recipe_rendered(client):
    point, normal, i = surface_point("ceramic")
    audio = client.contact("demo", point, normal, impulse=0.04, speed=1.5, striker="steel", seed=11, format="f32",
                           generator="physics")
    a = BUNDLE.acoustics
    u = a.unit[i]
    recipe = ImpactRecipe(a.freq_hz[u], a.decay_per_s[u], a.gains[i], *(float(x) for x in a.noise[u]))
    expected = render(recipe, Excitation.from_materials(0.04, 1.5, "steel", "ceramic"), 48000, 24000, seed=11)
    assert audio.material == "ceramic" and audio.generator == "physics"
    assert audio.segments["subpart"] == a.unit_segment[u] == audio.segment
    assert audio.pcm.dtype == np.float32 and np.array_equal(audio.pcm, expected)
    assert audio.distance == 0.0 and audio.gen_ms > 0


def test_contact_defaults_and_formats(client):
    point, normal, _ = surface_point("steel")
    s16 = client.contact("demo", point, normal, impulse=0.02, speed=1.0, seed=3)
    assert s16.format == "s16" and s16.sample_rate == 48000 and s16.pcm.dtype == np.int16 and s16.pcm.size == 24000
    f32 = client.contact("demo", point, normal, impulse=0.02, speed=1.0, seed=3, format="f32", sample_rate=22050, duration=0.25)
    assert f32.pcm.size == round(0.25 * 22050) and f32.sample_rate == 22050
    assert np.abs(s16.pcm).max() > 0


def test_stream_first_chunk_is_10ms_and_chunks_equal_whole(client):
    point, normal, _ = surface_point("wood")
    chunks = list(client.stream_contact("demo", point, normal, impulse=0.05, speed=2.0, seed=9, format="f32"))
    assert chunks[0].size == 480 and len(chunks) == 1 + int(np.ceil((24000 - 480) / 4800))
    whole = client.contact("demo", point, normal, impulse=0.05, speed=2.0, seed=9, format="f32")
    assert np.array_equal(np.concatenate(chunks), whole.pcm)


def test_contacts_batch_keeps_order_and_isolates_errors(client):
    good = [surface_point(m) for m in ("ceramic", "steel", "wood")]
    batch = [contact_message("demo", p, n, 0.03, 1.0, seed=k) for k, (p, n, _) in enumerate(good)]
    batch.insert(1, contact_message("demo", [50.0, 50.0, 50.0], [0, 1, 0], 0.03, 1.0))  # off every surface
    batch.insert(3, {**contact_message("demo", good[0][0], good[0][1], 0.03, 1.0), "impulse": -1.0})
    results = client.contacts(batch)
    assert [type(r).__name__ for r in results] == ["Audio", "RemoteError", "Audio", "RemoteError", "Audio"]
    assert results[1].code == "off_surface" and results[1].field == "position"
    assert results[3].code == "bad_field" and results[3].field == "contacts[3].impulse"
    # Each answer is its own contact's: the same sound and material as that contact sent alone.
    for k, r in enumerate((results[0], results[2], results[4])):
        single = client.contact("demo", good[k][0], good[k][1], 0.03, 1.0, seed=k)
        assert np.array_equal(r.pcm, single.pcm) and r.material == single.material
    assert len({r.pcm.tobytes() for r in (results[0], results[2], results[4])}) == 3


def test_a_room_adds_its_tail_to_the_dry_contact(client):
    """The dry sound plus the room's seeded tail (runtime.room.reverberate), the same whether sent whole,
    streamed or in a batch; the tail rings on after the dry sound has died."""
    point, normal, _ = surface_point("wood")
    room = {"rt60_s": 0.8, "direct_to_reverb_db": 0.0}
    dry = client.contact("demo", point, normal, 0.05, 2.0, seed=4, format="f32", generator="physics")
    wet = client.contact("demo", point, normal, 0.05, 2.0, seed=4, format="f32", generator="physics", room=room)
    np.testing.assert_allclose(wet.pcm, reverberate(dry.pcm, Room(0.8, 0.0), 48000, seed=4), atol=1e-6)
    late = slice(12000, None)
    assert np.sqrt(np.mean(wet.pcm[late] ** 2)) > 10 * np.sqrt(np.mean(dry.pcm[late] ** 2))
    streamed = np.concatenate(list(client.stream_contact("demo", point, normal, 0.05, 2.0, seed=4, format="f32",
                                                         generator="physics", room=room)))
    batched = client.contacts([contact_message("demo", point, normal, 0.05, 2.0, seed=4, format="f32", generator="physics",
                                               room=room)])[0]
    assert np.array_equal(streamed, wet.pcm) and np.array_equal(batched.pcm, wet.pcm)
    s16 = client.contact("demo", point, normal, 0.05, 2.0, seed=4, generator="physics", room=room)
    assert np.array_equal(s16.pcm, np.rint(np.clip(wet.pcm, -1, 1) * 32767).astype(np.int16))


def test_detune_varies_repeated_hits_within_its_range(client):
    """`detune` moves each mode by at most that fraction, drawn from the seed: the native render with the same seed
    and detune, alike whole, streamed and batched; another seed, another draw."""
    point, normal, i = surface_point("ceramic")
    hit = dict(impulse=0.04, speed=1.5, striker="steel", format="f32", generator="physics")
    a = BUNDLE.acoustics
    u = a.unit[i]
    recipe = ImpactRecipe(a.freq_hz[u], a.decay_per_s[u], a.gains[i], *(float(x) for x in a.noise[u]))
    excitation = Excitation.from_materials(0.04, 1.5, "steel", "ceramic")
    plain = client.contact("demo", point, normal, seed=11, **hit).pcm
    varied = [client.contact("demo", point, normal, seed=s, detune=0.02, **hit).pcm for s in (11, 12)]
    assert np.array_equal(varied[0], render(recipe, excitation, 48000, 24000, seed=11, detune=0.02))
    assert not np.array_equal(varied[0], plain) and not np.array_equal(varied[0], varied[1])
    streamed = np.concatenate(list(client.stream_contact("demo", point, normal, seed=11, detune=0.02, **hit)))
    batched = client.contacts([contact_message("demo", point, normal, seed=11, detune=0.02, **hit)])[0].pcm
    assert np.array_equal(streamed, varied[0]) and np.array_equal(batched, varied[0])

    def strongest_hz(x):
        spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), 8 * x.size))
        return np.argmax(spectrum) * 48000 / (8 * x.size)

    for pcm in varied:  # the strongest mode stays within its +-2 %
        assert 0.98 * 0.999 < strongest_hz(pcm) / strongest_hz(plain) < 1.02 * 1.001


def test_harder_hits_are_louder_over_the_wire(client):
    point, normal, _ = surface_point("steel")
    soft = client.contact("demo", point, normal, impulse=0.01, speed=1.0, seed=1, format="f32")
    hard = client.contact("demo", point, normal, impulse=0.04, speed=1.0, seed=1, format="f32")
    assert np.sqrt(np.mean(hard.pcm**2)) > 2.5 * np.sqrt(np.mean(soft.pcm**2))


def test_point_near_surface_snaps_far_point_fails(client):
    point, normal, i = surface_point("ceramic")
    near = client.contact("demo", point + 0.01 * normal, normal, impulse=0.02, speed=1.0)
    assert near.segment == int(BUNDLE.acoustics.unit_segment[BUNDLE.acoustics.unit[i]])  # snapped onto the mug it is 1 cm above
    assert near.segments["part"] == client.contact("demo", point, normal, impulse=0.02, speed=1.0).segments["part"]
    with pytest.raises(RemoteError) as e:
        client.contact("demo", [0.0, 3.0, 0.0], [0, 1, 0], impulse=0.02, speed=1.0)
    assert e.value.code == "off_surface" and "tolerance" in e.value.message


def test_unsupported_ops_and_unknowns(client):
    with pytest.raises(RemoteError) as e:
        client.request("shape")
    assert e.value.code == "unsupported"
    with pytest.raises(RemoteError) as e:
        client.load_scene("nowhere")
    assert e.value.code == "unknown_scene" and "demo" in e.value.message
    with pytest.raises(RemoteError) as e:
        client.scene_asset("demo", "texture")
    assert e.value.code == "unknown_asset"
    with pytest.raises(RemoteError) as e:
        client.contact("nowhere", [0, 0, 0], [0, 1, 0], 0.1, 1.0)
    assert e.value.code == "unknown_scene"
    with pytest.raises(RemoteError) as e:
        client.contact("demo", [0, 0, 0], [0, 1, 0], 0.1, 1.0, striker="jelly")
    assert e.value.code == "bad_field" and e.value.field == "striker"


def test_load_scene_by_path_on_loopback(client, tmp_path):
    scene = client.load_scene(str(DEMO_SCENE))
    assert scene.scene_id == str(DEMO_SCENE) and scene.name == BUNDLE.name
    with pytest.raises(RemoteError) as e:
        client.load_scene(str(tmp_path))  # a folder that is not a bundle
    assert e.value.code == "unknown_scene"


def test_localize_a_hit_of_the_demo_scene(client):
    """The embedded encoders and features place a struck part's sound among the demo's parts."""
    point, normal, _ = surface_point("steel")
    audio = client.contact("demo", point, normal, impulse=0.05, speed=2.0, striker="wood", seed=3)
    ranked = client.localize("demo", audio.pcm, audio.sample_rate, top_k=5)
    assert len(ranked) == 5 and all(r["level"] == "part" for r in ranked)
    assert all(BUNDLE.segment(r["id"]).level == "part" for r in ranked)
    parents = {s.id: s.parent for s in BUNDLE.segments}
    assert parents[audio.segment] in {r["id"] for r in ranked} or ranked[0]["material"] == "steel"


def test_stats_count_requests_and_latency(client):
    point, normal, _ = surface_point("wood")
    before = client.stats()
    for _ in range(5):
        client.contact("demo", point, normal, impulse=0.02, speed=1.0)
    stats = client.stats()
    assert stats["contacts"] == before["contacts"] + 5
    assert stats["requests"]["contact"] >= 5
    lat = stats["latency_ms"]
    assert lat["count"] >= 5 and 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert client.ping() > 0
