"""Python client of the runtime: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio).

Both speak protocol v1 over a ZeroMQ DEALER, return numpy arrays and dataclasses, time out
(raising TimeoutError) and reconnect on the next call after a timeout. Errors from the
server raise :class:`RemoteError` with its stable code.

    with Client() as c:
        scene = c.load_scene("demo")
        audio = c.contact(scene.scene_id, position=[0.1, 0.75, 0.0], normal=[0, 1, 0], impulse=0.05, speed=2.0)
        audio.pcm  # (frames,) int16
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import zmq
import zmq.asyncio
import zmq.auth

from vaf.runtime.protocol import VERSION, pack, unpack
from vaf.runtime.server import DEFAULT_BIND, tune

DEFAULT_ENDPOINT = DEFAULT_BIND


class RemoteError(Exception):
    """An error reply: code (stable, see docs/protocol.md), message, field, request id."""

    def __init__(self, reply: dict):
        super().__init__(f"{reply.get('code')}: {reply.get('message')}")
        self.code: str = reply.get("code", "")
        self.message: str = reply.get("message", "")
        self.field: str | None = reply.get("field")
        self.id: int | None = reply.get("id")


@dataclass
class Audio:
    """The sound of one contact. pcm: (frames,) int16 or float32, mono."""

    id: int
    pcm: np.ndarray
    sample_rate: int
    format: str
    segment: int
    segments: dict
    material: str | None
    generator: str
    gen_ms: float
    distance: float
    chunks: int = 1


@dataclass
class SceneInfo:
    """A loaded scene: coordinate frame (units, up axis, handedness) and segments."""

    scene_id: str
    name: str
    units: str
    up: str
    handedness: str
    gaussians: int
    segments: list[dict]
    assets: list[dict]
    generators: list[str]


@dataclass
class ClientCurve:
    """CurveZMQ keys for a client: the server's public key and this client's key pair."""

    server_public: bytes
    public: bytes
    secret: bytes

    @classmethod
    def load(cls, server_public_file: str | Path, client_secret_file: str | Path) -> ClientCurve:
        server_public, _ = zmq.auth.load_certificate(str(server_public_file))
        public, secret = zmq.auth.load_certificate(str(client_secret_file))
        return cls(server_public, public, secret)


def pcm_array(reply: dict) -> np.ndarray:
    """Decodes an audio reply's pcm field by its format and frame count."""
    dtype = {"s16": "<i2", "f32": "<f4"}[reply["format"]]
    samples = np.frombuffer(reply["pcm"], dtype=dtype)
    if samples.shape[0] != reply["frames"] * reply.get("channels", 1):
        raise ValueError(f"audio reply {reply.get('id')}: {samples.shape[0]} samples for {reply['frames']} frames")
    return samples


def contact_message(scene_id: str, position: Sequence[float], normal: Sequence[float], impulse: float, speed: float,
                    **options: Any) -> dict:
    """A contact map (without v/op/id); options: striker, striker_radius, sample_rate, format, stream, duration, seed, gain, generator,
    detune, room (docs/protocol.md)."""
    m = {"scene_id": scene_id, "position": [float(x) for x in position], "normal": [float(x) for x in normal],
         "impulse": float(impulse), "speed": float(speed)}
    m.update({k: v for k, v in options.items() if v is not None})
    return m


def localize_message(scene_id: str, audio: np.ndarray, sample_rate: int, top_k: int = 3, level: str = "part",
                     room: dict | None = None) -> dict:
    """A localize request's fields; int16 audio travels as s16, anything else as f32. room: {rt60_s,
    direct_to_reverb_db} to hear a dry clip in first (hello's localize_room), None to send it as it is."""
    audio = np.asarray(audio)
    fmt, dtype = ("s16", "<i2") if audio.dtype == np.int16 else ("f32", "<f4")
    message = {"scene_id": scene_id, "audio": audio.astype(dtype).tobytes(), "format": fmt, "sample_rate": int(sample_rate),
               "top_k": int(top_k), "level": level}
    return message if room is None else {**message, "room": room}


