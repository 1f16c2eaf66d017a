"""The learnt room as the training losses hear it: the expected energy of a dry sound in the
statistical room of runtime/room.py (a direct path, then a diffuse tail of Gaussian noise whose
energy falls 60 dB in RT60 seconds).

The recordings' rooms are random tails; rendering one with a random tail of our own would make the
spectral losses compare two unrelated noise patterns, and they reward a smooth guess over a
matching but different pattern (so a learnt waveform room fades away, docs/results.md). Losses
on energies see the room's expectation instead: an energy envelope p(t) (per sample, per STFT
frame, per band) heard in the room is p(t) + sum_k K(k) p(t - k), K the tail's energy per step.

Which losses learn the room: the decay curves (whole clip and per octave band) only. Measured with
the sounding world's own recipes against their recordings (docs/results.md), the decay losses are
lowest at the recordings' true room, while the log-spectral distances are lower for a much drier
room than the truth (a recording's tail is one random draw, and a smooth expected tail costs more
against it in log magnitude than a missing one): so the spectral terms hear the room but do not move it.
"""

from __future__ import annotations

import math

import torch

from vaf.runtime.room import LN_1000, REFLECTION_DELAY_S


class RoomEnergy:
    """rt60_s, reverb_gain: scalar tensors (seconds; tail amplitude over the direct path's, 10^(-dB/20)),
    differentiable; sample_rate: Hz of the sounds the envelopes come from."""

    def __init__(self, rt60_s: torch.Tensor, reverb_gain: torch.Tensor, sample_rate: int):
        self.rt60_s, self.reverb_gain, self.sample_rate = rt60_s, reverb_gain, sample_rate

    def detached(self) -> RoomEnergy:
        """The same room, its parameters out of the backward pass (heard, not learnt, by a loss)."""
        return RoomEnergy(self.rt60_s.detach(), self.reverb_gain.detach(), self.sample_rate)

    def kernel(self, hop: int, steps: int) -> torch.Tensor:
        """(steps,) the tail's energy in each step of `hop` samples after the direct sound (step 0 holds only the
        direct sound), as an untruncated tail would sum to reverb_gain^2 (a clip cuts the rest)."""
        step_s = hop / self.sample_rate
        first = step_s * math.ceil(max(REFLECTION_DELAY_S, step_s) / step_s - 1e-9)  # the first step the tail reaches
        t = torch.arange(steps, dtype=torch.float32) * step_s
        rate = 2 * LN_1000 / self.rt60_s  # energy decay, 1/s
        share = 1 - torch.exp(-rate * step_s)  # of the tail still to come, what one step holds
        return self.reverb_gain.square() * share * torch.exp(-rate * (t - first)) * (t >= first - 1e-9)

    def heard(self, power: torch.Tensor, hop: int) -> torch.Tensor:
        """(..., steps) energies every `hop` samples, dry -> in the room (same shape, >= 0)."""
        steps = power.shape[-1]
        k = self.kernel(hop, steps)
        n = 2 * steps
        tail = torch.fft.irfft(torch.fft.rfft(power, n) * torch.fft.rfft(k, n), n)[..., :steps]
        return power + tail.clamp_min(0.0)
