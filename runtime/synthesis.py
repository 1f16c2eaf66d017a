"""Impact recipes rendered by the native synthesizer, and its numpy reference.

An :class:`ImpactRecipe` is a bank of damped modes plus a band-passed noise
burst; an :class:`Excitation` is the contact that strikes it. :func:`render`
runs the C++ core (``vaf._native``, see ``bindings/include/vaf/vaf.h``);
:func:`render_reference` is the same algorithm written plainly in numpy, kept
for tests and for reading. The two agree to 1e-5 of the peak.

The law, for mode k of the recipe at frequency f_k (after detuning)::

    tau   = 2.87 * (m**2 / (R * E***2 * v)) ** 0.2,  m = impulse / speed   (Hertz contact)
    A_k   = out_gain * impulse * gain_k * H(f_k * tau)
    y[n] += A_k * exp(-decay_k * n / fs) * sin(2 pi f_k n / fs)

with H the half-sine force spectrum (1 at DC, its side lobes replaced by their
envelope). Doubling the impulse at a fixed contact duration doubles every
amplitude (+6.02 dB); a harder striker shortens tau, which brightens the sound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from vaf import _native
from vaf.runtime.materials import material

BLOCK = 16  # samples per native render block (kBlock in bindings/src/impact_synth.hpp)
SILENCE = 1e-7  # amplitude under which a mode stops being rendered
_DETUNE_STREAM = np.uint64(1 << 63)


@dataclass(frozen=True)
class ImpactRecipe:
    """Modes and transient of one impact sound.

    freq_hz, decay_per_s, gain: (K,) float32 arrays; frequencies in Hz, decay
    rates in 1/s (envelope exp(-decay t)), gains are signed amplitudes per N*s
    of impulse. The noise burst is a band (centre, bandwidth in Hz) with an
    amplitude per N*s and a decay rate in 1/s; level 0 means no burst.
    """

    freq_hz: np.ndarray
    decay_per_s: np.ndarray
    gain: np.ndarray
    noise_center_hz: float = 0.0
    noise_bandwidth_hz: float = 1.0
    noise_level: float = 0.0
    noise_decay_per_s: float = 1.0

    @property
    def noise(self) -> tuple[float, float, float, float]:
        return (self.noise_center_hz, self.noise_bandwidth_hz, self.noise_level, self.noise_decay_per_s)

    @property
    def num_modes(self) -> int:
        return int(np.asarray(self.freq_hz).shape[0])


@dataclass(frozen=True)
class Excitation:
    """The contact that strikes a recipe.

    impulse: N*s; speed: relative normal speed, m/s; moduli in Pa; radius of the
    striker's curvature at the contact in m.
    """

    impulse: float
    speed: float
    striker_modulus: float
    striker_poisson: float
    striker_radius: float
    target_modulus: float
    target_poisson: float

    @classmethod
    def from_materials(
        cls, impulse: float, speed: float, striker: str = "rubber", target: str = "wood", striker_radius: float = 0.02
    ) -> Excitation:
        """Builds an excitation from material names (see vaf.runtime.materials)."""
        s, t = material(striker, "striker"), material(target, "target")
        return cls(impulse, speed, s.youngs_modulus, s.poisson, striker_radius, t.youngs_modulus, t.poisson)

    def as_tuple(self) -> tuple[float, ...]:
        return (
            self.impulse,
            self.speed,
            self.striker_modulus,
            self.striker_poisson,
            self.striker_radius,
            self.target_modulus,
            self.target_poisson,
        )


def contact_duration(excitation: Excitation) -> float:
    """Hertz contact duration in seconds."""
    return _native.contact_duration(excitation.as_tuple())


def render(
    recipe: ImpactRecipe,
    excitation: Excitation,
    sample_rate: int,
    frames: int,
    seed: int = 0,
    detune: float = 0.0,
    gain: float = 1.0,
    format: str = "f32",
) -> np.ndarray:
    """Renders (frames,) samples, float32 in [-1, 1] (``f32``) or int16 (``s16``), native code."""
    return _native.render(
        recipe.freq_hz,
        recipe.decay_per_s,
        recipe.gain,
        recipe.noise,
        excitation.as_tuple(),
        sample_rate,
        frames,
        seed,
        detune,
        gain,
        format,
    )


def render_batch(
    recipes: list[ImpactRecipe],
    excitations: list[Excitation],
    seeds: list[int],
    sample_rate: int,
    frames: int,
    detune: float = 0.0,
    gain: float = 1.0,
    format: str = "f32",
) -> np.ndarray:
    """Renders many recipes in one native call: (len(recipes), frames)."""
    return _native.render_batch(
        [r.freq_hz for r in recipes],
        [r.decay_per_s for r in recipes],
        [r.gain for r in recipes],
        [r.noise for r in recipes],
        [e.as_tuple() for e in excitations],
        seeds,
        sample_rate,
        frames,
        detune,
        gain,
        format,
    )


def as_format(samples: np.ndarray, format: str) -> np.ndarray:
    """Float samples -> float32 clipped to [-1, 1] ("f32") or int16 ("s16", rounded as the native code does)."""
    clipped = np.clip(np.asarray(samples, np.float32), -1.0, 1.0)
    return np.rint(clipped * np.float32(32767.0)).astype(np.int16) if format == "s16" else clipped


def voice(
    recipe: ImpactRecipe, excitation: Excitation, sample_rate: int, seed: int = 0, detune: float = 0.0, gain: float = 1.0
) -> _native.Voice:
    """A streaming voice: ``voice.render(frames, format)`` returns the next chunk."""
    return _native.Voice(
        recipe.freq_hz, recipe.decay_per_s, recipe.gain, recipe.noise, excitation.as_tuple(), sample_rate, seed, detune, gain
    )


# --- numpy reference -------------------------------------------------------------------------


def _mix64(x: np.ndarray) -> np.ndarray:
    """Splitmix64 finaliser on uint64 arrays (wrapping arithmetic, as in C)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def hash_uniform(seed: int, counters: np.ndarray) -> np.ndarray:
    """Counter-based uniform numbers in [-1, 1), identical to the native ones; float64."""
    with np.errstate(over="ignore"):
        bits = _mix64(_mix64(np.asarray([seed], dtype=np.uint64)) ^ counters.astype(np.uint64))
    return (bits >> np.uint64(40)).astype(np.float64) * (2.0 / 16777216.0) - 1.0


