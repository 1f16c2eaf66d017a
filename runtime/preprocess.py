"""The Visual Acoustic Fields preprocessing of hit recordings (seed paper, section 4):
spectral-gate denoising, crop or pad to 0.5 s from the onset, RMS normalisation to 0.01."""

from __future__ import annotations

import numpy as np
from scipy.signal import istft, stft

CLIP_SECONDS = 0.5
TARGET_RMS = 0.01
PRE_ONSET_S = 0.005  # keep this much before the detected onset


def spectral_gate(audio: np.ndarray, sample_rate: int, noise: np.ndarray | None = None, threshold_std: float = 3.0,
                  nperseg: int = 512) -> np.ndarray:
    """Zeroes STFT bins that do not rise above the noise: mean + threshold_std * std of the noise's
    magnitude per frequency. The noise profile comes from `noise` (a clip of background), else from
    the quietest 20% of the recording's frames. At 3 std a stationary Gaussian noise keeps about
    3.5% of its energy (-15 dB): STFT magnitudes of such noise are Rayleigh distributed.
    (N,) float -> (N,) float32."""
    x = np.asarray(audio, np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"audio must be a non-empty 1-D array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("audio has NaN or infinite samples")
    _, _, spec = stft(x, sample_rate, nperseg=nperseg)
    mag = np.abs(spec)
    if noise is not None:
        _, _, noise_spec = stft(np.asarray(noise, np.float64), sample_rate, nperseg=nperseg)
        profile = np.abs(noise_spec)
    else:
        energy = mag.sum(axis=0)
        quiet = energy <= np.quantile(energy, 0.2)
        profile = mag[:, quiet]
    gate = profile.mean(axis=1, keepdims=True) + threshold_std * profile.std(axis=1, keepdims=True)
    _, y = istft(spec * (mag > gate), sample_rate, nperseg=nperseg)
    return y[: x.size].astype(np.float32)


def onset(audio: np.ndarray, fraction: float = 0.1) -> int:
    """Index of the first sample whose magnitude reaches `fraction` of the peak."""
    peak = np.max(np.abs(audio))
    return int(np.argmax(np.abs(audio) >= fraction * peak)) if peak > 0 else 0


def crop_or_pad(audio: np.ndarray, sample_rate: int, seconds: float = CLIP_SECONDS) -> np.ndarray:
    """Starts PRE_ONSET_S before the onset and keeps exactly `seconds`, zero-padding the end."""
    n = int(round(seconds * sample_rate))
    start = max(0, onset(audio) - int(PRE_ONSET_S * sample_rate))
    clip = np.zeros(n, np.float32)
    part = audio[start : start + n]
    clip[: part.size] = part
    return clip


def rms_normalise(audio: np.ndarray, target: float = TARGET_RMS) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.asarray(audio, np.float64) ** 2)))
    if rms == 0:
        raise ValueError("audio is silent: cannot normalise its RMS")
    return (audio * (target / rms)).astype(np.float32)


def finish_clip(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """A clean generated clip through the seed's crop/pad and RMS normalisation (no denoising: there is no
    noise to remove; silence stays silence). (N,) -> (0.5 * rate,) float32."""
    clip = crop_or_pad(np.asarray(audio, np.float32), sample_rate)
    return rms_normalise(clip) if np.any(clip) else clip


def preprocess(audio: np.ndarray, sample_rate: int, noise: np.ndarray | None = None) -> np.ndarray:
    """The seed's pipeline: denoise, crop/pad to 0.5 s from the onset, RMS 0.01. Returns (0.5 * rate,) float32."""
    return rms_normalise(crop_or_pad(spectral_gate(audio, sample_rate, noise), sample_rate))


def resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Polyphase resampling of (N,) audio to target_rate: float64."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    x = np.asarray(audio, np.float64)
    if sample_rate == target_rate:
        return x
    ratio = Fraction(target_rate, sample_rate).limit_denominator(1000)
    return resample_poly(x, ratio.numerator, ratio.denominator)


def encoder_clip(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """What the audio encoder takes: resampled to target_rate, then preprocess(): (0.5 * target_rate,) float32."""
    return preprocess(resample(audio, sample_rate, target_rate), target_rate)


def clip_and_level(audio: np.ndarray, sample_rate: int, target_rate: int) -> tuple[np.ndarray, float]:
    """encoder_clip() and the RMS the clip had before normalisation (its loudness, which the seed drops)."""
    clip = crop_or_pad(spectral_gate(resample(audio, sample_rate, target_rate), target_rate), target_rate)
    return rms_normalise(clip), float(np.sqrt(np.mean(np.asarray(clip, np.float64) ** 2)))
