"""The Oobleck VAE of stable-audio-tools (Stable Audio Open's "autoencoder" pretransform), written for
this project with the checkpoint's module layout and parameter names, so its ``pretransform.model.*``
weights load by a prefix map (``diffusion.load_pretrained``).

Encoder: a 7-tap conv, then per stride a block of three dilated residual units (dilations 1, 3, 9)
and a strided conv, then a 3-tap conv to 2 * latent channels (VAE mean and scale). Decoder: the
mirror image with transposed convs. Convolutions are weight-normalised (``weight_g``, ``weight_v``:
w = g * v / |v|, the norm over all but the first axis) and activations are SnakeBeta
(x + sin^2(exp(alpha) x) / exp(beta), per channel) or ELU. Only the options Stable Audio Open uses
are implemented; :func:`check_autoencoder_config` refuses the rest by name.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

IGNORED_PRETRANSFORM_KEYS = {"iterate_batch", "model_half", "chunked"}  # memory/speed switches, same numbers


def check_autoencoder_config(pretransform: dict) -> None:
    """Raises ValueError naming the first field of an ``autoencoder`` pretransform config not supported here."""
    unknown = sorted(set(pretransform) - {"type", "config", "scale", *IGNORED_PRETRANSFORM_KEYS})
    if unknown:
        raise ValueError(f"model.pretransform.{unknown[0]} is not supported")
    config = pretransform.get("config", {})
    for part in ("encoder", "decoder"):
        if config.get(part, {}).get("type") != "oobleck":
            raise ValueError(f"model.pretransform.config.{part}.type must be 'oobleck', got {config.get(part, {}).get('type')!r}")
        inner = config[part].get("config", {})
        for key in ("channels", "c_mults", "strides", "latent_dim"):
            if key not in inner:
                raise ValueError(f"model.pretransform.config.{part}.config.{key} is missing")
        if len(inner["c_mults"]) != len(inner["strides"]):
            raise ValueError(f"model.pretransform.config.{part}.config: c_mults and strides differ in length")
        for key in ("antialias_activation", "use_nearest_upsample"):
            if inner.get(key):
                raise ValueError(f"model.pretransform.config.{part}.config.{key} is not supported")
    if config.get("bottleneck", {}).get("type") != "vae":
        raise ValueError(f"model.pretransform.config.bottleneck.type must be 'vae', got {config.get('bottleneck', {}).get('type')!r}")
    if config["encoder"]["config"]["latent_dim"] != 2 * config["decoder"]["config"]["latent_dim"]:
        raise ValueError("model.pretransform.config: the encoder's latent_dim must be twice the decoder's (VAE mean and scale)")
    ratio = math.prod(config["encoder"]["config"]["strides"])
    if config.get("downsampling_ratio", ratio) != ratio:
        raise ValueError(f"model.pretransform.config.downsampling_ratio {config['downsampling_ratio']} is not the product "
                         f"of the strides ({ratio})")


class WNConv1d(nn.Module):
    """Weight-normalised Conv1d or ConvTranspose1d (``transpose``), parameters named as torch's weight_norm names them."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1, bias: bool = True, transpose: bool = False):
        super().__init__()
        shape = (in_channels, out_channels, kernel_size) if transpose else (out_channels, in_channels, kernel_size)
        v = torch.empty(shape)
        nn.init.kaiming_uniform_(v, a=math.sqrt(5))
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.norm(dim=(1, 2), keepdim=True))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.stride, self.padding, self.dilation, self.transpose = stride, padding, dilation, transpose

    def weight(self) -> torch.Tensor:
        return self.weight_g * self.weight_v / self.weight_v.norm(dim=(1, 2), keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.transpose:
            return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding, dilation=self.dilation)
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)