def contact_spectrum(x: np.ndarray) -> np.ndarray:
    """Half-sine force spectrum |F(f)|/J at x = f * tau; side lobes past x = 1 replaced by their envelope."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        main = np.abs(np.cos(np.pi * x) / (1.0 - 4.0 * x * x))
    main = np.where(np.abs(x - 0.5) < 1e-9, np.pi / 4.0, main)
    with np.errstate(divide="ignore"):
        tail = 1.0 / (4.0 * x * x - 1.0)
    return np.where(x <= 1.0, main, tail)


def reference_contact_duration(excitation: Excitation) -> float:
    e = excitation
    mass = e.impulse / e.speed
    compliance = (1 - e.striker_poisson**2) / e.striker_modulus + (1 - e.target_poisson**2) / e.target_modulus
    e_star = 1.0 / compliance
    return 2.87 * (mass * mass / (e.striker_radius * e_star * e_star * e.speed)) ** 0.2


def render_reference(
    recipe: ImpactRecipe,
    excitation: Excitation,
    sample_rate: int,
    frames: int,
    seed: int = 0,
    detune: float = 0.0,
    gain: float = 1.0,
) -> np.ndarray:
    """The native algorithm in plain float64 numpy (no validation): (frames,) float32."""
    fs = float(sample_rate)
    f32 = lambda v: float(np.float32(v))  # noqa: E731  (the native code receives float32 inputs)
    tau = reference_contact_duration(Excitation(*(f32(v) for v in excitation.as_tuple())))
    scale = f32(gain) * f32(excitation.impulse)
    k = np.arange(recipe.num_modes, dtype=np.uint64)
    freq = np.asarray(recipe.freq_hz, np.float32).astype(np.float64)
    freq = freq * (1.0 + f32(detune) * hash_uniform(seed, _DETUNE_STREAM + k))
    amp = scale * np.asarray(recipe.gain, np.float32).astype(np.float64) * contact_spectrum(freq * tau)
    decay = np.asarray(recipe.decay_per_s, np.float32).astype(np.float64)
    keep = (freq < fs / 2) & (np.abs(amp) > SILENCE)
    n = np.arange(frames, dtype=np.float64)
    out = np.zeros(frames, dtype=np.float64)
    for f, a, d in zip(freq[keep], amp[keep], decay[keep]):
        end = frames
        if d > 0:  # modes stop at the end of the block where they fall under SILENCE
            end = min(frames, int(np.ceil(np.log(abs(a) / SILENCE) / d * fs / BLOCK)) * BLOCK)
        out[:end] += a * np.exp(-d * n[:end] / fs) * np.sin(2 * np.pi * f * n[:end] / fs)

    center, bandwidth, level, noise_decay = (f32(v) for v in recipe.noise)
    noise_amp = scale * level * float(contact_spectrum(center * tau))
    if level > 0 and 0 < center < fs / 2 and noise_amp > SILENCE:
        end = min(frames, int(np.ceil(np.log(noise_amp / SILENCE) / noise_decay * fs)))
        white = hash_uniform(seed, np.arange(end, dtype=np.uint64))
        w0 = 2 * np.pi * center / fs
        alpha = np.sin(w0) * bandwidth / (2 * center)
        b0 = alpha / (1 + alpha)
        band = lfilter([b0, 0.0, -b0], [1.0, -2 * np.cos(w0) / (1 + alpha), (1 - alpha) / (1 + alpha)], white)
        out[:end] += noise_amp * np.exp(-noise_decay * n[:end] / fs) * band
    return out.astype(np.float32)
