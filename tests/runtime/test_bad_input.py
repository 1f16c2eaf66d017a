"""Bad input over real sockets: every request gets a clear error or is dropped; the server stays up."""

from __future__ import annotations

import threading
import time

import msgpack
import numpy as np
import psutil
import pytest
import zmq

from vaf.runtime.client import Client
from vaf.runtime.protocol import HARD_MESSAGE_BYTES, MAX_MESSAGE_BYTES
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import DEMO_SCENE

POINT = SceneBundle.load(DEMO_SCENE).acoustics.points[100].tolist()


class RawPeer:
    """A bare DEALER for sending arbitrary frames."""

    def __init__(self, endpoint: str):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, *frames: bytes) -> None:
        self.sock.send_multipart(list(frames))

    def recv(self, timeout: float = 5.0) -> dict:
        assert self.sock.poll(int(timeout * 1000)), "no reply"
        return msgpack.unpackb(self.sock.recv(), raw=False)

    def ask(self, message, timeout: float = 5.0) -> dict:
        self.send(message if isinstance(message, bytes) else msgpack.packb(message, use_bin_type=True))
        return self.recv(timeout)

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture()
def raw(server):
    peer = RawPeer(server.endpoint)
    yield peer
    peer.close()


def contact(**overrides) -> dict:
    m = {"v": 1, "op": "contact", "id": 7, "scene_id": "demo", "position": POINT, "normal": [0, 1, 0],
         "impulse": 0.02, "speed": 1.0}
    m.update(overrides)
    return {k: v for k, v in m.items() if v is not ...}


@pytest.mark.parametrize(
    ("frame", "code", "field"),
    [
        (b"\xc1\xc1\xc1", "bad_message", None),
        (msgpack.packb([1, 2, 3]), "bad_message", None),
        (msgpack.packb("hello"), "bad_message", None),
        ({"op": "ping", "id": 1}, "bad_version", "v"),
        ({"v": 2, "op": "ping", "id": 1}, "bad_version", "v"),
        ({"v": 1, "op": "ping"}, "missing_field", "id"),
        ({"v": 1, "op": "ping", "id": -1}, "bad_field", "id"),
        ({"v": 1, "op": "ping", "id": "x"}, "bad_field", "id"),
        ({"v": 1, "op": "fly", "id": 1}, "unknown_op", "op"),
        ({"v": 1, "op": 5, "id": 1}, "bad_field", "op"),
        (contact(impulse=...), "missing_field", "impulse"),
        (contact(impulse="big"), "bad_field", "impulse"),
        (contact(impulse=float("nan")), "bad_field", "impulse"),
        (contact(speed=float("inf")), "bad_field", "speed"),
        (contact(impulse=0.0), "bad_field", "impulse"),
        (contact(position=[1, 2]), "bad_field", "position"),
        (contact(position=[0, float("nan"), 0]), "bad_field", "position[1]"),
        (contact(normal=[0, 0, 0]), "bad_field", "normal"),
        (contact(sample_rate=1000), "bad_field", "sample_rate"),
        (contact(sample_rate=44100.5), "bad_field", "sample_rate"),
        (contact(format="mp3"), "bad_field", "format"),
        (contact(duration=60.0), "bad_field", "duration"),
        (contact(stream="yes"), "bad_field", "stream"),
        (contact(scene_id="atlantis"), "unknown_scene", "scene_id"),
        (contact(position=[9.0, 9.0, 9.0]), "off_surface", "position"),
        (contact(generator="diffusion"), "bad_field", "generator"),
        (contact(detune=0.5), "bad_field", "detune"),
        (contact(detune=-0.01), "bad_field", "detune"),
        (contact(room=0.3), "bad_field", "room"),
        (contact(room={}), "missing_field", "room.rt60_s"),
        (contact(room={"rt60_s": 30.0}), "bad_field", "room.rt60_s"),
        (contact(room={"rt60_s": 0.3, "direct_to_reverb_db": "dry"}), "bad_field", "room.direct_to_reverb_db"),
        ({"v": 1, "op": "contacts", "id": 3}, "missing_field", "contacts"),
        ({"v": 1, "op": "contacts", "id": 3, "contacts": []}, "bad_field", "contacts"),
        ({"v": 1, "op": "contacts", "id": 3, "contacts": [{}] * 300}, "bad_field", "contacts"),
        ({"v": 1, "op": "scene_asset", "id": 3, "scene_id": "demo", "asset": "splat", "offset": 10**12}, "bad_field", "offset"),
        ({"v": 1, "op": "load_scene", "id": 3, "scene": ""}, "bad_field", "scene"),
        ({"v": 1, "op": "load_scene", "id": 3, "scene": "/etc"}, "unknown_scene", "scene"),
    ],
)
def test_bad_request_gets_named_error(raw, frame, code, field):
    reply = raw.ask(frame)
    assert reply["op"] == "error" and reply["code"] == code, reply
    assert reply.get("field") == field
    assert reply["message"]
    assert raw.ask({"v": 1, "op": "ping", "id": 99})["op"] == "pong"


