"""16-bit PCM WAV files (stdlib wave), mono or multichannel."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int) -> None:
    """samples: (frames,) or (frames, channels), float in [-1, 1] or int16."""
    data = np.asarray(samples)
    if data.dtype != np.int16:
        data = np.rint(np.clip(data, -1.0, 1.0) * 32767).astype(np.int16)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(data.astype("<i2").tobytes())


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """(frames,) or (frames, channels) float32 in [-1, 1], and the sample rate. 16-bit PCM only."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported, got {8 * w.getsampwidth()}-bit")
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32767.0
        channels, rate = w.getnchannels(), w.getframerate()
    return (data if channels == 1 else data.reshape(-1, channels)), rate
