"""The request handler behind the server: one frame in, a stream of reply maps out.

Transport-free, so the single-process server and every worker behind the proxy run the
same code. A request never raises out of :meth:`Service.handle`: every failure becomes an
error reply with a stable code.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Iterator

import numpy as np

import vaf
from vaf.runtime import generators
from vaf.runtime.cameras import PinholeCamera, look_at
from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.baked import render_baked
from vaf.runtime.localization import localize_embedding
from vaf.runtime.room import reverberate
from vaf.runtime.materials import MATERIALS
from vaf.runtime.protocol import (
    FORMATS,
    MAX_BATCH,
    MAX_DURATION_S,
    MAX_MESSAGE_BYTES,
    OPS,
    SAMPLE_RATES,
    STREAM_CHUNK_S,
    STREAM_FIRST_S,
    VERSION,
    ContactRequest,
    ErrorCode,
    LocalizeRequest,
    ProtocolError,
    check_envelope,
    error_reply,
    field_str,
    field_uint,
    request_id,
    unpack,
)
from vaf.runtime.scenes import ASSETS, DEFAULT_SURFACE_TOLERANCE, WARM_AUTO_LIMIT, WARM_POLICIES, LoadedScene, SceneCatalog
from vaf.runtime.stats import ServiceStats
from vaf.runtime.synthesis import Excitation, as_format, render, render_batch, voice

log = logging.getLogger("vaf.runtime")

MODEL_OPS = ("localize", "shape")  # listed in capabilities only when their models are loaded
MAX_ASSET_CHUNK = 4 << 20
DEFAULT_ASSET_CHUNK = 1 << 20
DEFAULT_STRIKER = "rubber"
DEFAULT_TARGET = "wood"  # when a scene does not know what a surface is made of


@dataclass
class _Job:
    """A validated contact ready to render."""

    request: ContactRequest
    source: generators.SoundSource
    excitation: Excitation
    seed: int
    distance: float  # metres from the request's position to the nearest surface patch
    index: int  # surface sample index
    generator: str


class Service:
    def __init__(self, catalog: SceneCatalog, surface_tolerance: float = DEFAULT_SURFACE_TOLERANCE,
                 encoders: OnnxEncoders | None = None, generator_set: generators.GeneratorSet | None = None,
                 warm: str = "auto"):
        """warm: when a scene loads, generate for every surface sample at once (GeneratorSet.warm), so no
        contact pays for a first hit on its spot: "always", "never", or "auto" (scenes of at most
        WARM_AUTO_LIMIT surface samples)."""
        if warm not in WARM_POLICIES:
            raise ValueError(f"warm = {warm!r} must be one of {', '.join(WARM_POLICIES)}")
        self.catalog = catalog
        self.generators = generator_set or generators.GeneratorSet.default()
        self.surface_tolerance = surface_tolerance
        self.warm = warm
        self.encoders = encoders
        self.capabilities = [op for op in OPS if op not in MODEL_OPS] + (["localize"] if encoders else [])
        realtime = [g for g in self.generators.generators if isinstance(g, generators.RealtimeGenerator)]
        self.recordings_room = realtime[0].model.room if realtime else None  # a contact's room to hear them as recorded
        self.stats = ServiceStats()
        self._seeds = itertools.count(1)

    # --- entry point -------------------------------------------------------------------------

    def handle(self, frame: bytes) -> Iterator[dict]:
        """Replies to one request frame, lazily: a streamed contact's first chunk leaves before the rest is rendered."""
        started = time.perf_counter()
        rid = None
        try:
            message = unpack(frame)  # frames are at most HARD_MESSAGE_BYTES (ZMQ_MAXMSGSIZE)
            rid = request_id(message)  # decoded first so even a too_large error carries the id
            if len(frame) > MAX_MESSAGE_BYTES:
                raise ProtocolError(ErrorCode.TOO_LARGE, f"request of {len(frame)} bytes exceeds {MAX_MESSAGE_BYTES}")
            op, rid = check_envelope(message)
            self.stats.requests[op] += 1
            yield from getattr(self, f"_op_{op}")(message, rid, started)
        except ProtocolError as e:
            yield self.error(rid, e)
        except Exception:  # a bug must not take the server down
            log.exception("internal error", extra={"fields": {"id": rid}})
            yield self.error(rid, ProtocolError(ErrorCode.INTERNAL, "internal server error (logged on the server)"))

    def error(self, rid: int | None, error: ProtocolError) -> dict:
        self.stats.errors[error.code.value] += 1
        return error_reply(rid, error)

    # --- ops ---------------------------------------------------------------------------------

    def _op_ping(self, m, rid, started):
        yield {"op": "pong", "id": rid, "time": time.time()}

    def _op_hello(self, m, rid, started):
        yield {
            "op": "hello",
            "id": rid,
            "server": f"vaf-bridge {vaf.__version__}",
            "protocol": VERSION,
            "capabilities": self.capabilities,
            "scenes": self._scene_list(),
            "limits": {"max_message_bytes": MAX_MESSAGE_BYTES, "max_batch": MAX_BATCH, "sample_rates": list(SAMPLE_RATES),
                       "formats": list(FORMATS), "max_duration_s": MAX_DURATION_S,
                       "surface_tolerance_m": self.surface_tolerance},
            "strikers": sorted(MATERIALS),
            "generators": self.generators.names,
            "recordings_room": None if self.recordings_room is None else asdict(self.recordings_room),
            "localize_room": None if self.encoders is None or self.encoders.recordings_room is None
            else asdict(self.encoders.recordings_room),
        }

    def _op_scenes(self, m, rid, started):
        yield {"op": "scenes", "id": rid, "scenes": self._scene_list()}

    def _scene_list(self) -> list[dict]:
        out = []
        for name in self.catalog.paths:
            loaded = self.catalog.loaded.get(name)
            out.append({"name": name, "loaded": loaded is not None,
                        "generators": self.generators.available(loaded) if loaded else None,
                        "localize": loaded.localizer is not None if loaded else None})
        return out

    def _op_load_scene(self, m, rid, started):
        scene = self._scene(field_str(m, "scene"), "scene")
        b = scene.bundle
        yield {
            "op": "scene",
            "id": rid,
            "scene_id": scene.scene_id,
            "name": b.name,
            "units": b.units,
            "up": b.up,
            "handedness": b.handedness,
            "gaussians": len(b.gaussians),
            "segments": [{k: v for k, v in s.__dict__.items() if v is not None} for s in b.segments],
            "assets": [{"name": name, "bytes": len(data), "media_type": media}
                       for name in ASSETS for data, media in [scene.asset(name)] if data is not None],
            "generators": self.generators.available(scene),
            "localize": scene.localizer is not None and self.encoders is not None
            and scene.bundle.features_source.get("encoders") == self.encoders.fingerprint,
        }

    def load(self, ref: str) -> LoadedScene:
        """The scene by name or path, loaded (and warmed, if the service warms) on first use.
        KeyError, PermissionError, ValueError or OSError as SceneCatalog.load."""
        scene_id, _ = self.catalog.resolve(ref)
        fresh = scene_id not in self.catalog.loaded
        scene = self.catalog.load(ref)
        if fresh and self.warms(scene):
            started = time.perf_counter()
            self.generators.warm(scene)
            log.info("scene warmed", extra={"fields": {"scene_id": scene_id, "surface_samples": len(scene.surface.points),
                                                       "seconds": round(time.perf_counter() - started, 3)}})
        return scene

    def warms(self, scene: LoadedScene) -> bool:
        """Whether loading this scene warms it, by the service's warm policy."""
        return self.warm == "always" or (self.warm == "auto" and len(scene.surface.points) <= WARM_AUTO_LIMIT)

    def _scene(self, ref: str, field: str) -> LoadedScene:
        try:
            return self.load(ref)
        except KeyError:
            known = ", ".join(self.catalog.paths) or "none"
            raise ProtocolError(ErrorCode.UNKNOWN_SCENE, f"unknown scene {ref!r} (known: {known}; or an absolute bundle path)", field) from None
        except PermissionError as e:
            raise ProtocolError(ErrorCode.UNKNOWN_SCENE, str(e), field) from None
        except (ValueError, OSError) as e:
            raise ProtocolError(ErrorCode.SCENE_LOAD_FAILED, f"scene {ref!r} could not be loaded: {e}", field) from None

    def _op_scene_asset(self, m, rid, started):
        scene = self._scene(field_str(m, "scene_id"), "scene_id")
        name = field_str(m, "asset")
        if name not in ASSETS:
            raise ProtocolError(ErrorCode.UNKNOWN_ASSET, f"unknown asset {name!r} (known: {', '.join(ASSETS)})", "asset")
        data, media_type = scene.asset(name)
        if data is None:
            raise ProtocolError(ErrorCode.UNKNOWN_ASSET, f"scene {scene.scene_id!r} has no {name} asset", "asset")
        offset = field_uint(m, "offset", 0, len(data), 0)
        size = field_uint(m, "max_bytes", 1, MAX_ASSET_CHUNK, DEFAULT_ASSET_CHUNK)
        chunk = data[offset : offset + size]
        yield {"op": "asset", "id": rid, "scene_id": scene.scene_id, "asset": name, "media_type": media_type,
               "total_bytes": len(data), "offset": offset, "data": chunk, "last": offset + len(chunk) >= len(data)}

    def _op_stats(self, m, rid, started):
        yield {"op": "stats", "id": rid, **self.stats.snapshot(), "scenes_loaded": sorted(self.catalog.loaded)}

    def _op_localize(self, m, rid, started):
        if self.encoders is None:
            raise ProtocolError(ErrorCode.UNSUPPORTED, "localize is not available: no audio encoder is loaded on this server", "op")
        r = LocalizeRequest.parse(m, rid)
        scene = self._scene(r.scene_id, "scene_id")
        if scene.localizer is None:
            raise ProtocolError(ErrorCode.NO_FEATURES, f"scene {scene.scene_id!r} has no per-Gaussian features "
                                "(make them with `vaf scene build`)", "scene_id")
        made_by = scene.bundle.features_source.get("encoders")
        if made_by != self.encoders.fingerprint:
            raise ProtocolError(ErrorCode.NO_FEATURES, f"scene {scene.scene_id!r} features were made by encoders {made_by}, "
                                f"this server runs {self.encoders.fingerprint}: rebuild them with `vaf scene build`", "scene_id")
        try:
            embedding = localize_embedding(self.encoders, r.audio, r.sample_rate, r.room)
        except ValueError as e:  # e.g. nothing left after denoising
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'audio' cannot be used: {e}", "audio") from None
        segments = scene.localizer.rank(embedding, r.level, r.top_k)
        reply = {"op": "localized", "id": rid, "scene_id": scene.scene_id, "level": r.level,
                 "segments": [{k: v for k, v in seg.__dict__.items() if v is not None} for seg in segments]}
        if r.camera is not None:
            reply["heatmap"] = scene.localizer.heatmap(embedding, self._camera(scene, r.camera), r.level)
            reply["heatmap_media_type"] = "image/png"
        self.stats.localizations += 1
        yield {**reply, "gen_ms": round((time.perf_counter() - started) * 1e3, 4)}

    @staticmethod
    def _camera(scene: LoadedScene, c: dict) -> PinholeCamera:
        axis = {"x": 0, "y": 1, "z": 2}[scene.bundle.up[1]]
        up = np.zeros(3)
        up[axis] = 1.0 if scene.bundle.up[0] == "+" else -1.0
        try:
            return look_at(np.array(c["position"]), np.array(c["target"]), up, c["fov_deg"], c["width"], c["height"])
        except ValueError as e:  # looking straight along the up axis
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'camera': {e}", "camera") from None

    def _op_shape(self, m, rid, started):
        raise ProtocolError(ErrorCode.UNSUPPORTED, "shape is not available: no audio-to-shape model is loaded on this server", "op")

    def _op_contact(self, m, rid, started):
        yield from self._sound([ContactRequest.parse(m, rid)], started)

    def _op_contacts(self, m, rid, started):
        items = m.get("contacts")
        if not isinstance(items, list) or not items:
            raise ProtocolError(ErrorCode.MISSING_FIELD if items is None else ErrorCode.BAD_FIELD,
                                "'contacts' must be a non-empty array of contact maps", "contacts")
        if len(items) > MAX_BATCH:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'contacts' holds {len(items)} contacts, at most {MAX_BATCH}", "contacts")
        requests, failed = [], 0
        for i, item in enumerate(items):
            cid = request_id(item) if isinstance(item, dict) else None
            try:
                cid = field_uint(item if isinstance(item, dict) else {}, "id", 0, 2**64 - 1, path=f"contacts[{i}].id")
                requests.append(ContactRequest.parse(item, cid, f"contacts[{i}]"))
            except ProtocolError as e:
                failed += 1
                yield self.error(cid, e)
        for reply in self._sound(requests, started):
            failed += reply["op"] == "error"
            yield reply
        yield {"op": "contacts_done", "id": rid, "count": len(items), "failed": failed}

    # --- sounding contacts -------------------------------------------------------------------

    def _sound(self, requests: list[ContactRequest], started: float) -> Iterator[dict]:
        by_scene: dict[str, list[ContactRequest]] = defaultdict(list)
        for r in requests:
            by_scene[r.scene_id].append(r)
        for scene_id, group in by_scene.items():
            try:
                scene = self._scene(scene_id, "scene_id")
            except ProtocolError as e:
                for r in group:
                    yield self.error(r.id, e)
                continue
            yield from self._sound_scene(scene, group, started)

    def _sound_scene(self, scene: LoadedScene, group: list[ContactRequest], started: float) -> Iterator[dict]:
        distances, index = scene.surface.nearest(np.array([r.position for r in group]))
        valid = []
        for k, (r, d) in enumerate(zip(group, distances)):
            try:
                self._check(scene, r, float(d))
                valid.append(k)
            except ProtocolError as e:
                yield self.error(r.id, e)
        sources = self.generators.generate_many(scene, index[valid], [group[k].generator for k in valid])
        jobs: list[_Job] = []
        for k, source in zip(valid, sources):
            try:
                jobs.append(self._job(scene, group[k], source, float(distances[k]), int(index[k])))
            except ProtocolError as e:
                yield self.error(group[k].id, e)
        # Streams first: their opening chunk is what a game waits for.
        for job in [j for j in jobs if j.request.stream]:
            yield from self._stream(scene, job, started)
        # The rest in one native call per (rate, length, format, gain, detune, dry or not): one game frame, one call.
        whole: dict[tuple, list] = defaultdict(list)
        for job in jobs:
            r = job.request
            if r.stream:
                continue
            if job.source.clip is not None:
                yield self._audio(scene, job, 0, True, self._whole(job), started)
                self.stats.contacts += 1
                self.stats.record_latency((time.perf_counter() - started) * 1e3)
            else:
                whole[(r.sample_rate, r.frames, r.format, r.gain, r.detune, r.room is None)].append(job)
        for (rate, frames, fmt, gain, detune, dry), batch in whole.items():
            pcm = render_batch([j.source.recipe for j in batch], [j.excitation for j in batch], [j.seed for j in batch],
                               rate, frames, detune=detune, gain=gain, format=fmt if dry else "f32")
            for job, samples in zip(batch, pcm):
                yield self._audio(scene, job, 0, True, samples if dry else self._in_room(job, samples), started)
                self.stats.contacts += 1
                self.stats.record_latency((time.perf_counter() - started) * 1e3)

    def _check(self, scene: LoadedScene, r: ContactRequest, distance: float) -> None:
        if distance > self.surface_tolerance:
            raise ProtocolError(ErrorCode.OFF_SURFACE, f"position is {distance:.3f} m from the nearest surface of "
                                f"{scene.scene_id!r} (tolerance {self.surface_tolerance} m)", "position")
        if (r.striker or DEFAULT_STRIKER) not in MATERIALS:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"unknown striker material {r.striker!r} (known: {', '.join(sorted(MATERIALS))})", "striker")

    def _job(self, scene: LoadedScene, r: ContactRequest, source, distance: float, index: int) -> _Job:
        """A contact with what the generators made of it (or the error they gave)."""
        if isinstance(source, LookupError):
            raise ProtocolError(ErrorCode.NO_GENERATOR, f"scene {scene.scene_id!r} has no {r.generator} generator "
                                f"(available: {', '.join(self.generators.available(scene)) or 'none'})", "generator")
        if isinstance(source, generators.CannotSound):
            raise ProtocolError(ErrorCode.NO_GENERATOR, f"no generator can sound this contact ({source})", "position")
        source, generator = source
        excitation = Excitation.from_materials(r.impulse, r.speed, r.striker or DEFAULT_STRIKER, source.material or DEFAULT_TARGET,
                                               r.striker_radius)
        seed = r.seed if r.seed is not None else next(self._seeds)
        return _Job(r, source, excitation, seed, distance, index, generator)

    @staticmethod
    def _whole(job: _Job) -> np.ndarray:
        """The contact's whole clip, in its room if it asks for one: for baked sources and rooms (rendered whole)."""
        r, s = job.request, job.source
        fmt = r.format if r.room is None else "f32"
        if s.clip is not None:
            samples = render_baked(s.clip, s.clip_rate, s.rms_per_impulse, job.excitation, r.sample_rate, r.frames, r.gain, fmt)
        else:
            samples = render(s.recipe, job.excitation, r.sample_rate, r.frames, seed=job.seed, detune=r.detune, gain=r.gain,
                             format=fmt)
        return samples if r.room is None else Service._in_room(job, samples)

    @staticmethod
    def _in_room(job: _Job, samples: np.ndarray) -> np.ndarray:
        """(frames,) float32 dry samples -> heard in the request's room (its tail seeded by the contact's seed), formatted."""
        r = job.request
        return as_format(reverberate(samples, r.room, r.sample_rate, job.seed), r.format)

    def _stream(self, scene: LoadedScene, job: _Job, started: float) -> Iterator[dict]:
        r = job.request
        first = max(1, min(r.frames, int(STREAM_FIRST_S * r.sample_rate)))
        step = max(1, int(STREAM_CHUNK_S * r.sample_rate))
        edges = [0, *range(first, r.frames, step), r.frames]  # first 10 ms, then 100 ms chunks
        if job.source.clip is not None or r.room is not None:  # rendered whole (a convolution needs it), sent in the same chunks
            whole = self._whole(job)
            chunks = (whole[a:b] for a, b in zip(edges, edges[1:]))
        else:
            v = voice(job.source.recipe, job.excitation, r.sample_rate, seed=job.seed, detune=r.detune, gain=r.gain)
            chunks = (v.render(b - a, r.format) for a, b in zip(edges, edges[1:]))
        last = len(edges) - 2
        for seq, samples in enumerate(chunks):
            yield self._audio(scene, job, seq, seq == last, samples, started)
            if seq == 0:
                self.stats.record_latency((time.perf_counter() - started) * 1e3)
        self.stats.contacts += 1

    def _audio(self, scene: LoadedScene, job: _Job, seq: int, last: bool, samples: np.ndarray, started: float) -> dict:
        r = job.request
        sub, part, obj = (int(x) for x in scene.surface.labels[job.index])
        return {
            "op": "audio",
            "id": r.id,
            "seq": seq,
            "last": last,
            "sample_rate": r.sample_rate,
            "format": r.format,
            "channels": 1,
            "frames": int(samples.shape[0]),
            "pcm": samples.astype("<i2" if r.format == "s16" else "<f4", copy=False).tobytes(),
            "segment": sub,
            "segments": {"subpart": sub, "part": part, "object": obj},
            "material": job.source.material,
            "generator": job.generator,
            "distance": round(job.distance, 6),
            "gen_ms": round((time.perf_counter() - started) * 1e3, 4),
        }

