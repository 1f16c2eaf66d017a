"""Protocol v1 byte-level vectors (tests/vectors/) replayed against the real server, as any client would."""

from __future__ import annotations

import json
import math
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
INDEX = json.loads((VECTORS / "index.json").read_text())["vectors"]


def decode(path: Path):
    return msgpack.unpackb(path.read_bytes(), raw=False)


def test_index_covers_every_op_and_error_kind():
    names = {v["name"] for v in INDEX}
    assert {"ping", "hello", "load_scene", "contact_s16", "contacts_batch", "error_not_msgpack", "error_nan_impulse"} <= names
    for v in INDEX:
        assert (VECTORS / v["request"]).is_file() and all((VECTORS / r).is_file() for r in v["replies"])


def test_the_detune_vector_sounds_other_than_the_same_hit_undetuned():
    """Else a client checking its detune against it would pass with detune ignored."""
    plain, detuned = (decode(VECTORS / f"{name}.reply.0.msgpack") for name in ("contact_s16", "contact_detune"))
    assert decode(VECTORS / "contact_detune.request.msgpack")["detune"] > 0
    pcm = [np.frombuffer(r["pcm"], "<i2").astype(np.int32) for r in (plain, detuned)]
    assert len(pcm[0]) == len(pcm[1]) and np.abs(pcm[0] - pcm[1]).max() > 100


@pytest.mark.parametrize("vector", [v for v in INDEX if "request_value" in v], ids=lambda v: v["name"])
def test_request_bytes_decode_to_documented_value(vector):
    assert decode(VECTORS / vector["request"]) == vector["request_value"]


def _same_type(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return True
    return type(a) is type(b)


@pytest.mark.parametrize("vector", INDEX, ids=lambda v: v["name"])
def test_real_server_answers_like_the_vector(server, vector):
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server.endpoint)
    try:
        sock.send((VECTORS / vector["request"]).read_bytes())
        got = []
        for _ in vector["replies"]:
            assert sock.poll(10_000), f"{vector['name']}: missing reply"
            got.append(msgpack.unpackb(sock.recv(), raw=False))
    finally:
        sock.close(0)
        ctx.term()
    for reply, path in zip(got, vector["replies"]):
        expected = decode(VECTORS / path)
        assert set(reply) == set(expected), f"{path}: fields differ"
        for key, value in expected.items():
            if key in vector["exact"]:
                assert reply[key] == value, f"{path}: {key}"
            elif key == "pcm":
                dtype = "<i2" if expected["format"] == "s16" else "<f4"
                a, b = np.frombuffer(reply[key], dtype).astype(np.float64), np.frombuffer(value, dtype).astype(np.float64)
                scale = 1.0 if expected["format"] == "s16" else 32767.0
                assert a.shape == b.shape and np.max(np.abs(a - b)) * scale <= vector["pcm_tolerance"]
            else:
                assert _same_type(reply[key], value), f"{path}: {key} type"
                if isinstance(value, float):
                    assert math.isfinite(reply[key])
