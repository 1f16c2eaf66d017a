"""A room around an impact: the statistical late-reverb model (direct sound, then exponentially
decaying Gaussian noise, a diffuse field), described by two numbers a game or a model can give.

The sounding world records its hits through this model (training/world/recording.py); the
real-time generator can learn the recordings' RT60 and direct-to-reverb ratio in its training path
(``--room``; training/generator/room.py ``RoomEnergy`` is this model's expected energy, the
differentiable twin) and so predict dry recipes; a contact may ask for a room (``room`` in docs/protocol.md). Games with their own reverb
leave it off. A ``localize`` clip may be heard in one before it is embedded: the audio encoder learnt from
recordings in a room, and places a dry clip better heard in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

RT60_RANGE_S = (0.05, 5.0)
DIRECT_TO_REVERB_RANGE_DB = (-20.0, 40.0)
REFLECTION_DELAY_S = 0.003  # the diffuse tail starts this long after the direct sound
LN_1000 = float(np.log(1000.0))  # -60 dB


@dataclass(frozen=True)
class Room:
    """rt60_s: seconds for the tail to fall 60 dB; direct_to_reverb_db: direct sound energy over the tail's, dB."""

    rt60_s: float
    direct_to_reverb_db: float = 6.0

    def __post_init__(self) -> None:
        low, high = RT60_RANGE_S
        if not low <= self.rt60_s <= high:
            raise ValueError(f"rt60_s must be within {low}..{high} s, got {self.rt60_s}")
        low, high = DIRECT_TO_REVERB_RANGE_DB
        if not low <= self.direct_to_reverb_db <= high:
            raise ValueError(f"direct_to_reverb_db must be within {low}..{high} dB, got {self.direct_to_reverb_db}")


def room_of_manifest(entry: dict | None, where: str) -> Room | None:
    """A model manifest's optional room entry {rt60_s, direct_to_reverb_db}; ValueError naming `where` if malformed."""
    if entry is None:
        return None
    try:
        return Room(float(entry["rt60_s"]), float(entry["direct_to_reverb_db"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where} must be {{rt60_s, direct_to_reverb_db}} in range: {e}") from None


def room_impulse_response(room: Room, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """(rt60 * sample_rate,) float32: a unit direct path, then the diffuse tail (energy 10^(-dB/10))."""
    n = max(1, int(room.rt60_s * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.normal(size=n) * np.exp(-LN_1000 * t / room.rt60_s)
    tail[: int(REFLECTION_DELAY_S * sample_rate)] = 0.0
    tail *= 10 ** (-room.direct_to_reverb_db / 20) / max(np.sqrt(np.sum(tail**2)), 1e-12)
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverberate(audio: np.ndarray, room: Room, sample_rate: int, seed: int) -> np.ndarray:
    """(T,) dry float audio heard in `room` (its tail seeded by `seed`), cut to T samples: float32."""
    response = room_impulse_response(room, sample_rate, np.random.default_rng(seed))
    return fftconvolve(np.asarray(audio, np.float64), response[: len(audio)])[: len(audio)].astype(np.float32)
