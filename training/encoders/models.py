"""The encoder towers and the one factory that builds them from JSON-like configs.

Tiny test configs and the shipped defaults take the same path:

    build_encoder({"type": "audio_cnn", "sample_rate": 24000, "n_mels": 64, "channels": [32, 64, 128], "dim": 64})
    build_encoder({"type": "image_cnn", "size": 64, "channels": [32, 64, 128, 128], "dim": 64})
    build_encoder({"type": "open_clip_image", "model": "ViT-B-32", "checkpoint": "local/weights.bin"})  # frozen CLIP

All return L2-normalised embeddings of size ``.dim``.
"""

from __future__ import annotations

import torch
from torch import nn

from vaf.training.encoders.logmel import LogMel


def _conv_stack(in_channels: int, channels: list[int], stride: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c in channels:
        layers += [nn.Conv2d(in_channels, c, 3, stride=stride, padding=1), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        if stride == 1:
            layers.append(nn.MaxPool2d(2))
        in_channels = c
    return nn.Sequential(*layers)


class AudioEncoder(nn.Module):
    """(B, T) waveform at `sample_rate`, preprocessed (0.5 s, RMS 0.01) -> (B, dim) unit vectors."""

    def __init__(self, sample_rate: int = 24000, n_mels: int = 64, channels: list[int] = (32, 64, 128), dim: int = 64,
                 n_fft: int = 512, hop: int = 240, dropout: float = 0.2):
        super().__init__()
        self.sample_rate = sample_rate
        self.dim = dim
        self.front = LogMel(sample_rate, n_fft, hop, n_mels)
        self.body = _conv_stack(1, list(channels), stride=1)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * channels[-1], dim)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        mel = self.front(audio)
        mel = (mel - mel.mean(dim=(1, 2), keepdim=True)) / (mel.std(dim=(1, 2), keepdim=True) + 1e-5)
        h = self.body(mel[:, None])
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return nn.functional.normalize(self.head(self.drop(pooled)), dim=-1)


class ImageEncoder(nn.Module):
    """(B, 3, size, size) float RGB in [0, 1] -> (B, dim) unit vectors."""

    def __init__(self, size: int = 64, channels: list[int] = (32, 64, 128, 128), dim: int = 64, dropout: float = 0.2):
        super().__init__()
        self.size = size
        self.dim = dim
        self.body = _conv_stack(3, list(channels), stride=2)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * channels[-1], dim)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h = self.body(image * 2.0 - 1.0)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        return nn.functional.normalize(self.head(self.drop(pooled)), dim=-1)


def _open_clip_image(**config) -> nn.Module:
    from vaf.training.encoders.open_clip_image import OpenClipImageEncoder  # open_clip loads only when asked for

    return OpenClipImageEncoder(**config)


ENCODERS = {"audio_cnn": AudioEncoder, "image_cnn": ImageEncoder, "open_clip_image": _open_clip_image}


def build_encoder(config: dict) -> nn.Module:
    """Builds an encoder from {"type": ..., **constructor arguments}; unknown keys raise a clear error."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in ENCODERS:
        raise ValueError(f"encoder config: type {kind!r} is not one of {', '.join(ENCODERS)}")
    try:
        return ENCODERS[kind](**config)
    except TypeError as e:
        raise ValueError(f"encoder config for {kind}: {e}") from None
