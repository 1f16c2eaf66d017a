"""Lifted features, feature bundles, `vaf scene` commands, and `localize` over a real server."""

from __future__ import annotations

import io
import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from vaf.runtime.client import Client, RemoteError, localize_message
from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.gaussians import write_ply
from vaf.runtime.localization import LOCALIZE_ROOM_SEED, SceneLocalizer
from vaf.runtime.room import Room, reverberate
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE
from vaf.runtime.wav import read_wav
from vaf import _native
from vaf.training.features.lift import LEVELS, EmbeddedView, lift_features, lift_views
from vaf.training.render.rasterizer import Contributions
from vaf.training.render.gsplat_renderer import cuda_driver_loads, gsplat_available
from vaf.training.features.masks import oracle_masks
from vaf.runtime.cameras import around_objects


def test_lifting_recovers_part_identity(painted_scene):
    """Every part painted a unique flat colour, embedded as the one-hot of the colour it shows:
    lifted part-level features then point at each Gaussian's own part."""
    b, parts, embed = painted_scene
    cams = around_objects(b.segments, 12, 96, np.random.default_rng(1))
    lifted = lift_features(b.gaussians, cams, oracle_masks(b.labels), embed, parts.size, 0.6, 64)
    seen = lifted.seen
    own = np.searchsorted(parts, b.labels[seen, 1])
    assert seen.mean() > 0.5
    # Boundary Gaussians spill weight onto neighbouring masks: about 94% here, never below 90%.
    assert np.mean(np.argmax(lifted.features[seen, 1], axis=1) == own) > 0.9


