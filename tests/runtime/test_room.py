"""The statistical room (runtime/room.py): what the sounding world records through, a contact may ask for, and a
localize clip may be heard in (the encoders' manifest names theirs)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from vaf.runtime.encoders import DEFAULT_ENCODERS, MANIFEST, OnnxEncoders
from vaf.runtime.room import REFLECTION_DELAY_S, Room, reverberate, room_impulse_response

FS = 48000


def schroeder_rt60(response: np.ndarray, sample_rate: int) -> float:
    energy = np.cumsum(response[::-1].astype(np.float64) ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0])
    t = np.arange(response.size) / sample_rate
    sel = (edc < -5) & (edc > -35)
    return float(-60 / np.polyfit(t[sel], edc[sel], 1)[0])


@pytest.mark.parametrize("rt60", [0.2, 0.4, 1.0])
def test_the_tail_falls_60_db_in_rt60_at_the_requested_level(rt60):
    response = room_impulse_response(Room(rt60, 9.0), FS, np.random.default_rng(2))
    assert response[0] == 1.0 and not response[1 : int(REFLECTION_DELAY_S * FS)].any()  # direct sound, then a gap
    tail = response[int(REFLECTION_DELAY_S * FS) :]
    assert schroeder_rt60(tail, FS) == pytest.approx(rt60, rel=0.1)
    assert 10 * np.log10(1.0 / np.sum(tail.astype(np.float64) ** 2)) == pytest.approx(9.0, abs=1e-3)


def test_a_room_is_seeded_and_keeps_the_clip_length():
    t = np.arange(FS // 2) / FS
    dry = (0.5 * np.exp(-40 * t) * np.sin(2 * np.pi * 600 * t)).astype(np.float32)
    room = Room(0.5, 3.0)
    wet = reverberate(dry, room, FS, seed=7)
    assert wet.shape == dry.shape and wet.dtype == np.float32
    np.testing.assert_array_equal(wet, reverberate(dry, room, FS, seed=7))
    assert not np.array_equal(wet, reverberate(dry, room, FS, seed=8))
    late = slice(int(0.3 * FS), None)  # the dry ring has fallen 100 dB by then; the room's tail has not
    assert np.sqrt(np.mean(wet[late] ** 2)) > 100 * np.sqrt(np.mean(dry[late] ** 2))


@pytest.mark.parametrize("field, kwargs", [("rt60_s", {"rt60_s": 10.0}), ("rt60_s", {"rt60_s": 0.01}),
                                           ("direct_to_reverb_db", {"rt60_s": 0.3, "direct_to_reverb_db": 60.0})])
def test_a_room_out_of_range_is_refused_naming_the_field(field, kwargs):
    with pytest.raises(ValueError, match=field):
        Room(**kwargs)


@pytest.mark.parametrize("entry", [{"rt60_s": 0.3}, {"rt60_s": 50.0, "direct_to_reverb_db": 6.0}, [0.3, 6.0]],
                         ids=["no level", "out of range", "not a map"])
def test_a_model_folder_with_a_malformed_room_is_refused_naming_the_field(tmp_path, entry):
    """The encoders' manifest names the room of their training recordings (hello's localize_room); a bad one stops
    the load with the file and field named, not a KeyError at the first request."""
    folder = tmp_path / "encoders"
    shutil.copytree(DEFAULT_ENCODERS, folder)
    assert OnnxEncoders.load(folder).recordings_room == Room(0.3, 6.0)  # the embedded ones: the world's room
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["audio"]["recordings_room"] = entry
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"encoders\.json: 'audio\.recordings_room' must be"):
        OnnxEncoders.load(folder)
    del manifest["audio"]["recordings_room"]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert OnnxEncoders.load(folder).recordings_room is None  # encoders that do not say