def test_error_echoes_id_when_it_is_valid(raw):
    reply = raw.ask(contact(id=12345, impulse=-1))
    assert reply["id"] == 12345
    assert raw.ask({"v": 1, "op": "fly", "id": "nope"})["id"] is None


def test_multi_frame_request_is_rejected(raw):
    raw.send(msgpack.packb({"v": 1, "op": "ping", "id": 1}), b"extra")
    reply = raw.recv()
    assert reply["code"] == "bad_message" and "one frame" in reply["message"]


def test_oversized_request_gets_too_large_with_its_id(raw):
    reply = raw.ask({"v": 1, "op": "ping", "id": 31, "pad": b"x" * (MAX_MESSAGE_BYTES + 10)})
    assert reply["code"] == "too_large" and reply["id"] == 31


def test_over_hard_limit_drops_only_that_connection(server, raw):
    big = RawPeer(server.endpoint)
    big.send(b"x" * (HARD_MESSAGE_BYTES + 1))
    assert not big.sock.poll(1000)  # libzmq closed that connection: no reply
    big.close()
    assert raw.ask({"v": 1, "op": "ping", "id": 2})["op"] == "pong"


def test_client_vanishing_mid_stream_does_not_hurt_others(server, raw):
    for _ in range(20):
        gone = RawPeer(server.endpoint)
        gone.send(msgpack.packb(contact(stream=True, duration=4.0)))
        gone.close()  # disconnects before the chunks are sent
    assert raw.ask({"v": 1, "op": "ping", "id": 3})["op"] == "pong"
    assert server.alive()


def test_hundred_clients_at_once(server):
    errors, done = [], []

    def one(k: int) -> None:
        try:
            with Client(server.endpoint, timeout=30.0) as c:
                for j in range(3):
                    audio = c.contact("demo", POINT, [0, 1, 0], impulse=0.01 + 0.001 * k, speed=1.0, seed=k * 10 + j)
                    assert audio.pcm.size == 24000
            done.append(k)
        except Exception as e:  # collected and reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(k,)) for k in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(done) == 100


def test_bounded_fuzz_and_no_leak(server, raw):
    """Random bytes and random valid-looking maps for a bounded time; memory stays flat."""
    rng = np.random.default_rng(7)
    proc = psutil.Process(server.proc.pid)

    def random_value(depth: int = 0):
        makers = [
            lambda: None, lambda: True, lambda: int(rng.integers(-2**40, 2**40)),
            lambda: float(rng.normal() * 10 ** rng.integers(0, 12)), lambda: float("nan"),
            lambda: "".join(map(chr, rng.integers(32, 127, rng.integers(0, 12)))),
            lambda: bytes(rng.integers(0, 256, rng.integers(0, 40), dtype=np.uint8)),
            lambda: [random_value(depth + 1) for _ in range(rng.integers(0, 4))],
            lambda: {str(rng.integers(0, 5)): random_value(depth + 1) for _ in range(rng.integers(0, 4))},
        ]
        return makers[int(rng.integers(0, 9 if depth < 2 else 7))]()

    fields = ["v", "op", "id", "scene_id", "position", "normal", "impulse", "speed", "striker", "sample_rate",
              "format", "stream", "duration", "contacts", "scene", "asset", "offset", "max_bytes", "seed", "gain"]
    ops = ["contact", "contacts", "hello", "load_scene", "scene_asset", "stats", "ping", "localize", "xyz"]

    def round_of_fuzz(seconds: float) -> int:
        sent = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if rng.random() < 0.3:
                frame = bytes(rng.integers(0, 256, rng.integers(0, 200), dtype=np.uint8))
            else:
                m = {"v": 1, "op": str(rng.choice(ops)), "id": int(rng.integers(0, 1000))}
                for f in rng.choice(fields, rng.integers(0, 8)):
                    m[str(f)] = random_value()
                if rng.random() < 0.5:  # valid-looking contact with one field broken
                    m = contact(id=int(rng.integers(0, 1000)), **{str(rng.choice(fields[3:13])): random_value()})
                frame = msgpack.packb(m, use_bin_type=True)
            raw.send(frame)
            sent += 1
            while raw.sock.poll(0):  # drain replies so our own queue stays short
                raw.sock.recv()
        return sent

    round_of_fuzz(3.0)  # warm-up: caches, allocator pools
    rss_before = proc.memory_info().rss
    sent = round_of_fuzz(8.0)
    time.sleep(0.5)
    while raw.sock.poll(200):
        raw.sock.recv()
    rss_after = proc.memory_info().rss
    assert sent > 500
    assert server.alive()
    assert raw.ask({"v": 1, "op": "ping", "id": 4})["op"] == "pong"
    assert rss_after - rss_before < 30 * 2**20, f"RSS grew by {(rss_after - rss_before) / 2**20:.1f} MiB"
