"""Spectral and decay losses between generated and recorded clips (both (B, T) at the same rate)."""

from __future__ import annotations

import torch
from torch import nn

from vaf.runtime.preprocess import TARGET_RMS
from vaf.training.encoders.logmel import LogMel

FFT_SIZES = (2048, 1024, 512, 256, 128)


def rms_normalise(audio: torch.Tensor, target: float = TARGET_RMS) -> torch.Tensor:
    """The seed's RMS normalisation, differentiable: (B, T) -> (B, T) with RMS `target`."""
    return audio * (target / (audio.square().mean(dim=-1, keepdim=True) + 1e-20).sqrt())


def stft_magnitude(audio: torch.Tensor, n_fft: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=audio.device)
    return torch.stft(audio, n_fft, hop_length=n_fft // 4, window=window, return_complex=True).abs()


class SpectralLoss(nn.Module):
    """Multi-resolution STFT loss (spectral convergence + log-magnitude L1 per FFT size, as in
    Parallel WaveGAN) plus an L1 on log-mel spectra; inputs are RMS-normalised first."""

    def __init__(self, sample_rate: int, mel_weight: float = 1.0, fft_sizes: tuple[int, ...] = FFT_SIZES):
        super().__init__()
        self.fft_sizes = fft_sizes
        self.mel = LogMel(sample_rate)
        self.mel_weight = mel_weight

    def forward(self, generated: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        g, t = rms_normalise(generated), rms_normalise(target)
        loss = torch.zeros((), device=g.device)
        for n_fft in self.fft_sizes:
            mg, mt = stft_magnitude(g, n_fft), stft_magnitude(t, n_fft)
            convergence = torch.linalg.norm(mt - mg, dim=(1, 2)) / (torch.linalg.norm(mt, dim=(1, 2)) + 1e-8)
            log_mag = (torch.log(mg + 1e-5) - torch.log(mt + 1e-5)).abs().mean(dim=(1, 2))
            loss = loss + (convergence + log_mag).mean()
        mel = (self.mel(g) - self.mel(t)).abs().mean()
        return loss / len(self.fft_sizes) + self.mel_weight * 0.1 * mel


def decay_curve_db(audio: torch.Tensor, hop: int = 64, floor_db: float = 60.0) -> torch.Tensor:
    """Schroeder energy decay curve (the energy still to come, over the clip's total), in dB, floored at
    -floor_db, every `hop` samples: (B, T) -> (B, ceil(T / hop)). What the T60 metric fits a line to."""
    remaining = audio.square().flip(-1).cumsum(-1).flip(-1)[:, ::hop]
    return 10 * torch.log10(remaining / (remaining[:, :1] + 1e-20) + 10 ** (-floor_db / 10))


def decay_loss(generated: torch.Tensor, target: torch.Tensor, floor_db: float = 60.0) -> torch.Tensor:
    """Mean absolute difference of the two clips' decay curves, in units of floor_db: 0 for the same
    decay, whatever the spectra; how fast a sound dies is a material cue the spectral terms weigh little."""
    return (decay_curve_db(generated, floor_db=floor_db) - decay_curve_db(target, floor_db=floor_db)).abs().mean() / floor_db


def high_band(audio: torch.Tensor, sample_rate: int, low_hz: float) -> torch.Tensor:
    """(B, T) -> (B, T): the part of each clip above `low_hz` (an ideal high-pass, by zeroing FFT bins)."""
    spectrum = torch.fft.rfft(audio, dim=-1)
    keep = torch.fft.rfftfreq(audio.shape[-1], 1.0 / sample_rate, device=audio.device) >= low_hz
    return torch.fft.irfft(spectrum * keep, n=audio.shape[-1], dim=-1)


def high_decay_loss(generated: torch.Tensor, target: torch.Tensor, sample_rate: int, low_hz: float = 4000.0) -> torch.Tensor:
    """decay_loss on the clips' content above `low_hz`: how long the high modes ring. The whole clip's
    decay curve is ruled by its loud low modes, so a sound whose high modes die too fast (heard as
    ceramic where the recording is steel, docs/results.md) can still match it."""
    return decay_loss(high_band(generated, sample_rate, low_hz), high_band(target, sample_rate, low_hz))