@dataclass
class _AudioCollector:
    """Gathers the chunks of one contact's audio; done at the chunk marked last, or at an error."""

    id: int
    chunks: list[dict] = field(default_factory=list)
    error: RemoteError | None = None

    def feed(self, reply: dict) -> bool:
        if reply.get("op") == "error":
            self.error = RemoteError(reply)
            return True
        self.chunks.append(reply)
        return bool(reply.get("last"))

    def result(self) -> Audio | RemoteError:
        if self.error is not None:
            return self.error
        first = self.chunks[0]
        pcm = np.concatenate([pcm_array(c) for c in sorted(self.chunks, key=lambda c: c["seq"])])
        return Audio(self.id, pcm, first["sample_rate"], first["format"], first["segment"], first["segments"],
                     first.get("material"), first.get("generator", ""), self.chunks[-1]["gen_ms"], first["distance"],
                     len(self.chunks))


class _Base:
    def __init__(self, endpoint: str, timeout: float, curve: ClientCurve | None, ctx: zmq.Context):
        self.endpoint = endpoint
        self.timeout = timeout
        self.curve = curve
        self._ids = itertools.count(1)
        self._ctx = ctx
        self._sock: zmq.Socket | None = None

    @property
    def socket(self) -> zmq.Socket:
        """The DEALER, made on first use and after a timeout."""
        if self._sock is None:
            self._sock = self._new_socket(self._ctx)
        return self._sock

    def close(self) -> None:
        self._drop_socket()
        self._ctx.term()

    def _new_socket(self, ctx: zmq.Context) -> zmq.Socket:
        sock = ctx.socket(zmq.DEALER)
        tune(sock)
        if self.curve is not None:
            sock.curve_serverkey = self.curve.server_public
            sock.curve_publickey, sock.curve_secretkey = self.curve.public, self.curve.secret
        sock.connect(self.endpoint)
        return sock

    def _message(self, op: str, fields: dict) -> tuple[int, bytes]:
        rid = next(self._ids)
        return rid, pack({"v": VERSION, "op": op, "id": rid, **fields})

    def _drop_socket(self) -> None:
        # After a timeout the old socket may still hold stale replies: start clean (lazy pirate).
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None


def _single(reply: dict) -> dict:
    if reply.get("op") == "error":
        raise RemoteError(reply)
    return reply


def _scene_info(reply: dict) -> SceneInfo:
    return SceneInfo(**{k: reply[k] for k in SceneInfo.__dataclass_fields__})


class Client(_Base):
    """Blocking client. timeout: seconds to wait for each reply."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 5.0, curve: ClientCurve | None = None):
        super().__init__(endpoint, timeout, curve, zmq.Context())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, op: str, **fields: Any) -> int:
        rid, data = self._message(op, fields)
        self.socket.send(data)
        return rid

    def replies(self, ids: set[int]) -> Iterator[dict]:
        """Replies whose id is in ids, as they come (stale replies to other ids are skipped)."""
        while True:
            deadline = time.monotonic() + self.timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.socket.poll(int(remaining * 1000) + 1):
                    self._drop_socket()
                    raise TimeoutError(f"no reply from {self.endpoint} within {self.timeout} s")
                reply = unpack(self.socket.recv())
                if reply.get("id") in ids:
                    break
            yield reply

    def request(self, op: str, **fields: Any) -> dict:
        rid = self.send(op, **fields)
        return _single(next(self.replies({rid})))

    def hello(self) -> dict:
        return self.request("hello")

    def ping(self) -> float:
        """Round trip in seconds."""
        t0 = time.perf_counter()
        self.request("ping")
        return time.perf_counter() - t0

    def scenes(self) -> list[dict]:
        return self.request("scenes")["scenes"]

    def stats(self) -> dict:
        return self.request("stats")

    def load_scene(self, scene: str) -> SceneInfo:
        return _scene_info(self.request("load_scene", scene=scene))

    def scene_asset(self, scene_id: str, asset: str, chunk_bytes: int = 1 << 20) -> bytes:
        """Downloads a whole asset ("splat", "collision", "preview") chunk by chunk."""
        parts, offset = [], 0
        while True:
            reply = self.request("scene_asset", scene_id=scene_id, asset=asset, offset=offset, max_bytes=chunk_bytes)
            parts.append(reply["data"])
            offset += len(reply["data"])
            if reply["last"]:
                return b"".join(parts)

    def contact(self, scene_id: str, position: Sequence[float], normal: Sequence[float], impulse: float, speed: float,
                **options: Any) -> Audio:
        rid = self.send("contact", **contact_message(scene_id, position, normal, impulse, speed, **options))
        collector = _AudioCollector(rid)
        for reply in self.replies({rid}):
            if collector.feed(reply):
                break
        result = collector.result()
        if isinstance(result, RemoteError):
            raise result
        return result

    def stream_contact(self, scene_id: str, position: Sequence[float], normal: Sequence[float], impulse: float,
                       speed: float, **options: Any) -> Iterator[np.ndarray]:
        """Yields the contact's audio chunk by chunk (the first covers 10 ms) as it arrives."""
        rid = self.send("contact", **contact_message(scene_id, position, normal, impulse, speed, stream=True, **options))
        for reply in self.replies({rid}):
            yield pcm_array(_single(reply))
            if reply["last"]:
                return

    def localize(self, scene_id: str, audio: np.ndarray, sample_rate: int, top_k: int = 3, level: str = "part",
                 room: dict | None = None) -> list[dict]:
        """Where in the scene a clip came from: the top segments (id, level, score, position, bbox, label, material).
        audio: (frames,) int16 or float in [-1, 1]; room: hear a dry clip in this room first (localize_message)."""
        return self.request("localize", **localize_message(scene_id, audio, sample_rate, top_k, level, room))["segments"]

    def contacts(self, contacts: Sequence[dict]) -> list[Audio | RemoteError]:
        """A batch (one game frame): contact maps from contact_message(); results in the same order."""
        ids = [next(self._ids) for _ in contacts]
        rid = self.send("contacts", contacts=[{**c, "id": i} for c, i in zip(contacts, ids)])
        collectors = {i: _AudioCollector(i) for i in ids}
        for reply in self.replies({rid, *ids}):
            if reply.get("op") == "contacts_done":
                break
            if reply.get("id") == rid:  # the batch itself was rejected
                raise RemoteError(reply)
            collectors[reply["id"]].feed(reply)
        return [collectors[i].result() for i in ids]


