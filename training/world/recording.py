"""What a microphone in a room adds to an impact: reverberation and background noise.

The room is the runtime's statistical room (runtime/room.py: direct sound, then exponentially
decaying noise with the requested RT60, as a diffuse late field); the background is pink noise at a given
signal-to-noise ratio. Both are seeded, so a dataset is reproducible.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from vaf.runtime.room import Room, room_impulse_response


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) unit-RMS noise with a 1/f power spectrum."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    f = np.arange(spectrum.size)
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    x = np.fft.irfft(spectrum, n)
    return (x / max(np.sqrt(np.mean(x**2)), 1e-12)).astype(np.float32)


def record(audio: np.ndarray, sample_rate: int, rng: np.random.Generator, rt60: float | None = 0.3,
           snr_db: float | None = 40.0) -> np.ndarray:
    """The impact as recorded in a room: convolved with a room response, plus background noise at snr_db
    (relative to the impact's RMS over its first 0.5 s). None turns either off. Same length as audio."""
    y = np.asarray(audio, np.float64)
    if rt60 is not None:
        y = fftconvolve(y, room_impulse_response(Room(rt60), sample_rate, rng))[: y.size]
    if snr_db is not None:
        head = y[: int(0.5 * sample_rate)]
        level = np.sqrt(np.mean(head**2)) * 10 ** (-snr_db / 20)
        y = y + level * pink_noise(y.size, rng)
    return y.astype(np.float32)
