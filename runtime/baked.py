"""Playing a baked diffusion sample for a contact: the game's physics still sets loudness and brightness.

A bank clip (0.5 s, RMS 0.01, made for a typical hit) is resampled to the request's rate and

- tilted: multiplied in frequency by H(f tau) / H(f tau_ref), the ratio of this contact's half-sine
  force spectrum to that of the reference contact (REFERENCE_EXCITATION), so a harder or lighter
  strike brightens the sound and a soft one darkens it, as in the synthesizer (the ratio is capped
  at 4, +12 dB, so side-lobe notches of the reference do not blow up);
- scaled: to the bank's RMS per N*s (measured on the recordings it was trained on) times the
  contact's impulse, times the request's gain.
"""

from __future__ import annotations

import numpy as np

from vaf.runtime.preprocess import resample
from vaf.runtime.synthesis import Excitation, as_format, contact_spectrum, reference_contact_duration

REFERENCE_EXCITATION = Excitation.from_materials(0.05, 1.5, "wood", "wood")  # the sounding world's typical drumstick hit
MAX_TILT = 4.0


def render_baked(clip: np.ndarray, clip_rate: int, rms_per_impulse: float, excitation: Excitation, sample_rate: int,
                 frames: int, gain: float = 1.0, format: str = "f32") -> np.ndarray:
    """(T,) bank clip -> (frames,) float32 in [-1, 1] (f32) or int16 (s16); zero after the clip ends."""
    x = resample(np.asarray(clip, np.float64), clip_rate, sample_rate)
    n = 2 * max(len(x), frames)
    spectrum = np.fft.rfft(x, n)
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    tau, tau_ref = reference_contact_duration(excitation), reference_contact_duration(REFERENCE_EXCITATION)
    tilt = np.minimum(contact_spectrum(f * tau) / np.maximum(contact_spectrum(f * tau_ref), 1e-12), MAX_TILT)
    y = np.fft.irfft(spectrum * tilt, n)[:frames]
    level = rms_per_impulse * excitation.impulse * gain / max(float(np.sqrt(np.mean(x**2))), 1e-12)
    out = np.zeros(frames, np.float32)
    out[: len(y)] = y * level
    return as_format(out, format)