def lift_reference(views: list[EmbeddedView], count: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """lift.py's docstring formula as plain loops over every (pixel, Gaussian) pair, in float64."""
    acc, weight, front = np.zeros((count, len(LEVELS), dim)), np.zeros((count, len(LEVELS))), np.zeros(count)
    for v in views:
        for g in v.top.ravel()[v.top.ravel() >= 0]:
            front[g] += 1
        for pixel, g, w in zip(v.contributions.pixel, v.contributions.gaussian, v.contributions.weight):
            for level in range(len(LEVELS)):
                if v.mask_of_pixel[level, pixel] >= 0:
                    acc[g, level] += w * v.embeddings[level][v.mask_of_pixel[level, pixel]]
                    weight[g, level] += w
    seen = (front > 0) & (weight[:, 1] > 1e-6)
    feats = np.zeros_like(acc)
    for g in np.nonzero(seen)[0]:
        for level in range(len(LEVELS)):
            if np.linalg.norm(acc[g, level]) > 1e-9:
                feats[g, level] = acc[g, level] / np.linalg.norm(acc[g, level])
    return feats, seen


def test_lift_views_matches_its_formula_written_as_loops():
    """Random views over 40 Gaussians: some never front-most, some outside every mask at a level, one level
    with no masks in a view; the native in-place float32 lift equals the float64 loops."""
    rng = np.random.default_rng(3)
    count, dim, side = 40, 5, 6
    views = []
    for _ in range(4):
        pairs = 150
        pixel, gaussian = rng.integers(0, side * side, pairs), rng.integers(0, count - 5, pairs)  # the last 5: never hit
        top = np.where(rng.random((side, side)) < 0.8, rng.integers(0, count - 10, (side, side)), -1)
        masks = [int(rng.integers(0, 4)) for _ in LEVELS]
        mask_of_pixel = np.stack([np.where(rng.random(side * side) < 0.7, rng.integers(0, m, side * side), -1)
                                  if m else np.full(side * side, -1) for m in masks])
        views.append(EmbeddedView(Contributions(pixel, gaussian, rng.random(pairs)), top, mask_of_pixel,
                                  [rng.normal(size=(m, dim)).astype(np.float32) for m in masks]))
    assert any(not len(e) for v in views for e in v.embeddings)
    lifted = lift_views(views, count, dim)
    feats, seen = lift_reference(views, count, dim)
    assert lifted.features.dtype == np.float32 and lifted.features.shape == (count, len(LEVELS), dim)
    assert 0 < seen.sum() < count and lifted.views == 4
    np.testing.assert_array_equal(lifted.seen, seen)
    np.testing.assert_allclose(lifted.features, feats, atol=1e-6)


@pytest.mark.parametrize(("change", "message"), [
    (lambda a: a.update(features=a["features"].astype(np.float64)), "features must be a writable C-contiguous float32"),
    (lambda a: a.update(features=a["features"][:, :2]), "features must be a writable C-contiguous float32"),
    (lambda a: a.update(weight_sum=np.zeros((9, 3))), r"weight_sum must have shape \(10, 3\), got \(9, 3\)"),
    (lambda a: a["gaussian"].__setitem__(2, 10), r"gaussian\[2\] = 10 is outside 0..9"),
    (lambda a: a["pixel"].__setitem__(0, -1), r"pixel\[0\] = -1 is outside 0..15"),
    (lambda a: a["mask_of_pixel"].__setitem__((1, 3), 2), r"mask_of_pixel\[1, 3\] = 2 is not -1 or a row of embeddings\[1\]"),
    (lambda a: a.update(embeddings=a["embeddings"][:2]), r"mask_of_pixel must have shape \(2, N\), got \(3, 16\)"),
])
def test_native_lift_names_the_bad_argument_and_changes_nothing(change, message):
    """A bad argument to the native lift raises ValueError naming it, before any sum is touched."""
    rng = np.random.default_rng(0)
    args = dict(pixel=rng.integers(0, 16, 30).astype(np.int32), gaussian=rng.integers(0, 10, 30).astype(np.int32),
                weight=rng.random(30).astype(np.float32), mask_of_pixel=rng.integers(-1, 2, (3, 16)),
                embeddings=[np.ones((2, 4), np.float32)] * 3, features=np.zeros((10, 3, 4), np.float32),
                weight_sum=np.zeros((10, 3)))
    _native.lift_add_view(**args)
    assert args["weight_sum"].sum() > 0
    args["features"][:], args["weight_sum"][:] = 0, 0
    change(args)
    with pytest.raises(ValueError, match=message):
        _native.lift_add_view(**args)
    assert not args["weight_sum"].any() and not np.asarray(args["features"]).any()


def rank_reference(bundle: SceneBundle, embedding: np.ndarray, level: int, top_k: int) -> list[tuple[int, float, np.ndarray]]:
    """localization.py's docstring as plain loops: every seen Gaussian scored, each segment's mean score, and the
    top segments' centroids weighted by how far each Gaussian scores above its segment's mean (+ 1e-3)."""
    seen = np.abs(bundle.features[:, 1, :].astype(np.float64)).max(axis=1) > 0
    scores = bundle.features[:, level, :].astype(np.float64) @ embedding
    members = {}
    for g in np.nonzero(seen)[0]:
        members.setdefault(int(bundle.labels[g, level]), []).append(g)
    mean = {s: float(np.mean(scores[g])) for s, g in members.items()}
    out = []
    for s in sorted(mean, key=lambda s: -mean[s])[:top_k]:
        w = np.maximum(scores[members[s]] - mean[s], 0.0) + 1e-3
        out.append((s, mean[s], (w[:, None] * bundle.gaussians.positions[members[s]]).sum(0) / w.sum()))
    return out


def test_localizer_ranks_like_its_definition_written_as_loops(feature_scene):
    bundle = SceneBundle.load(feature_scene)
    localizer = SceneLocalizer(bundle)
    rng = np.random.default_rng(0)
    for level, name in enumerate(("subpart", "part", "object")):
        for _ in range(5):
            embedding = rng.normal(size=bundle.features.shape[2])
            embedding /= np.linalg.norm(embedding)
            got = localizer.rank(embedding.astype(np.float32), name, 4)
            expected = rank_reference(bundle, embedding, level, 4)
            assert [s.id for s in got] == [s for s, _, _ in expected]
            np.testing.assert_allclose([s.score for s in got], [m for _, m, _ in expected], atol=2e-6)
            np.testing.assert_allclose([s.position for s in got], [c for _, _, c in expected], atol=1e-4)


def test_feature_bundle_round_trip(feature_scene, tmp_path):
    b = SceneBundle.load(feature_scene)
    assert b.features.dtype == np.float16 and b.features.shape[:2] == (len(b.gaussians), 3)
    assert b.features_source["views"] == 12
    copy = SceneBundle.load(b.save(tmp_path / "copy"))
    assert np.array_equal(copy.features, b.features)


def run_vaf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vaf", *args], capture_output=True, text=True, timeout=600)


def test_scene_import_and_build_commands(tiny_encoders, tmp_path):
    b = SceneBundle.load(DEMO_SCENE)
    write_ply(b.gaussians, tmp_path / "capture.ply")
    result = run_vaf("scene", "import", str(tmp_path / "capture.ply"), "--out", str(tmp_path / "imported"), "--up=-y")
    assert result.returncode == 0, result.stderr
    imported = SceneBundle.load(tmp_path / "imported")
    assert imported.up == "-y" and len(imported.gaussians) == len(b.gaussians) and len(imported.segments) == 3
    assert (tmp_path / "imported" / "gaussians.ply").read_bytes() == (tmp_path / "capture.ply").read_bytes()
    (tmp_path / "junk.ply").write_bytes(b"ply\nformat nonsense\n")
    bad = run_vaf("scene", "import", str(tmp_path / "junk.ply"), "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "junk.ply" in bad.stderr
    built = run_vaf("scene", "build", str(tmp_path / "imported"), "--out", str(tmp_path / "built"), "--encoders",
                    str(tiny_encoders.path), "--views", "4", "--image-size", "48")
    assert built.returncode == 0, built.stderr
    assert "single part" in built.stderr and "--sam-checkpoint" in built.stderr  # a plain import: warned
    assert SceneBundle.load(tmp_path / "built").features.shape == (len(b.gaussians), 3, tiny_encoders.dim)
    assert SceneBundle.load(tmp_path / "built").features_source["renderer"] in ("cpu", "gsplat")  # what auto chose
    if not gsplat_available():
        gpu = run_vaf("scene", "build", str(tmp_path / "imported"), "--out", str(tmp_path / "gpu"), "--encoders",
                      str(tiny_encoders.path), "--renderer", "gsplat")
        assert gpu.returncode == 2 and "CUDA" in gpu.stderr and not (tmp_path / "gpu").exists()
    no_sam = run_vaf("scene", "build", str(tmp_path / "imported"), "--out", str(tmp_path / "sam"), "--encoders",
                     str(tiny_encoders.path), "--sam-checkpoint", str(tmp_path / "sam_vit_b.pth"))
    assert no_sam.returncode == 2 and "sam checkpoint" in no_sam.stderr and not (tmp_path / "sam").exists()
    again = run_vaf("scene", "build", str(tmp_path / "imported"), "--out", str(tmp_path / "built"), "--encoders",
                    str(tiny_encoders.path))
    assert again.returncode == 2 and "not empty" in again.stderr


def test_a_scene_build_stopped_with_ctrl_c_says_so_and_writes_nothing(tiny_encoders, tmp_path, start_interruptible):
    build = start_interruptible("scene", "build", str(DEMO_SCENE), "--out", str(tmp_path / "built"), "--encoders",
                                str(tiny_encoders.path), "--views", "60", "--image-size", "256",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    started = b""
    while b"views" not in started:  # the progress bar: the views are being rendered
        chunk = build.stderr.read1(256)
        assert chunk, f"the build ended before its views: {started.decode()}"
        started += chunk
    build.send_signal(signal.SIGINT)
    _, err = build.communicate(timeout=120)
    assert build.returncode == 130, err.decode()
    assert err.decode().rstrip().endswith("vaf scene build: stopped") and "Traceback" not in err.decode()
    assert not (tmp_path / "built").exists()


@pytest.mark.parametrize("renderer", ["cpu", "auto"])
def test_a_cpu_scene_build_runs_without_torch(tiny_encoders, tmp_path, renderer):
    """`vaf scene build --renderer cpu` with the bundle's own masks needs numpy and ONNX only: torch's ~0.6 GB
    (resident) and ~1.5 s of start-up are not paid for a capture's build. Nor by `auto` where no CUDA driver is,
    though gsplat is installed."""
    if renderer == "auto" and cuda_driver_loads():
        pytest.skip("a CUDA driver is here: auto asks torch whether it sees the GPU")
    code = ("import sys; from vaf.cli import main; "
            f"rc = main(['scene', 'build', {str(DEMO_SCENE)!r}, '--out', {str(tmp_path / 'built')!r}, '--encoders', "
            f"{str(tiny_encoders.path)!r}, '--views', '2', '--image-size', '48', '--renderer', {renderer!r}]); "
            "print('torch loaded' if 'torch' in sys.modules else 'no torch'); sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("no torch")
    assert SceneBundle.load(tmp_path / "built").features_source["renderer"] == "cpu"


@pytest.fixture()
def localize_server(start_server, tiny_encoders, feature_scene):
    srv = start_server(["--encoders", str(tiny_encoders.path), "--scene", str(feature_scene), "--scene", "demo"])
    srv.wait_ready()
    return srv


def hit_clip(tiny_dataset):
    wav = next((tiny_dataset / "scene_0000" / "audio").glob("*.wav"))
    return read_wav(wav)


def test_localize_over_the_wire(localize_server, feature_scene, tiny_dataset):
    audio, rate = hit_clip(tiny_dataset)
    with Client(localize_server.endpoint, timeout=30.0) as c:
        assert "localize" in c.hello()["capabilities"]
        scene = c.load_scene(feature_scene.name)
        segments = c.localize(scene.scene_id, audio, rate, top_k=4)
        assert len(segments) == 4 and all(s["level"] == "part" for s in segments)
        scores = [s["score"] for s in segments]
        assert scores == sorted(scores, reverse=True)
        for s in segments:
            lo, hi = np.array(s["bbox"][0]), np.array(s["bbox"][1])
            assert np.all(np.array(s["position"]) >= lo - 1e-4) and np.all(np.array(s["position"]) <= hi + 1e-4)
        as_s16 = c.localize(scene.scene_id, np.rint(audio * 32767).astype(np.int16), rate, top_k=1, level="object")
        assert as_s16[0]["level"] == "object"
        assert c.stats()["localizations"] == 2


def test_localize_hears_a_clip_in_the_room_it_is_given(localize_server, feature_scene, tiny_dataset):
    """`room`: the server hears the clip in that room (always the same tail) before embedding it, so the answer is the
    one for the clip the client reverberates with that tail itself, and not the one for the clip as sent; hello names
    the room the encoders' training recordings were heard in (the tiny world's); a bad room names its field."""
    audio, rate = hit_clip(tiny_dataset)
    world_rt60 = json.loads((tiny_dataset / "dataset.json").read_text())["config"]["rt60"]
    with Client(localize_server.endpoint, timeout=30.0) as c:
        room = c.hello()["localize_room"]
        assert room == {"rt60_s": world_rt60, "direct_to_reverb_db": Room(world_rt60).direct_to_reverb_db}
        scene = c.load_scene(feature_scene.name).scene_id
        in_room = c.localize(scene, audio, rate, top_k=16, room=room)
        heard = reverberate(audio, Room(**room), rate, LOCALIZE_ROOM_SEED)
        reverberated_here = c.localize(scene, heard, rate, top_k=16)
        as_sent = c.localize(scene, audio, rate, top_k=16)
        assert [s["id"] for s in in_room] == [s["id"] for s in reverberated_here]
        assert [s["score"] for s in in_room] == pytest.approx([s["score"] for s in reverberated_here], abs=1e-4)
        assert [s["score"] for s in in_room] != pytest.approx([s["score"] for s in as_sent], abs=1e-3)
        with pytest.raises(RemoteError) as e:
            c.request("localize", **localize_message(scene, audio, rate, room={"rt60_s": 9.0}))
        assert e.value.code == "bad_field" and e.value.field == "room.rt60_s"


@pytest.mark.parametrize(
    ("audio", "rate", "code", "field"),
    [
        (np.zeros(0, np.float32), 48000, "bad_field", "audio"),
        (np.array([0.1, np.nan] * 2400, np.float32), 48000, "bad_field", "audio"),
        (np.zeros(4800, np.float32), 48000, "bad_field", "audio"),
        (np.full(4800, 0.1, np.float32), 1000, "bad_field", "sample_rate"),
        (np.full(20, 0.1, np.float32), 48000, "bad_field", "audio"),
        (np.full(24000 * 11, 0.01, np.int16), 24000, "bad_field", "audio"),
        (np.full(48000 * 11, 0.01, np.int16), 48000, "too_large", None),
    ],
    ids=["empty", "nan", "silent", "wrong rate", "too short", "too long", "over 1 MiB"],
)
def test_localize_bad_audio(localize_server, feature_scene, audio, rate, code, field):
    with Client(localize_server.endpoint, timeout=30.0) as c:
        with pytest.raises(RemoteError) as e:
            c.request("localize", **localize_message(feature_scene.name, audio, rate))
        assert e.value.code == code and e.value.field == field
        assert c.ping() > 0


def test_localize_heatmap_for_a_camera(localize_server, feature_scene, tiny_dataset):
    audio, rate = hit_clip(tiny_dataset)
    camera = {"position": [2.0, 1.8, 2.0], "target": [0.0, 0.6, 0.0], "fov_deg": 60.0, "width": 160, "height": 96}
    with Client(localize_server.endpoint, timeout=30.0) as c:
        reply = c.request("localize", **localize_message(feature_scene.name, audio, rate), camera=camera)
        image = Image.open(io.BytesIO(reply["heatmap"]))
        assert reply["heatmap_media_type"] == "image/png" and image.size == (160, 96)
        pixels = np.asarray(image).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 10  # a scene was drawn, not a blank frame
        for bad, field in (({**camera, "width": 5000}, "camera.width"), ({**camera, "target": camera["position"]}, "camera.target"),
                           ({**camera, "position": [0, 1]}, "camera.position"), ("front", "camera"),
                           ({**camera, "position": [0.0, 3.0, 0.0], "target": [0.0, 0.0, 0.0]}, "camera")):
            with pytest.raises(RemoteError) as e:
                c.request("localize", **localize_message(feature_scene.name, audio, rate), camera=bad)
            assert e.value.code == "bad_field" and e.value.field == field


def test_ten_minute_clip_drops_only_that_connection(localize_server, feature_scene):
    """115 MB is over the 16 MiB transport cap: libzmq closes that connection, the server goes on."""
    with Client(localize_server.endpoint, timeout=3.0) as c:
        with pytest.raises(TimeoutError):
            c.request("localize", **localize_message(feature_scene.name, np.full(48000 * 600, 0.01, np.float32), 48000))
    with Client(localize_server.endpoint, timeout=30.0) as c:
        assert c.ping() > 0 and localize_server.alive()


def test_localize_needs_features_and_encoders(localize_server, start_server, tiny_dataset):
    audio, rate = hit_clip(tiny_dataset)
    with Client(localize_server.endpoint, timeout=30.0) as c:
        plain = c.load_scene(str(tiny_dataset / "scene_0000" / "bundle"))
        assert plain.scene_id and not c.request("load_scene", scene=plain.scene_id)["localize"]
        with pytest.raises(RemoteError) as e:
            c.localize(plain.scene_id, audio, rate)
        assert e.value.code == "no_features"
    bare = start_server(["--no-encoders"])
    bare.wait_ready()
    with Client(bare.endpoint, timeout=30.0) as c:
        assert "localize" not in c.hello()["capabilities"]
        with pytest.raises(RemoteError) as e:
            c.localize("demo", audio, rate)
        assert e.value.code == "unsupported"


def test_optimized_field_recovers_part_identity_and_builds_a_scene(painted_scene, feature_scene, tiny_encoders, tmp_path):
    """The LangSplat-style field (3-d latents through an autoencoder, fit to the views) keeps the parts apart
    (here ~87% against the closed-form lift's ~94%: the 3-d bottleneck costs some), and scene build takes it.
    Views whose pairs the cache cannot hold are rendered again when drawn: the same pairs (the native render is
    deterministic), so the same fit up to the order of torch's CPU reductions."""
    from vaf.export.scene_build import build_feature_scene
    from vaf.training.features.field import fit_feature_field

    b, parts, embed = painted_scene
    cams = around_objects(b.segments, 12, 96, np.random.default_rng(1))
    field = fit_feature_field(b.gaussians, cams, oracle_masks(b.labels), embed, parts.size, 0.6, 64, steps=100)
    own = np.searchsorted(parts, b.labels[field.seen, 1])
    assert field.seen.mean() > 0.5
    assert np.mean(np.argmax(field.features[field.seen, 1], axis=1) == own) > 0.75
    np.testing.assert_allclose(np.linalg.norm(field.features[field.seen], axis=2), 1.0, atol=1e-4)
    uncached = fit_feature_field(b.gaussians, cams, oracle_masks(b.labels), embed, parts.size, 0.6, 64, steps=100,
                                 cache_bytes=0)
    np.testing.assert_allclose(uncached.features, field.features, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(uncached.seen, field.seen)
    built = build_feature_scene(feature_scene.parent / "plain", tmp_path / "optimized", tiny_encoders, views=3,
                                image_size=64, progress=False, field="optimized")
    assert built.features_source["field"] == "optimized"
    assert SceneBundle.load(tmp_path / "optimized").features.shape == (len(b.gaussians), 3, tiny_encoders.dim)
    with pytest.raises(ValueError, match="field must be one of"):
        build_feature_scene(feature_scene.parent / "plain", tmp_path / "x", tiny_encoders, views=3, field="magic")


def test_held_out_scenes_find_their_own_recordings_and_seldom_other_parts_sounds(tiny_dataset):
    """The evaluations' localizer (`HeldOutScene`, embedded encoders, features lifted from 4 views) finds each tiny
    scene's recordings on their part (top 3) far more often than the same recordings moved to a part of another
    kind: what the generator evaluation's "localised" column rests on."""
    from vaf.runtime.encoders import OnnxEncoders
    from vaf.training.data.capture import read_hits
    from vaf.training.eval.localization import HeldOutScene

    encoders, own, moved = OnnxEncoders.load(), [], []
    for folder in sorted(p for p in tiny_dataset.iterdir() if p.is_dir()):
        scene = HeldOutScene.lift(folder, encoders, views=4)
        assert set(scene.seen_parts) <= set(scene.kinds) and scene.accepted(-1) == set()
        hits = [h for h in read_hits(folder / "hits.jsonl") if scene.accepted(h.part)]
        embeddings = [encoders.embed_sound(*read_wav(folder / h.wav)) for h in hits]
        for i, hit in enumerate(hits):
            assert hit.part in scene.accepted(hit.part)
            own.append(scene.found(embeddings[i], hit.part, 3))
            other = next(((i + d) % len(hits) for d in range(1, len(hits))
                          if scene.kinds[hits[(i + d) % len(hits)].part] != scene.kinds[hit.part]), None)
            if other is not None:
                moved.append(scene.found(embeddings[other], hit.part, 3))
    assert len(own) >= 40 and len(moved) >= 40
    assert np.mean(own) >= 0.75 and np.mean(own) >= np.mean(moved) + 0.25, (np.mean(own), np.mean(moved))


def test_the_localization_evaluation_beats_chance_on_the_tiny_world(tiny_dataset):
    """`vaf eval localize`'s whole path: the embedded encoders against the untrained ones and a random part."""
    from vaf.training.eval.localization import evaluate_localization, results_table

    report = evaluate_localization(tiny_dataset, views=4, physics_clips=True)
    accuracy = report["accuracy"]
    assert report["hits"] + report["skipped_hits"] == 16 and report["hits"] >= 12
    assert all(0 <= a["acc1"] <= a["acc3"] <= 1 for a in accuracy.values())
    assert accuracy["trained encoders"]["acc3"] >= accuracy["random part"]["acc3"] + 0.2
    dry, in_room = (accuracy[f"trained encoders, dry physics clips {how}"] for how in ("as sent", "heard in the encoders' room"))
    assert dry != in_room  # the room was heard
    assert max(dry["acc3"], in_room["acc3"]) >= accuracy["random part"]["acc3"] + 0.2
    assert results_table(report, "vaf eval localize").count("\n| ") == 6


def test_physics_clips_need_the_encoders_room_and_a_world_with_acoustics(tiny_dataset, tmp_path):
    from vaf.training.eval.localization import evaluate_localization

    roomless = tmp_path / "encoders"
    shutil.copytree(OnnxEncoders.load().path, roomless)
    manifest = json.loads((roomless / "encoders.json").read_text())
    del manifest["audio"]["recordings_room"]
    (roomless / "encoders.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="recordings_room"):
        evaluate_localization(tiny_dataset, roomless, views=4, physics_clips=True)
    captured = tmp_path / "captured"
    shutil.copytree(tiny_dataset, captured)
    for manifest_path in captured.glob("*/bundle/manifest.json"):  # as a real capture: no ground-truth acoustics
        bundle_manifest = json.loads(manifest_path.read_text())
        (manifest_path.parent / bundle_manifest["acoustics"]).unlink()
        bundle_manifest["acoustics"] = None
        manifest_path.write_text(json.dumps(bundle_manifest))
    with pytest.raises(ValueError, match="no ground-truth acoustics"):
        evaluate_localization(captured, views=4, physics_clips=True)