class SnakeBeta(nn.Module):
    """x + sin^2(exp(alpha) x) / exp(beta), per channel of (B, C, T)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha, beta = self.alpha.exp()[None, :, None], self.beta.exp()[None, :, None]
        return x + torch.sin(x * alpha).pow(2) / (beta + 1e-9)


def _activation(use_snake: bool, channels: int) -> nn.Module:
    return SnakeBeta(channels) if use_snake else nn.ELU()


class ResidualUnit(nn.Module):
    def __init__(self, channels: int, dilation: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(_activation(use_snake, channels),
                                    WNConv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
                                    _activation(use_snake, channels), WNConv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


def _residual_units(channels: int, use_snake: bool) -> list[nn.Module]:
    return [ResidualUnit(channels, d, use_snake) for d in (1, 3, 9)]


class EncoderBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(*_residual_units(in_channels, use_snake), _activation(use_snake, in_channels),
                                    WNConv1d(in_channels, out_channels, 2 * stride, stride, math.ceil(stride / 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DecoderBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, use_snake: bool):
        super().__init__()
        self.layers = nn.Sequential(_activation(use_snake, in_channels),
                                    WNConv1d(in_channels, out_channels, 2 * stride, stride, math.ceil(stride / 2), transpose=True),
                                    *_residual_units(out_channels, use_snake))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OobleckEncoder(nn.Module):
    """(B, in_channels, T) -> (B, latent_dim, T / prod(strides))."""

    def __init__(self, in_channels: int, channels: int, c_mults: list[int], strides: list[int], latent_dim: int,
                 use_snake: bool = False, **_: object):
        super().__init__()
        widths = [channels * m for m in [1, *c_mults]]
        layers: list[nn.Module] = [WNConv1d(in_channels, widths[0], 7, padding=3)]
        layers += [EncoderBlock(widths[i], widths[i + 1], s, use_snake) for i, s in enumerate(strides)]
        layers += [_activation(use_snake, widths[-1]), WNConv1d(widths[-1], latent_dim, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OobleckDecoder(nn.Module):
    """(B, latent_dim, L) -> (B, out_channels, L * prod(strides))."""

    def __init__(self, out_channels: int, channels: int, c_mults: list[int], strides: list[int], latent_dim: int,
                 use_snake: bool = False, final_tanh: bool = True, **_: object):
        super().__init__()
        widths = [channels * m for m in [1, *c_mults]]
        layers: list[nn.Module] = [WNConv1d(latent_dim, widths[-1], 7, padding=3)]
        layers += [DecoderBlock(widths[i], widths[i - 1], strides[i - 1], use_snake) for i in range(len(strides), 0, -1)]
        layers += [_activation(use_snake, widths[0]), WNConv1d(widths[0], out_channels, 7, padding=3, bias=False),
                   nn.Tanh() if final_tanh else nn.Identity()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OobleckPretransform(nn.Module):
    """Audio (B, channels, T) <-> latents (B, latent_dim, T / downsampling_ratio) through the VAE.
    ``encode`` returns the posterior mean, or a sample from it when given a generator (as training
    in stable-audio-tools does); latents are divided by ``scale`` (1 for Stable Audio Open)."""

    def __init__(self, pretransform: dict):
        super().__init__()
        check_autoencoder_config(pretransform)
        config = pretransform["config"]
        enc, dec = config["encoder"]["config"], config["decoder"]["config"]
        self.encoder = OobleckEncoder(**{"in_channels": 2, **enc})  # stable-audio-tools' defaults: stereo
        self.decoder = OobleckDecoder(**{"out_channels": 2, **dec})
        self.channels = enc.get("in_channels", 2)
        self.latent_channels = dec["latent_dim"]
        self.downsampling_ratio = math.prod(enc["strides"])
        self.scale = float(pretransform.get("scale", 1.0))

    def encode(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        mean, scale = self.encoder(audio).chunk(2, dim=1)
        if generator is None:
            return mean / self.scale
        std = F.softplus(scale) + 1e-4
        return (mean + std * torch.randn(mean.shape, generator=generator).to(mean.device)) / self.scale

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents * self.scale)
