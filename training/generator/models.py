"""Recipe networks: what a spot looks like -> an impact recipe for the synthesizer.

One factory builds every variant from a JSON-like config, so tiny test configs, the shipped
default and the baselines take the same path:

    build_generator({"type": "recipe_mlp", "input": "features", "feature_dim": 64, "levels": 3})
    build_generator({"type": "recipe_mlp", "input": "patch", "patch_px": 16})      # the seed's "local" variant
    build_generator({"type": "recipe_mlp", "geometry": True})   # + the struck segment's extents (runtime/segment_geometry.py)

The network predicts over a fixed log-spaced frequency grid (one candidate mode per bin, with a
fine offset of at most half a bin, a decay rate and an amplitude), which keeps the spectral
losses smooth in the parameters.
Amplitudes are a softmax over bins (the timbre) times exp(level) (the loudness per N*s), so the
shape is learnt from normalised clips and the loudness from their removed RMS.

Decay rates follow the struck material's damping law (``decay_law`` "rayleigh": alpha / 2 + beta w^2 / 2,
alpha and beta learnt per material, mixed by the material head's probabilities) within a per-bin
factor, so what the loud modes of every hit teach about a material reaches its quiet high modes
(docs/generator.md); "free" gives each bin its own decay.

The runtime recipe has ``modes_out`` modes: the loudest bins as they are, and ``fold_bands``
modes that stand for all the others, one per band of neighbouring bins, carrying their energy
(``fold_modes``). Dropping the quiet bins instead lost the dense, fast-dying high spectrum that
tells metals, glass and ceramics apart (docs/results.md).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from vaf.runtime.materials import MATERIALS
from vaf.runtime.segment_geometry import EXTENT_DIMS, GEOMETRY_DIM
from vaf.training.generator.room import RoomEnergy

# ln(extent / 1 m) spans about -7 (1 mm) to 1 (3 m); centred on 10 cm for the network
GEOMETRY_CENTRE, GEOMETRY_SPREAD = math.log(0.1), 2.0
# Extents are read within 0.5 mm..5 m, a margin around the sounding world's (1.1 mm board thickness to 4.6 m
# floors on world150): a larger segment (e.g. an imported capture not yet split into parts, one segment the size
# of the room) sounds like the largest thing the network learnt, not like an extrapolation.
GEOMETRY_LN_RANGE = (math.log(5e-4), math.log(5.0))
# where every material's learnt damping law starts: alpha 1/s, beta s (between wood's and steel's, runtime/materials.py)
RAYLEIGH_START = (10.0, 3e-7)
# where the learnt room starts: RT60 s, direct-to-reverb dB. Wet: the decay curves learn it, and a room that has
# faded gets little gradient back (started dry, with the spectral terms also moving it, it faded: docs/results.md)
ROOM_START = (0.5, 0.0)
TARGET_MATERIALS = tuple(m for m in MATERIALS if m != "rubber")  # what a struck surface can be; rubber only strikes


@dataclass
class RecipeConfig:
    """Frequencies in Hz, decay rates in 1/s."""

    type: str = "recipe_mlp"
    input: str = "features"  # "features": (levels, feature_dim) multi-level features; "patch": (patch_px, patch_px, 3) RGB
    feature_dim: int = 64
    levels: int = 3
    patch_px: int = 16
    geometry: bool = False  # also read the struck segments' extents and the hit's place (B, GEOMETRY_DIM)
    hidden: int = 256
    layers: int = 3
    dropout: float = 0.1
    grid_bins: int = 128
    f_min: float = 40.0
    f_max: float = 11_500.0
    decay_min: float = 1.0
    decay_max: float = 5_000.0
    # "free": each bin's decay rate is its own output; "rayleigh": the struck material's damping law
    # alpha / 2 + beta w^2 / 2 (alpha, beta learnt per material, mixed by the material head's probabilities)
    # times a per-bin factor within exp(+-decay_spread)
    decay_law: str = "rayleigh"
    decay_spread: float = 0.5
    # learn the recordings' room (RT60 and direct-to-reverb ratio of runtime/room.py's statistical room) in the
    # training path (training/generator/room.py), so the recipe can stay dry while the loss hears what the microphone heard
    room: bool = False
    modes_out: int = 40  # runtime recipe size: each mode costs render time per contact (docs/generator.md)
    fold_bands: int = 8  # of the modes_out: modes standing for the bins not kept, one per band of grid bins
    materials: list[str] = field(default_factory=lambda: list(TARGET_MATERIALS))

    def __post_init__(self) -> None:
        if self.type != "recipe_mlp":
            raise ValueError(f"type must be 'recipe_mlp', got {self.type!r}")
        if self.input not in ("features", "patch"):
            raise ValueError(f"input must be 'features' or 'patch', got {self.input!r}")
        if not 0 < self.f_min < self.f_max:
            raise ValueError(f"need 0 < f_min < f_max, got {self.f_min}, {self.f_max}")
        if self.decay_law not in ("free", "rayleigh"):
            raise ValueError(f"decay_law must be 'free' or 'rayleigh', got {self.decay_law!r}")
        if not self.decay_spread >= 0:
            raise ValueError(f"decay_spread must be >= 0, got {self.decay_spread}")
        if not 1 <= self.modes_out <= self.grid_bins:
            raise ValueError(f"modes_out must be within 1..grid_bins ({self.grid_bins}), got {self.modes_out}")
        if not 0 <= self.fold_bands < self.modes_out:
            raise ValueError(f"fold_bands must be within 0..modes_out - 1 ({self.modes_out - 1}), got {self.fold_bands}")
        unknown = [m for m in self.materials if m not in MATERIALS]
        if unknown:
            raise ValueError(f"materials: unknown {unknown} (known: {', '.join(MATERIALS)})")

    @property
    def input_size(self) -> int:
        image = self.levels * self.feature_dim if self.input == "features" else 3 * self.patch_px**2
        return image + (GEOMETRY_DIM if self.geometry else 0)

    def grid_hz(self) -> np.ndarray:
        return np.geomspace(self.f_min, self.f_max, self.grid_bins)


class RecipeNet(nn.Module):
    """x: (B, levels, feature_dim) or (B, patch_px, patch_px, 3), geometry: (B, GEOMETRY_DIM) ln metres when the
    config reads it -> dict of recipe tensors:

    freq_hz, decay_per_s, gain: (B, grid_bins); bin_log_share: (B, grid_bins) log of each bin's share of the
    gain; noise: (B, 4) centre Hz, bandwidth Hz, level per N*s, decay 1/s; material_logits: (B, len(materials))."""

    def __init__(self, config: RecipeConfig):
        super().__init__()
        self.config = config
        c = config
        self.inp = nn.Linear(c.input_size, c.hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(c.hidden), nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Dropout(c.dropout))
            for _ in range(c.layers)
        )
        self.norm = nn.LayerNorm(c.hidden)
        self.bins = nn.Linear(c.hidden, 3 * c.grid_bins)
        self.noise = nn.Linear(c.hidden, 4)
        self.level = nn.Linear(c.hidden, 1)
        self.material = nn.Linear(c.hidden, len(c.materials))
        if c.decay_law == "rayleigh":  # (materials, 2): ln alpha (1/s), ln beta (s); all start at one middling material
            start = torch.tensor([math.log(RAYLEIGH_START[0]), math.log(RAYLEIGH_START[1])])
            self.damping = nn.Parameter(start.repeat(len(c.materials), 1))
        if c.room:  # ln RT60 (s), ln reverb amplitude (direct-to-reverb ratio as a linear gain)
            self.room = nn.Parameter(torch.tensor([math.log(ROOM_START[0]), -ROOM_START[1] / 20 * math.log(10)]))
        self.register_buffer("log_grid", torch.tensor(np.log(c.grid_hz()), dtype=torch.float32))
        self.half_bin = 0.5 * math.log(c.f_max / c.f_min) / max(1, c.grid_bins - 1)
        with torch.no_grad():  # start near a plain, quiet, medium-damped sound
            self.level.bias.fill_(0.0)
            self.noise.bias.copy_(torch.tensor([0.0, 0.0, -3.0, 0.0]))

    def trunk(self, x: torch.Tensor, geometry: torch.Tensor | None) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1) * (2.0 if self.config.input == "patch" else 1.0)
        if self.config.geometry:
            if geometry is None:
                raise ValueError(f"this generator reads geometry (B, {GEOMETRY_DIM}): pass describe()'s rows")
            extents, place = geometry[:, :EXTENT_DIMS].clamp(*GEOMETRY_LN_RANGE), geometry[:, EXTENT_DIMS:]
            x = torch.cat([x, (extents - GEOMETRY_CENTRE) / GEOMETRY_SPREAD, 4.0 * place], dim=-1)
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.norm(h)

    def forward(self, x: torch.Tensor, geometry: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        c = self.config
        h = self.trunk(x, geometry)
        # Constant slices with kept dims (not chunk/unbind/stack): the exported graph then has no shape
        # arithmetic or squeezes, and at one contact ONNX Runtime's cost is per node (docs/benchmarks.md).
        bins, g = self.bins(h), c.grid_bins
        logit, decay_raw, offset_raw = bins[:, :g], bins[:, g : 2 * g], bins[:, 2 * g :]
        level = self.level(h)  # (B, 1) natural-log amplitude per N*s
        freq = torch.exp(self.log_grid + self.half_bin * torch.tanh(offset_raw))
        material_logits = self.material(h)
        decay = self.decay_per_s(freq, decay_raw, material_logits)
        gain = torch.softmax(logit, dim=-1) * torch.exp(level)
        n = self.noise(h)
        squashed = torch.sigmoid(n)
        centre = torch.exp(math.log(200.0) + squashed[:, 0:1] * math.log(10_000.0 / 200.0))
        bandwidth = centre * (0.25 + 1.5 * squashed[:, 1:2])
        noise_level = torch.exp(level + n[:, 2:3])
        noise_decay = torch.exp(math.log(50.0) + squashed[:, 3:4] * math.log(3_000.0 / 50.0))
        return {"freq_hz": freq, "decay_per_s": decay, "gain": gain, "bin_log_share": torch.log_softmax(logit, dim=-1),
                "noise": torch.cat([centre, bandwidth, noise_level, noise_decay], dim=-1),
                "material_logits": material_logits}

    def decay_per_s(self, freq: torch.Tensor, decay_raw: torch.Tensor, material_logits: torch.Tensor) -> torch.Tensor:
        """(B, grid_bins) decay rates in 1/s of modes at freq (B, grid_bins) Hz (see RecipeConfig.decay_law)."""
        c = self.config
        if c.decay_law == "free":
            return torch.exp(math.log(c.decay_min) + torch.sigmoid(decay_raw) * math.log(c.decay_max / c.decay_min))
        # detached: the head says which material it is (cross-entropy alone); the law is what that material does,
        # so the spectral loss cannot hedge by blurring the material probabilities
        alpha_beta = torch.exp(torch.softmax(material_logits.detach(), dim=-1) @ self.damping)  # (B, 2)
        omega = 2 * math.pi * freq
        law = 0.5 * alpha_beta[:, 0:1] + 0.5 * alpha_beta[:, 1:2] * omega.square()
        return (law * torch.exp(c.decay_spread * torch.tanh(decay_raw))).clamp(c.decay_min, c.decay_max)

    def room_energy(self, sample_rate: int) -> RoomEnergy | None:
        """The learnt room, as the losses hear it (training/generator/room.py); None without one."""
        if not self.config.room:
            return None
        return RoomEnergy(torch.exp(self.room[0]), torch.exp(self.room[1]), sample_rate)

    def learnt_room(self) -> dict[str, float] | None:
        """{"rt60_s", "direct_to_reverb_db"} of the learnt room; None without one."""
        if not self.config.room:
            return None
        log_rt60, log_gain = self.room.detach().tolist()
        return {"rt60_s": math.exp(log_rt60), "direct_to_reverb_db": -20 * log_gain / math.log(10)}

    def damping_law(self) -> dict[str, tuple[float, float]] | None:
        """The learnt Rayleigh damping per material: {name: (alpha 1/s, beta s)}; None for the free law."""
        if self.config.decay_law != "rayleigh":
            return None
        values = torch.exp(self.damping.detach()).tolist()
        return {m: (a, b) for m, (a, b) in zip(self.config.materials, values)}


def band_membership(bins: int, bands: int) -> torch.Tensor:
    """(bins, bands) float32: 1 where grid bin k lies in band b (bands of neighbouring bins, as equal as they divide)."""
    band_of_bin = (torch.arange(bins) * bands) // bins
    return (band_of_bin[:, None] == torch.arange(bands)).to(torch.float32)


def fold_modes(freq_hz: torch.Tensor, decay_per_s: torch.Tensor, gain: torch.Tensor, keep: int,
               membership: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Grid modes (B, bins) each -> runtime modes (B, keep + bands): the `keep` loudest bins as they
    are (gains >= 0), then per band of `membership` (bins, bands) one mode carrying the energy of its
    bins not kept (a damped sine's energy is gain^2 / (4 decay)), at their energy-weighted mean log
    frequency and log decay rate. A band whose bins are all kept gets a silent mode (gain 0).
    Differentiable in every bin's parameters, so training can hear what ships."""
    _, top = torch.topk(gain, keep, dim=-1)
    kept = [torch.gather(t, 1, top) for t in (freq_hz, decay_per_s, gain)]
    if membership.shape[1] == 0:
        return kept[0], kept[1], kept[2]
    # scalars, not ones_like/zeros_like: no shape-dependent constants in the exported graph
    energy = (gain.square() / (4 * decay_per_s)).scatter(1, top, 0.0)
    band_energy = energy @ membership
    sounding = band_energy > 0
    safe_energy = torch.where(sounding, band_energy, 1.0)  # no 0/0 in the unused branch
    mean_log = lambda t: ((energy * torch.log(t)) @ membership) / safe_energy  # noqa: E731
    band_centre = (torch.log(freq_hz) @ membership) / membership.sum(dim=0)
    band_freq = torch.exp(torch.where(sounding, mean_log(freq_hz), band_centre))
    band_decay = torch.exp(torch.where(sounding, mean_log(decay_per_s), 0.0))
    band_gain = torch.where(sounding, torch.sqrt(4 * band_decay * safe_energy), 0.0)
    return (torch.cat([kept[0], band_freq], dim=1), torch.cat([kept[1], band_decay], dim=1),
            torch.cat([kept[2], band_gain], dim=1))


class RuntimeRecipe(nn.Module):
    """What ships (ONNX): the net's grid folded into modes_out runtime modes (``fold_modes``) and
    material probabilities in place of logits."""

    def __init__(self, net: RecipeNet):
        super().__init__()
        self.net = net
        c = net.config
        self.register_buffer("membership", band_membership(c.grid_bins, c.fold_bands), persistent=False)

    def forward(self, x: torch.Tensor, geometry: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        out = self.net(x, geometry)
        c = self.net.config
        modes = fold_modes(out["freq_hz"], out["decay_per_s"], out["gain"], c.modes_out - c.fold_bands, self.membership)
        return (*modes, out["noise"], torch.softmax(out["material_logits"], dim=-1))


def build_generator(config: dict | RecipeConfig) -> RecipeNet:
    """The one factory (see the module docstring)."""
    if isinstance(config, dict):
        if config.get("type") != "recipe_mlp":
            raise ValueError(f"generator config 'type' must be 'recipe_mlp', got {config.get('type')!r}")
        known = set(RecipeConfig.__dataclass_fields__)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"generator config: unknown keys {unknown}")
        config = RecipeConfig(**config)
    return RecipeNet(config)


def config_dict(net: RecipeNet) -> dict:
    return asdict(net.config)
