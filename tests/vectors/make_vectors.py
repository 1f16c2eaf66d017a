"""Regenerates the protocol v1 test vectors in this folder from the runtime's own handler.

    .venv/bin/python tests/vectors/make_vectors.py

Writes NAME.request.msgpack, NAME.reply.K.msgpack and index.json. A client in any language
replays each request against a real server and compares the replies by the rules in
index.json: fields listed in "exact" must be equal after decoding, "pcm" within
"pcm_tolerance" (int16 steps; the native synthesizer's float rounding may differ by CPU),
every other field must be present with the same msgpack type.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgpack

import numpy as np

from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.generators import GeneratorSet
from vaf.runtime.recipe_model import OnnxRecipeModel
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE, SceneCatalog
from vaf.runtime.service import Service
from vaf.runtime.synthesis import Excitation, ImpactRecipe, render

HERE = Path(__file__).resolve().parent
ENVELOPE = ["op", "id"]
AUDIO = ENVELOPE + ["seq", "last", "sample_rate", "format", "channels", "frames", "segment", "segments", "material", "generator"]
ERROR = ENVELOPE + ["code", "field"]


def demo_point() -> tuple[list[float], list[float]]:
    a = SceneBundle.load(DEMO_SCENE).acoustics
    i = next(i for i in range(a.points.shape[0]) if a.unit_material[a.unit[i]] == "ceramic")
    return [round(float(x), 6) for x in a.points[i]], [round(float(x), 6) for x in a.normals[i]]


def demo_clip() -> bytes:
    """0.3 s of s16 at 48 kHz: a steel ball on the demo scene's first ceramic sample (the true recipe)."""
    a = SceneBundle.load(DEMO_SCENE).acoustics
    i = next(i for i in range(a.points.shape[0]) if a.unit_material[a.unit[i]] == "ceramic")
    u = a.unit[i]
    recipe = ImpactRecipe(a.freq_hz[u], a.decay_per_s[u], a.gains[i], *(float(x) for x in a.noise[u]))
    pcm = render(recipe, Excitation.from_materials(0.05, 1.0, "steel", "ceramic"), 48000, 14400, seed=1, format="s16")
    return np.asarray(pcm, "<i2").tobytes()


def vectors() -> list[dict]:
    position, normal = demo_point()
    hit = {"scene_id": "demo", "position": position, "normal": normal, "impulse": 0.03, "speed": 1.2,
           "striker": "steel", "seed": 42}
    v = lambda op, rid, **f: {"v": 1, "op": op, "id": rid, **f}  # noqa: E731
    return [
        {"name": "ping", "request": v("ping", 1), "exact": ENVELOPE},
        {"name": "hello", "request": v("hello", 2), "exact": ENVELOPE + ["protocol", "capabilities"]},
        {"name": "load_scene", "request": v("load_scene", 3, scene="demo"),
         "exact": ENVELOPE + ["scene_id", "name", "units", "up", "handedness", "gaussians", "segments", "assets", "generators"]},
        {"name": "scene_asset_preview_head", "request": v("scene_asset", 4, scene_id="demo", asset="preview", offset=0, max_bytes=64),
         "exact": ENVELOPE + ["scene_id", "asset", "media_type", "total_bytes", "offset", "data", "last"]},
        {"name": "contact_s16", "request": v("contact", 5, **hit), "exact": AUDIO, "pcm_tolerance": 2},
        {"name": "contact_f32_22k_stream", "request": v("contact", 6, **hit, format="f32", sample_rate=22050, duration=0.25, stream=True),
         "exact": AUDIO, "pcm_tolerance": 2},
        {"name": "contacts_batch", "request": v("contacts", 7, contacts=[{**hit, "id": 70}, {**hit, "id": 71, "impulse": -1.0}]),
         "exact": AUDIO + ["code", "field", "count", "failed"], "pcm_tolerance": 2},
        {"name": "error_not_msgpack", "request_bytes": b"\xc1not msgpack", "exact": ERROR},
        {"name": "error_not_a_map", "request": [1, 2, 3], "exact": ERROR},
        {"name": "error_missing_version", "request": {"op": "ping", "id": 8}, "exact": ERROR},
        {"name": "error_unknown_op", "request": v("teleport", 9), "exact": ERROR},
        {"name": "error_nan_impulse", "request": v("contact", 10, **{**hit, "impulse": float("nan")}), "exact": ERROR},
        {"name": "error_off_surface", "request": v("contact", 11, **{**hit, "position": [0.0, 5.0, 0.0]}), "exact": ERROR},
        {"name": "error_unknown_scene", "request": v("load_scene", 12, scene="atlantis"), "exact": ERROR},
        {"name": "localize", "request": v("localize", 13, scene_id="demo", audio=demo_clip(), format="s16", sample_rate=48000,
                                          top_k=3, level="part"),
         "exact": ENVELOPE + ["scene_id", "level"]},
        {"name": "error_localize_silent", "request": v("localize", 14, scene_id="demo", audio=bytes(9600), format="s16",
                                                        sample_rate=48000), "exact": ERROR},
        {"name": "error_unsupported_shape", "request": v("shape", 15), "exact": ERROR},
        {"name": "contact_f32_room", "request": v("contact", 16, **hit, format="f32", room={"rt60_s": 0.4, "direct_to_reverb_db": 6.0}),
         "exact": AUDIO, "pcm_tolerance": 2},
        {"name": "error_bad_room", "request": v("contact", 17, **hit, room={"rt60_s": 99.0}), "exact": ERROR},
        {"name": "contact_detune", "request": v("contact", 18, **hit, detune=0.05), "exact": AUDIO, "pcm_tolerance": 2},
        {"name": "localize_dry_in_room", "request": v("localize", 19, scene_id="demo", audio=demo_clip(), format="s16",
                                                      sample_rate=48000, room={"rt60_s": 0.3, "direct_to_reverb_db": 6.0}),
         "exact": ENVELOPE + ["scene_id", "level"]},
    ]


def main() -> None:
    # as `vaf serve` runs by default: the embedded encoders and real-time generator
    service = Service(SceneCatalog(["demo"]), encoders=OnnxEncoders.load(), generator_set=GeneratorSet.default(OnnxRecipeModel.load()))
    index = []
    for vec in vectors():
        request = vec.pop("request_bytes", None) or msgpack.packb(vec["request"], use_bin_type=True)
        replies = [msgpack.packb(r, use_bin_type=True) for r in service.handle(request)]
        name = vec["name"]
        (HERE / f"{name}.request.msgpack").write_bytes(request)
        for k, reply in enumerate(replies):
            (HERE / f"{name}.reply.{k}.msgpack").write_bytes(reply)
        entry = {"name": name, "request": f"{name}.request.msgpack",
                 "replies": [f"{name}.reply.{k}.msgpack" for k in range(len(replies))],
                 "exact": vec["exact"], "pcm_tolerance": vec.get("pcm_tolerance")}
        try:  # the decoded request, where JSON can hold it (not raw bytes, not NaN)
            entry["request_value"] = json.loads(json.dumps(vec["request"], allow_nan=False))
        except (KeyError, ValueError, TypeError):
            pass
        index.append(entry)
    (HERE / "index.json").write_text(json.dumps({"protocol": 1, "vectors": index}, indent=1) + "\n")
    print(f"wrote {len(index)} vectors to {HERE}")


if __name__ == "__main__":
    main()
