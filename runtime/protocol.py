"""Wire protocol v1 (docs/protocol.md): msgpack maps over ZeroMQ, one map per frame.

Every request is ``{"v": 1, "op": str, "id": uint}`` plus the op's fields; every reply
echoes ``id``. Failures are ``{"op": "error", "id", "code", "message", "field"}`` with a
stable code from :class:`ErrorCode`. Binary data travels as msgpack ``bin`` with its dtype
and shape in sibling fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgpack
import numpy as np

from vaf.runtime.room import DIRECT_TO_REVERB_RANGE_DB, RT60_RANGE_S, Room

VERSION = 1
MAX_ID = 2**64 - 1
MAX_MESSAGE_BYTES = 1 << 20  # larger requests get a too_large error
HARD_MESSAGE_BYTES = 16 << 20  # ZMQ_MAXMSGSIZE: larger frames drop the connection
MAX_BATCH = 256  # contacts per "contacts" request
MAX_DURATION_S = 4.0
MAX_DETUNE = 0.1  # the native synthesizer's limit: each mode within +-10 % of its frequency
SAMPLE_RATES = (8000, 192000)
FORMATS = ("s16", "f32")
GENERATORS = ("auto", "baked", "realtime", "physics")  # what a contact may ask for; auto = the first that fits
DEFAULT_SAMPLE_RATE = 48000
DEFAULT_DURATION_S = 0.5
DEFAULT_FORMAT = "s16"
STREAM_FIRST_S = 0.01  # a streamed contact sends its first 10 ms at once...
STREAM_CHUNK_S = 0.1  # ...then 100 ms chunks
MAX_CLIP_S = 10.0  # localize: longest clip
LEVELS = ("subpart", "part", "object")
OPS = ("hello", "ping", "scenes", "load_scene", "scene_asset", "contact", "contacts", "stats", "localize", "shape")


class ErrorCode(str, Enum):
    BAD_MESSAGE = "bad_message"  # not msgpack, not a map, or more than one frame
    BAD_VERSION = "bad_version"  # v missing or not supported
    UNKNOWN_OP = "unknown_op"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"  # wrong type, NaN/inf, or out of range
    TOO_LARGE = "too_large"  # request over MAX_MESSAGE_BYTES
    UNKNOWN_SCENE = "unknown_scene"
    SCENE_LOAD_FAILED = "scene_load_failed"
    UNKNOWN_ASSET = "unknown_asset"
    OFF_SURFACE = "off_surface"  # contact point farther than the tolerance from every surface
    NO_GENERATOR = "no_generator"  # the scene has nothing that can sound this contact
    NO_FEATURES = "no_features"  # localize on a scene without per-Gaussian features
    UNSUPPORTED = "unsupported"  # op known but its model is not loaded
    INTERNAL = "internal"  # a bug; the server keeps serving


class ProtocolError(Exception):
    """A request that gets an error reply. field: the offending field's path, e.g. "contacts[3].impulse"."""

    def __init__(self, code: ErrorCode, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def pack(message: dict) -> bytes:
    return msgpack.packb(message, use_bin_type=True)


def unpack(data: bytes) -> Any:
    """Decodes one frame; anything but a msgpack map raises ProtocolError(BAD_MESSAGE)."""
    try:
        message = msgpack.unpackb(data, raw=False, strict_map_key=True, max_bin_len=HARD_MESSAGE_BYTES)
    except Exception as e:  # msgpack raises several types on garbage
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"frame is not valid msgpack ({type(e).__name__})") from None
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"frame must be a msgpack map, got {type(message).__name__}")
    return message


def error_reply(request_id: int | None, error: ProtocolError) -> dict:
    reply = {"op": "error", "id": request_id, "code": error.code.value, "message": error.message}
    if error.field is not None:
        reply["field"] = error.field
    return reply


def request_id(message: dict) -> int | None:
    """The request's id if it is a valid one, else None (errors then carry id nil)."""
    value = message.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID else None


def check_envelope(message: dict) -> tuple[str, int]:
    """Validates v, op and id; returns (op, id)."""
    if "v" not in message:
        raise ProtocolError(ErrorCode.BAD_VERSION, "missing protocol version 'v'", "v")
    if message["v"] != VERSION or isinstance(message["v"], bool):
        raise ProtocolError(ErrorCode.BAD_VERSION, f"protocol version {message['v']!r} is not supported (server speaks {VERSION})", "v")
    rid = field_uint(message, "id", 0, MAX_ID)
    op = message.get("op")
    if not isinstance(op, str):
        raise ProtocolError(ErrorCode.MISSING_FIELD if op is None else ErrorCode.BAD_FIELD, "'op' must be a string", "op")
    if op not in OPS:
        raise ProtocolError(ErrorCode.UNKNOWN_OP, f"unknown op {op!r} (known: {', '.join(OPS)})", "op")
    return op, rid