class AsyncClient(_Base):
    """asyncio client with the same methods as Client, as coroutines; safe for concurrent requests
    from many tasks (each reply is routed to the task that waits for its id)."""

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = 5.0, curve: ClientCurve | None = None):
        super().__init__(endpoint, timeout, curve, zmq.asyncio.Context())
        self._waiting: dict[int, deque] = {}
        self._receiving = asyncio.Lock()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        self.close()

    async def _send(self, op: str, fields: dict) -> int:
        rid, data = self._message(op, fields)
        self._waiting[rid] = deque()  # registered before sending, so no reply can be missed
        await self.socket.send(data)
        return rid

    async def _next(self, rid: int) -> dict:
        """The next reply to request rid; whoever holds the receive lock delivers replies to every waiter."""
        queue = self._waiting[rid]
        deadline = time.monotonic() + self.timeout
        while not queue:
            async with self._receiving:
                if queue:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not await self.socket.poll(int(remaining * 1000) + 1):
                    self._drop_socket()
                    raise TimeoutError(f"no reply from {self.endpoint} within {self.timeout} s")
                reply = unpack(await self.socket.recv())
                if reply.get("id") in self._waiting:  # replies to abandoned requests are dropped
                    self._waiting[reply["id"]].append(reply)
        return queue.popleft()

    async def request(self, op: str, **fields: Any) -> dict:
        rid = await self._send(op, fields)
        try:
            return _single(await self._next(rid))
        finally:
            del self._waiting[rid]

    async def hello(self) -> dict:
        return await self.request("hello")

    async def stats(self) -> dict:
        return await self.request("stats")

    async def load_scene(self, scene: str) -> SceneInfo:
        return _scene_info(await self.request("load_scene", scene=scene))

    async def localize(self, scene_id: str, audio: np.ndarray, sample_rate: int, top_k: int = 3, level: str = "part",
                       room: dict | None = None) -> list[dict]:
        return (await self.request("localize", **localize_message(scene_id, audio, sample_rate, top_k, level, room)))["segments"]

    async def contact(self, scene_id: str, position: Sequence[float], normal: Sequence[float], impulse: float,
                      speed: float, **options: Any) -> Audio:
        rid = await self._send("contact", contact_message(scene_id, position, normal, impulse, speed, **options))
        collector = _AudioCollector(rid)
        try:
            while not collector.feed(await self._next(rid)):
                pass
        finally:
            del self._waiting[rid]
        result = collector.result()
        if isinstance(result, RemoteError):
            raise result
        return result
