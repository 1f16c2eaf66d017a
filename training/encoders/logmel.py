"""Log-mel spectrogram in plain torch ops (conv1d DFT, matmul mel bank), so it exports to ONNX
inside the audio encoder and needs no torchaudio."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular filters on the HTK mel scale, each summing to 1."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    edges = hz(np.linspace(mel(fmin), mel(fmax), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    fb = np.maximum(0.0, np.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre)))
    return fb / np.maximum(fb.sum(axis=1, keepdims=True), 1e-12)


class LogMel(nn.Module):
    """(B, T) waveform -> (B, n_mels, frames) natural-log mel power. Hann window, centred frames."""

    def __init__(self, sample_rate: int = 24000, n_fft: int = 512, hop: int = 240, n_mels: int = 64,
                 fmin: float = 30.0, fmax: float | None = None):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        n = np.arange(n_fft)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)
        k = np.arange(n_fft // 2 + 1)[:, None]
        basis = np.concatenate([np.cos(2 * np.pi * k * n / n_fft), -np.sin(2 * np.pi * k * n / n_fft)]) * window
        self.register_buffer("basis", torch.tensor(basis[:, None, :], dtype=torch.float32), persistent=False)
        fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax or sample_rate / 2)
        self.register_buffer("mel", torch.tensor(fb, dtype=torch.float32), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.log_mel(self.power(audio))

    def power(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, n_fft // 2 + 1, frames) STFT power, a frame every `hop` samples."""
        x = nn.functional.pad(audio[:, None, :], (self.n_fft // 2, self.n_fft // 2))
        spec = nn.functional.conv1d(x, self.basis, stride=self.hop)  # (B, 2F, frames)
        half = spec.shape[1] // 2
        return spec[:, :half] ** 2 + spec[:, half:] ** 2

    def log_mel(self, power: torch.Tensor) -> torch.Tensor:
        """STFT power (B, F, frames) -> (B, n_mels, frames) natural-log mel power."""
        return torch.log(torch.matmul(self.mel, power) + 1e-8)