# --- field readers: each names the field in its error -------------------------------------------

_MISSING = object()


def _get(m: dict, key: str, path: str, default: Any) -> Any:
    value = m.get(key, _MISSING)
    if value is _MISSING or value is None:
        if default is _MISSING:
            raise ProtocolError(ErrorCode.MISSING_FIELD, f"missing field '{path}'", path)
        return default
    return value


def field_number(m: dict, key: str, low: float, high: float, default: Any = _MISSING, path: str | None = None,
                 low_open: bool = False) -> float:
    path = path or key
    value = _get(m, key, path, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must be a number, got {type(value).__name__}", path)
    value = float(value)
    if not math.isfinite(value):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must be finite, got {value}", path)
    if value < low or value > high or (low_open and value == low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' = {value} must be {bound} and <= {high}", path)
    return value


def field_uint(m: dict, key: str, low: int, high: int, default: Any = _MISSING, path: str | None = None) -> int:
    path = path or key
    value = _get(m, key, path, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must be an integer, got {type(value).__name__}", path)
    if not low <= value <= high:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' = {value} must be within {low}..{high}", path)
    return value


def field_str(m: dict, key: str, choices: tuple[str, ...] | None = None, default: Any = _MISSING,
              path: str | None = None, max_len: int = 4096) -> str:
    path = path or key
    value = _get(m, key, path, default)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must be a non-empty string of at most {max_len} characters", path)
    if choices is not None and value not in choices:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' = {value!r} must be one of {', '.join(choices)}", path)
    return value


def field_bool(m: dict, key: str, default: Any = _MISSING, path: str | None = None) -> bool:
    path = path or key
    value = _get(m, key, path, default)
    if not isinstance(value, bool):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must be true or false", path)
    return value


def field_vec3(m: dict, key: str, path: str | None = None, nonzero: bool = False) -> tuple[float, float, float]:
    path = path or key
    value = _get(m, key, path, _MISSING)
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must be an array of 3 numbers [x, y, z]", path)
    out = tuple(field_number({"c": c}, "c", -1e6, 1e6, path=f"{path}[{i}]") for i, c in enumerate(value))
    if nonzero and math.hypot(*out) < 1e-9:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must not be the zero vector", path)
    return out  # type: ignore[return-value]


@dataclass(frozen=True)
class ContactRequest:
    """A collision to sound. position, normal: scene coordinates (metres; normal points out of the
    struck surface); impulse: N*s; speed: relative normal speed, m/s; striker: material name or
    None for the server default; duration: seconds of audio; detune: each mode's frequency is scaled by 1 + detune u,
    u in [-1, 1) drawn from the seed (0: the recipe's frequencies); room: the room to hear it in, None for dry."""

    id: int
    scene_id: str
    position: tuple[float, float, float]
    normal: tuple[float, float, float]
    impulse: float
    speed: float
    striker: str | None
    striker_radius: float
    sample_rate: int
    format: str
    stream: bool
    duration: float
    seed: int | None
    gain: float
    generator: str
    detune: float = 0.0
    room: Room | None = None

    @property
    def frames(self) -> int:
        return max(1, int(round(self.duration * self.sample_rate)))

    @classmethod
    def parse(cls, m: Any, rid: int, path: str = "") -> ContactRequest:
        if not isinstance(m, dict):
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path or 'contact'}' must be a map", path or None)
        p = lambda k: f"{path}.{k}" if path else k  # noqa: E731
        striker = m.get("striker")
        if striker is not None:
            striker = field_str(m, "striker", path=p("striker"), max_len=64)
        return cls(
            id=rid,
            scene_id=field_str(m, "scene_id", path=p("scene_id")),
            position=field_vec3(m, "position", p("position")),
            normal=field_vec3(m, "normal", p("normal"), nonzero=True),
            impulse=field_number(m, "impulse", 0.0, 1e4, path=p("impulse"), low_open=True),
            speed=field_number(m, "speed", 0.0, 1e3, path=p("speed"), low_open=True),
            striker=striker,
            striker_radius=field_number(m, "striker_radius", 0.0, 10.0, 0.02, p("striker_radius"), low_open=True),
            sample_rate=field_uint(m, "sample_rate", SAMPLE_RATES[0], SAMPLE_RATES[1], DEFAULT_SAMPLE_RATE, p("sample_rate")),
            format=field_str(m, "format", FORMATS, DEFAULT_FORMAT, p("format")),
            stream=field_bool(m, "stream", False, p("stream")),
            duration=field_number(m, "duration", 0.0, MAX_DURATION_S, DEFAULT_DURATION_S, p("duration"), low_open=True),
            seed=field_uint(m, "seed", 0, MAX_ID, None, p("seed")) if m.get("seed") is not None else None,
            gain=field_number(m, "gain", 0.0, 100.0, 1.0, p("gain")),
            generator=field_str(m, "generator", GENERATORS, "auto", p("generator")),
            detune=field_number(m, "detune", 0.0, MAX_DETUNE, 0.0, p("detune")),
            room=_room(m.get("room"), p("room")),
        )


def _room(r: Any, path: str) -> Room | None:
    """An optional room {rt60_s, direct_to_reverb_db} (a contact's or a localize clip's), validated."""
    if r is None:
        return None
    if not isinstance(r, dict):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{path}' must be a map {{rt60_s, direct_to_reverb_db}}", path)
    return Room(field_number(r, "rt60_s", *RT60_RANGE_S, path=f"{path}.rt60_s"),
                field_number(r, "direct_to_reverb_db", *DIRECT_TO_REVERB_RANGE_DB, 6.0, f"{path}.direct_to_reverb_db"))


@dataclass(frozen=True)
class LocalizeRequest:
    """A clip to place in a scene. audio: (frames,) float64 in [-1, 1]; level: segment level to rank; room: the room
    to hear a dry clip in before it is embedded (None: as it is)."""

    id: int
    scene_id: str
    audio: np.ndarray
    sample_rate: int
    level: str
    top_k: int
    camera: dict | None  # position, target, fov_deg, width, height: for a heatmap
    room: Room | None = None

    @classmethod
    def parse(cls, m: dict, rid: int) -> LocalizeRequest:
        fmt = field_str(m, "format", FORMATS, DEFAULT_FORMAT)
        rate = field_uint(m, "sample_rate", SAMPLE_RATES[0], SAMPLE_RATES[1])
        data = _get(m, "audio", "audio", _MISSING)
        if not isinstance(data, bytes):
            raise ProtocolError(ErrorCode.BAD_FIELD, "'audio' must be binary PCM samples", "audio")
        width = 2 if fmt == "s16" else 4
        if len(data) == 0 or len(data) % width:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'audio' must hold a whole, non-zero number of {fmt} samples", "audio")
        frames = len(data) // width
        if frames > MAX_CLIP_S * rate:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'audio' is {frames / rate:.1f} s long, at most {MAX_CLIP_S} s", "audio")
        if frames < 0.01 * rate:
            raise ProtocolError(ErrorCode.BAD_FIELD, f"'audio' is {1000 * frames / rate:.1f} ms long, at least 10 ms", "audio")
        audio = np.frombuffer(data, "<i2").astype(np.float64) / 32767.0 if fmt == "s16" else np.frombuffer(data, "<f4").astype(np.float64)
        if not np.all(np.isfinite(audio)):
            raise ProtocolError(ErrorCode.BAD_FIELD, "'audio' has NaN or infinite samples", "audio")
        if np.max(np.abs(audio)) < 1e-6:
            raise ProtocolError(ErrorCode.BAD_FIELD, "'audio' is silent", "audio")
        return cls(rid, field_str(m, "scene_id"), audio, rate, field_str(m, "level", LEVELS, "part"),
                   field_uint(m, "top_k", 1, 16, 3), _camera(m.get("camera")), _room(m.get("room"), "room"))


def _camera(c: Any) -> dict | None:
    """The optional heatmap camera of a localize request, validated."""
    if c is None:
        return None
    if not isinstance(c, dict):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'camera' must be a map {position, target, fov_deg, width, height}", "camera")
    camera = {
        "position": field_vec3(c, "position", "camera.position"),
        "target": field_vec3(c, "target", "camera.target"),
        "fov_deg": field_number(c, "fov_deg", 1.0, 170.0, 60.0, "camera.fov_deg"),
        "width": field_uint(c, "width", 16, 1024, 256, "camera.width"),
        "height": field_uint(c, "height", 16, 1024, 256, "camera.height"),
    }
    if math.dist(camera["position"], camera["target"]) < 1e-6:
        raise ProtocolError(ErrorCode.BAD_FIELD, "'camera.target' must differ from 'camera.position'", "camera.target")
    return camera
