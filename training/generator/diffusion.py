"""The seed's generator: a conditioned diffusion transformer in the shape of stable-audio-tools'
``diffusion_cond`` models, with the text conditioner replaced by an MLP on the multi-level
visual features at the hit point.

Configs follow stable-audio-tools' layout, so a tiny config built in code and a full one read
from a model config JSON take the same path through :func:`build_diffusion`::

    {"model_type": "diffusion_cond", "sample_rate": 24000, "sample_size": 12032,
     "model": {"pretransform": {"type": "patched", "config": {"patch_size": 128}},
               "conditioning": {"type": "mlp", "config": {"levels": 3, "feature_dim": 64, "hidden": 256}},
               "diffusion": {"type": "dit", "config": {"io_channels": 128, "embed_dim": 96, "depth": 3,
                             "num_heads": 4, "cond_token_dim": 96, "global_cond_dim": 96}}}}

Pieces: a patched pretransform (waveform <-> (io_channels, sample_size / patch_size) latents, as
stable-audio-tools' "patched" pretransform; a pretrained model brings its autoencoder instead);
the MLP conditioner (one cross-attention token per level plus a global vector); a DiT with a
prepended timestep+global token, self- and cross-attention blocks; the v objective with the
cosine schedule; classifier-free guidance (conditioning dropped to zeros in training) and a DDIM
sampler (eta 0: deterministic, eta 1: ancestral), steps configurable.

Starting from a pretrained checkpoint (``init``), only the conditioner trains, as the seed does.
Weights are this module's state dicts; mapping the released Stable Audio Open checkpoint's
parameter names onto these modules is not done (see docs/generator.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

DATA_SCALE = 30.0  # clips at RMS 0.01 -> latents of RMS 0.3, a comfortable range for unit-variance noise


def tiny_config(sample_rate: int = 24_000, seconds: float = 0.5, feature_dim: int = 64) -> dict:
    """The tiny config trained here (the issue's 'exercised with a tiny config built in code')."""
    patch = 128
    return {"model_type": "diffusion_cond", "sample_rate": sample_rate,
            "sample_size": int(math.ceil(seconds * sample_rate / patch) * patch),
            "model": {"pretransform": {"type": "patched", "config": {"patch_size": patch}},
                      "conditioning": {"type": "mlp", "config": {"levels": 3, "feature_dim": feature_dim, "hidden": 256}},
                      "diffusion": {"type": "dit", "config": {"io_channels": patch, "embed_dim": 96, "depth": 3, "num_heads": 4,
                                                              "cond_token_dim": 96, "global_cond_dim": 96}}}}


class PatchedPretransform(nn.Module):
    """(B, T) audio <-> (B, patch_size, T / patch_size) latents, by reshaping (lossless)."""

    def __init__(self, patch_size: int):
        super().__init__()
        self.patch_size = patch_size

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        return audio.reshape(audio.shape[0], -1, self.patch_size).transpose(1, 2) * DATA_SCALE

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.transpose(1, 2).reshape(latents.shape[0], -1) / DATA_SCALE


class MLPConditioner(nn.Module):
    """(B, levels, feature_dim) features -> cross-attention tokens (B, levels, cond_token_dim) and a
    global vector (B, global_cond_dim)."""

    def __init__(self, levels: int, feature_dim: int, hidden: int, cond_token_dim: int, global_cond_dim: int):
        super().__init__()
        self.level_embedding = nn.Parameter(torch.zeros(levels, feature_dim))
        self.tokens = nn.Sequential(nn.Linear(feature_dim, hidden), nn.GELU(), nn.Linear(hidden, cond_token_dim))
        self.globals = nn.Sequential(nn.Linear(levels * feature_dim, hidden), nn.GELU(), nn.Linear(hidden, global_cond_dim))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens(features + self.level_embedding), self.globals(features.reshape(features.shape[0], -1))


class FourierFeatures(nn.Module):
    def __init__(self, out_features: int, std: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features // 2, 1) * std)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * t[:, None] @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


class DiTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, cond_dim: int):
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, heads, kdim=cond_dim, vdim=cond_dim, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.self_attn(h, h, h, need_weights=False)[0]
        x = x + self.cross_attn(self.norm2(x), cond, cond, need_weights=False)[0]
        return x + self.ff(self.norm3(x))


class DiffusionTransformer(nn.Module):
    """v prediction: latents (B, io_channels, L), t (B,) in [0, 1], cond tokens, global cond -> (B, io_channels, L)."""

    def __init__(self, io_channels: int, embed_dim: int, depth: int, num_heads: int, cond_token_dim: int,
                 global_cond_dim: int, max_tokens: int):
        super().__init__()
        self.proj_in = nn.Linear(io_channels, embed_dim)
        self.position = nn.Parameter(torch.zeros(1, max_tokens + 1, embed_dim))
        self.timestep = nn.Sequential(FourierFeatures(256), nn.Linear(256, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.global_proj = nn.Sequential(nn.Linear(global_cond_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.blocks = nn.ModuleList(DiTBlock(embed_dim, num_heads, cond_token_dim) for _ in range(depth))
        self.norm_out = nn.LayerNorm(embed_dim)
        self.proj_out = nn.Linear(embed_dim, io_channels)
        nn.init.zeros_(self.proj_out.weight)
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond_tokens: torch.Tensor, global_cond: torch.Tensor) -> torch.Tensor:
        tokens = self.proj_in(x.transpose(1, 2))
        prepend = (self.timestep(t) + self.global_proj(global_cond))[:, None]
        h = torch.cat([prepend, tokens], dim=1) + self.position[:, : tokens.shape[1] + 1]
        for block in self.blocks:
            h = block(h, cond_tokens)
        return self.proj_out(self.norm_out(h[:, 1:])).transpose(1, 2)


class ConditionedDiffusion(nn.Module):
    """The whole model; ``config`` is the stable-audio-tools-style dict it was built from."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        m = config["model"]
        d, c = m["diffusion"]["config"], m["conditioning"]["config"]
        self.sample_rate, self.sample_size = int(config["sample_rate"]), int(config["sample_size"])
        self.pretransform = PatchedPretransform(m["pretransform"]["config"]["patch_size"])
        self.conditioner = MLPConditioner(c["levels"], c["feature_dim"], c["hidden"], d["cond_token_dim"], d["global_cond_dim"])
        self.model = DiffusionTransformer(d["io_channels"], d["embed_dim"], d["depth"], d["num_heads"], d["cond_token_dim"],
                                          d["global_cond_dim"], self.sample_size // self.pretransform.patch_size)

    def conditioning(self, features: torch.Tensor, drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, global_cond = self.conditioner(features)
        if drop is not None:  # classifier-free guidance: the null condition is all zeros
            keep = (~drop).to(tokens.dtype)
            tokens, global_cond = tokens * keep[:, None, None], global_cond * keep[:, None]
        return tokens, global_cond

    def loss(self, audio: torch.Tensor, features: torch.Tensor, generator: torch.Generator, cfg_dropout: float = 0.1) -> torch.Tensor:
        """v-objective MSE for (B, sample_size) clips and their (B, levels, feature_dim) features."""
        x = self.pretransform.encode(audio)
        t = torch.rand(len(x), generator=generator)
        alpha, sigma = torch.cos(0.5 * math.pi * t)[:, None, None], torch.sin(0.5 * math.pi * t)[:, None, None]
        noise = torch.randn(x.shape, generator=generator)
        drop = torch.rand(len(x), generator=generator) < cfg_dropout
        v = self.model(alpha * x + sigma * noise, t, *self.conditioning(features, drop))
        return (v - (alpha * noise - sigma * x)).square().mean()

    @torch.no_grad()
    def sample(self, features: torch.Tensor, steps: int = 50, cfg_scale: float = 6.0, eta: float = 0.0,
               seed: int = 0) -> torch.Tensor:
        """(B, levels, feature_dim) -> (B, sample_size) clips at RMS ~0.01. DDIM on the v objective with
        classifier-free guidance (cfg_scale 1 = none); eta 0 deterministic, 1 ancestral."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        gen = torch.Generator().manual_seed(seed)
        b = len(features)
        tokens, global_cond = self.conditioning(features)
        null_tokens, null_global = torch.zeros_like(tokens), torch.zeros_like(global_cond)
        x = torch.randn((b, self.model.proj_out.out_features, self.sample_size // self.pretransform.patch_size), generator=gen)
        ts = torch.linspace(1.0, 0.0, steps + 1)
        for t, t_next in zip(ts[:-1], ts[1:]):
            tt = torch.full((b,), float(t))
            v = self.model(x, tt, tokens, global_cond)
            if cfg_scale != 1.0:
                v_null = self.model(x, tt, null_tokens, null_global)
                v = v_null + cfg_scale * (v - v_null)
            alpha, sigma = math.cos(0.5 * math.pi * t), math.sin(0.5 * math.pi * t)
            x0, eps = alpha * x - sigma * v, sigma * x + alpha * v
            a_next, s_next = math.cos(0.5 * math.pi * t_next), math.sin(0.5 * math.pi * t_next)
            ddim_sigma = eta * (s_next / max(sigma, 1e-8)) * math.sqrt(max(0.0, 1 - (alpha * s_next / max(a_next * sigma, 1e-8)) ** 2)) \
                if t_next > 0 else 0.0
            ddim_sigma = min(ddim_sigma, s_next)
            x = a_next * x0 + math.sqrt(max(s_next**2 - ddim_sigma**2, 0.0)) * eps
            if ddim_sigma > 0:
                x = x + ddim_sigma * torch.randn(x.shape, generator=gen)
        return self.pretransform.decode(x)


def build_diffusion(config: dict) -> ConditionedDiffusion:
    """The one factory for diffusion models (see the module docstring for the config layout)."""
    if config.get("model_type") != "diffusion_cond":
        raise ValueError(f"model_type must be 'diffusion_cond', got {config.get('model_type')!r}")
    m = config.get("model", {})
    for key, kind in (("pretransform", "patched"), ("conditioning", "mlp"), ("diffusion", "dit")):
        if m.get(key, {}).get("type") != kind:
            raise ValueError(f"model.{key}.type must be {kind!r} (got {m.get(key, {}).get('type')!r})")
    patch = m["pretransform"]["config"]["patch_size"]
    if int(config["sample_size"]) % patch or m["diffusion"]["config"]["io_channels"] != patch:
        raise ValueError(f"sample_size must be a multiple of patch_size {patch}, and io_channels equal to it")
    return ConditionedDiffusion(config)


def load_diffusion(path: str | Path) -> ConditionedDiffusion:
    """A model from a diffusion.pt written by train_diffusion (config and weights together)."""
    state = torch.load(path, weights_only=False)
    model = build_diffusion(state["config"])
    model.load_state_dict(state["model"])
    return model.eval()


def load_pretrained(config_json: str | Path, weights: str | Path, levels: int = 3, feature_dim: int = 64,
                    hidden: int = 256) -> ConditionedDiffusion:
    """A pretrained model from a local model config JSON plus a weights file (a state dict, or a dict
    holding one under "state_dict" or "model"); never fetched from the network. Whatever text
    conditioner the config names is replaced by a fresh MLP conditioner on (levels, feature_dim)
    features: every other weight must be in the file, conditioner weights are not read."""
    config = json.loads(Path(config_json).read_text())
    config.setdefault("model", {})["conditioning"] = {"type": "mlp", "config": {"levels": levels, "feature_dim": feature_dim,
                                                                                "hidden": hidden}}
    model = build_diffusion(config)
    state = torch.load(weights, map_location="cpu", weights_only=False)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    state = {k: v for k, v in state.items() if not k.startswith("conditioner.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("conditioner.")]
    if missing or unexpected:
        raise ValueError(f"{weights}: does not fit {config_json} (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


def train_diffusion(targets: np.ndarray, features: np.ndarray, out: str | Path, config: dict | None = None,
                    init: ConditionedDiffusion | None = None, epochs: int = 10, batch: int = 32, lr: float = 1e-3,
                    seed: int = 0, progress: bool = True, meta: dict | None = None) -> dict:
    """Trains on (N, T) preprocessed clips and their (N, levels, D) features; writes OUT/diffusion.pt
    (with `meta`, e.g. the encoders' fingerprint and the loudness per N*s, stored beside the weights).

    With `init` (a pretrained model) only the conditioner is trained; else everything, from `config`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = init if init is not None else build_diffusion(config or tiny_config(feature_dim=features.shape[2]))
    params = list(model.conditioner.parameters()) if init is not None else list(model.parameters())
    if init is not None:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
    size = model.sample_size
    clips = np.zeros((len(targets), size), np.float32)
    clips[:, : min(size, targets.shape[1])] = targets[:, :size]
    audio, feats = torch.tensor(clips), torch.tensor(features, dtype=torch.float32)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = max(1, len(audio) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps, pct_start=0.1)
    history = []
    model.train()
    for epoch in tqdm(range(epochs), desc="diffusion", unit="epoch", disable=not progress):
        order = torch.randperm(len(audio), generator=gen)
        losses = []
        for b in range(steps):
            index = order[b * batch : (b + 1) * batch]
            loss = model.loss(audio[index], feats[index], gen)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses))})
    model.eval()
    torch.save({"model": model.state_dict(), "config": model.config, "history": history, "meta": meta or {}},
               out / "diffusion.pt")
    return {"history": history, "trained": "conditioner" if init is not None else "all"}
