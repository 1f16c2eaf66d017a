"""The seed's generator: a conditioned diffusion transformer in the shape of stable-audio-tools'
``diffusion_cond`` models, with the text conditioner replaced by an MLP on the multi-level
visual features at the hit point.

Configs follow stable-audio-tools' layout, so a tiny config built in code and Stable Audio Open's
``model_config.json`` take the same path through :func:`build_diffusion`::

    {"model_type": "diffusion_cond", "sample_rate": 24000, "sample_size": 12032, "audio_channels": 1,
     "model": {"pretransform": {"type": "patched", "config": {"patch_size": 128}},
               "conditioning": {"type": "mlp", "config": {"levels": 3, "feature_dim": 64, "hidden": 256}},
               "diffusion": {"type": "dit", "config": {"io_channels": 128, "embed_dim": 96, "depth": 3,
                             "num_heads": 3, "cond_token_dim": 96, "global_cond_dim": 96}}}}

Pieces: the pretransform, audio <-> latents: "patched" (lossless reshaping, what the tiny model
uses) or "autoencoder" (the Oobleck VAE, ``oobleck.py``, what Stable Audio Open uses); the MLP
conditioner (one cross-attention token per level plus a global vector); the DiT (``dit.py``,
stable-audio-tools' network and parameter names); the v objective with the cosine schedule;
classifier-free guidance as stable-audio-tools does it (the condition tokens are dropped to
zeros in training and replaced by zeros in the unconditional pass; the global condition stays);
a DDIM sampler (eta 0: deterministic, eta 1: ancestral), steps configurable.

Mono clips go in and come out: a model of ``audio_channels`` 2 (Stable Audio Open) gets the clip
on both channels and returns their mean. ``sample_rate`` is the model's; callers resample.

Starting from a pretrained checkpoint (:func:`load_pretrained`), only the conditioner trains, as
the seed does; the checkpoint's own conditioners (T5, seconds) are not read.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vaf.runtime.preprocess import resample
from vaf.training.checkpoints import resume, save_checkpoint
from vaf.training.generator.dit import DiffusionTransformer
from vaf.training.generator.oobleck import OobleckPretransform

DATA_SCALE = 30.0  # clips at RMS 0.01 -> latents of RMS 0.3, a comfortable range for unit-variance noise

# stable-audio-tools checkpoint prefixes -> this module's (its DiT sits in a wrapper, its VAE in a pretransform)
CHECKPOINT_PREFIXES = {"model.model.": "model.", "pretransform.model.": "pretransform."}


def tiny_config(sample_rate: int = 24_000, seconds: float = 0.5, feature_dim: int = 64) -> dict:
    """The tiny config trained here (the issue's 'exercised with a tiny config built in code')."""
    patch = 128
    return {"model_type": "diffusion_cond", "sample_rate": sample_rate, "audio_channels": 1,
            "sample_size": int(math.ceil(seconds * sample_rate / patch) * patch),
            "model": {"pretransform": {"type": "patched", "config": {"patch_size": patch}},
                      "conditioning": {"type": "mlp", "config": {"levels": 3, "feature_dim": feature_dim, "hidden": 256}},
                      "diffusion": {"type": "dit", "config": {"io_channels": patch, "embed_dim": 96, "depth": 3, "num_heads": 3,
                                                              "cond_token_dim": 96, "global_cond_dim": 96}}}}


class PatchedPretransform(nn.Module):
    """(B, 1, T) audio <-> (B, patch_size, T / patch_size) latents, by reshaping (lossless), times DATA_SCALE."""

    def __init__(self, patch_size: int):
        super().__init__()
        self.channels, self.latent_channels, self.downsampling_ratio = 1, patch_size, patch_size

    def encode(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return audio.reshape(audio.shape[0], -1, self.downsampling_ratio).transpose(1, 2) * DATA_SCALE

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.transpose(1, 2).reshape(latents.shape[0], 1, -1) / DATA_SCALE


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


class ConditionedDiffusion(nn.Module):
    """The whole model; ``config`` is the stable-audio-tools-style dict it was built from."""

    def __init__(self, config: dict):
        super().__init__()
        self.config = config
        m = config["model"]
        d, c = m["diffusion"]["config"], m["conditioning"]["config"]
        self.sample_rate, self.sample_size = int(config["sample_rate"]), int(config["sample_size"])
        pretransform = m["pretransform"]
        self.pretransform = PatchedPretransform(pretransform["config"]["patch_size"]) if pretransform["type"] == "patched" \
            else OobleckPretransform(pretransform)
        self.conditioner = MLPConditioner(c["levels"], c["feature_dim"], c["hidden"], d["cond_token_dim"], d["global_cond_dim"])
        self.model = DiffusionTransformer(**d)

    @property
    def latent_shape(self) -> tuple[int, int]:
        """(channels, length) of the latents of one clip."""
        return self.pretransform.latent_channels, self.sample_size // self.pretransform.downsampling_ratio

    def encode(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(B, sample_size) mono clips -> latents, the clip copied to every channel the model has."""
        return self.pretransform.encode(audio[:, None].expand(-1, self.pretransform.channels, -1), generator)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents -> (B, sample_size) mono clips (the mean of the model's channels)."""
        return self.pretransform.decode(latents).mean(dim=1)

    def conditioning(self, features: torch.Tensor, drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, global_cond = self.conditioner(features)
        if drop is not None:  # classifier-free guidance: the null condition is zero tokens
            tokens = tokens * (~drop).to(tokens.dtype)[:, None, None]
        return tokens, global_cond

    def loss(self, audio: torch.Tensor, features: torch.Tensor, generator: torch.Generator, cfg_dropout: float = 0.1) -> torch.Tensor:
        """v-objective MSE for (B, sample_size) clips and their (B, levels, feature_dim) features."""
        with torch.no_grad():
            x = self.encode(audio, generator)
        # random numbers from the (CPU) generator, so a run is reproducible on any device
        t = torch.rand(len(x), generator=generator).to(x.device)
        alpha, sigma = torch.cos(0.5 * math.pi * t)[:, None, None], torch.sin(0.5 * math.pi * t)[:, None, None]
        noise = torch.randn(x.shape, generator=generator).to(x.device)
        drop = (torch.rand(len(x), generator=generator) < cfg_dropout).to(x.device)
        v = self.model(alpha * x + sigma * noise, t, *self.conditioning(features, drop))
        return (v - (alpha * noise - sigma * x)).square().mean()

    def guided_v(self, x: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor, global_cond: torch.Tensor,
                 cfg_scale: float) -> torch.Tensor:
        """The DiT's v with classifier-free guidance: v_null + cfg_scale * (v - v_null), v_null with zero
        condition tokens and the same global condition (stable-audio-tools' rule); cfg_scale 1 = no guidance."""
        v = self.model(x, t, tokens, global_cond)
        if cfg_scale == 1.0:
            return v
        v_null = self.model(x, t, torch.zeros_like(tokens), global_cond)
        return v_null + cfg_scale * (v - v_null)

    @torch.no_grad()
    def sample(self, features: torch.Tensor, steps: int = 50, cfg_scale: float = 6.0, eta: float = 0.0,
               seed: int = 0) -> torch.Tensor:
        """(B, levels, feature_dim) -> (B, sample_size) clips on the CPU (RMS ~0.01 for the patched
        pretransform), computed on the model's device. DDIM on the v objective with classifier-free
        guidance (cfg_scale 1 = none); eta 0 deterministic, 1 ancestral."""
        if steps < 1:
            raise ValueError(f"steps must be at least 1, got {steps}")
        gen = torch.Generator().manual_seed(seed)
        b, device = len(features), next(self.parameters()).device
        tokens, global_cond = self.conditioning(features.to(device))
        x = torch.randn((b, *self.latent_shape), generator=gen).to(device)
        ts = torch.linspace(1.0, 0.0, steps + 1)
        for t, t_next in zip(ts[:-1], ts[1:]):
            v = self.guided_v(x, torch.full((b,), float(t), device=device), tokens, global_cond, cfg_scale)
            alpha, sigma = math.cos(0.5 * math.pi * t), math.sin(0.5 * math.pi * t)
            x0, eps = alpha * x - sigma * v, sigma * x + alpha * v
            a_next, s_next = math.cos(0.5 * math.pi * t_next), math.sin(0.5 * math.pi * t_next)
            ddim_sigma = eta * (s_next / max(sigma, 1e-8)) * math.sqrt(max(0.0, 1 - (alpha * s_next / max(a_next * sigma, 1e-8)) ** 2)) \
                if t_next > 0 else 0.0
            ddim_sigma = min(ddim_sigma, s_next)
            x = a_next * x0 + math.sqrt(max(s_next**2 - ddim_sigma**2, 0.0)) * eps
            if ddim_sigma > 0:
                x = x + ddim_sigma * torch.randn(x.shape, generator=gen).to(device)
        return self.decode(x).cpu()


def build_diffusion(config: dict) -> ConditionedDiffusion:
    """The one factory for diffusion models (see the module docstring for the config layout)."""
    if config.get("model_type") != "diffusion_cond":
        raise ValueError(f"model_type must be 'diffusion_cond', got {config.get('model_type')!r}")
    m = config.get("model", {})
    kind = m.get("pretransform", {}).get("type")
    if kind not in ("patched", "autoencoder"):
        raise ValueError(f"model.pretransform.type must be 'patched' or 'autoencoder' (got {kind!r})")
    for key, expected in (("conditioning", "mlp"), ("diffusion", "dit")):
        if m.get(key, {}).get("type") != expected:
            raise ValueError(f"model.{key}.type must be {expected!r} (got {m.get(key, {}).get('type')!r})")
    if m["diffusion"].get("diffusion_objective", "v") != "v":
        raise ValueError(f"model.diffusion.diffusion_objective must be 'v', got {m['diffusion']['diffusion_objective']!r}")
    model = ConditionedDiffusion(config)
    channels, _ = model.latent_shape
    if m["diffusion"]["config"]["io_channels"] != channels:
        raise ValueError(f"model.diffusion.config.io_channels must equal the pretransform's latent channels ({channels})")
    if int(config["sample_size"]) % model.pretransform.downsampling_ratio:
        raise ValueError(f"sample_size must be a multiple of the pretransform's downsampling ratio "
                         f"{model.pretransform.downsampling_ratio}, got {config['sample_size']}")
    if int(config.get("audio_channels", model.pretransform.channels)) != model.pretransform.channels:
        raise ValueError(f"audio_channels {config['audio_channels']} does not match the pretransform's {model.pretransform.channels}")
    return model


def load_diffusion(path: str | Path) -> ConditionedDiffusion:
    """A model from a diffusion.pt written by train_diffusion (config and weights together)."""
    state = torch.load(path, weights_only=False)
    model = build_diffusion(state["config"])
    model.load_state_dict(state["model"])
    return model.eval()


def diffusion_meta(path: str | Path) -> dict:
    """What train_diffusion stored beside a diffusion.pt's weights: the encoders' fingerprint, the training
    recordings' median RMS per N*s ("rms_per_impulse"), the dataset. Memory-mapped: a pretrained model's gigabytes of
    weights are not read for it."""
    return torch.load(path, weights_only=False, mmap=True).get("meta", {})


def read_checkpoint(weights: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a stable-audio-tools checkpoint on local disk: a ``.safetensors`` file, or a
    torch file holding the dict itself or under "state_dict" (Lightning) or "model"."""
    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no such weights file")
    if weights.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(weights))
    state = torch.load(weights, map_location="cpu", weights_only=False)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{weights}: not a state dict")
    return state


def checkpoint_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renames a stable-audio-tools ``diffusion_cond`` state dict to this module's names
    (CHECKPOINT_PREFIXES); the checkpoint's conditioners and anything else outside the two prefixes are dropped."""
    ours = {}
    for key, value in state.items():
        for theirs, mine in CHECKPOINT_PREFIXES.items():
            if key.startswith(theirs):
                ours[mine + key[len(theirs):]] = value
    return ours


def load_pretrained(config_json: str | Path, weights: str | Path, levels: int = 3, feature_dim: int = 64,
                    hidden: int = 256, seconds: float | None = 0.5) -> ConditionedDiffusion:
    """A pretrained model (e.g. Stable Audio Open 1.0: its model_config.json and model.safetensors or
    model.ckpt) from local disk; never fetched from the network. Whatever conditioner the config
    names (T5 and seconds for Stable Audio Open) is replaced by a fresh MLP conditioner on (levels,
    feature_dim) features producing the DiT's cond_token_dim tokens and global_cond_dim vector;
    every DiT and pretransform weight must be in the file. ``seconds`` shortens sample_size to the
    hit's duration (rounded up to the pretransform's ratio), as the seed does; None keeps the config's."""
    config = json.loads(Path(config_json).read_text())
    config.setdefault("model", {})["conditioning"] = {"type": "mlp", "config": {"levels": levels, "feature_dim": feature_dim,
                                                                                "hidden": hidden}}
    for key in ("cross_attention_cond_ids", "global_cond_ids"):  # the replaced conditioner's wiring
        config["model"].get("diffusion", {}).pop(key, None)
    model = build_diffusion(config)
    if seconds is not None:
        ratio = model.pretransform.downsampling_ratio
        config["sample_size"] = model.sample_size = int(math.ceil(seconds * model.sample_rate / ratio) * ratio)
    missing, unexpected = model.load_state_dict(checkpoint_to_ours(read_checkpoint(weights)), strict=False)
    missing = [k for k in missing if not k.startswith("conditioner.")]
    if missing or unexpected:
        raise ValueError(f"{weights}: does not fit {config_json} (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return model.eval()


def _fingerprint(*tensors: torch.Tensor) -> str:
    """Which training clips and features a checkpoint was made on (a resumed run must see the same)."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(str(tuple(t.shape)).encode())
        digest.update(t.numpy().tobytes())
    return digest.hexdigest()[:20]


def train_diffusion(targets: np.ndarray, features: np.ndarray, out: str | Path, config: dict | None = None,
                    init: ConditionedDiffusion | None = None, epochs: int = 10, batch: int = 32, lr: float = 1e-3,
                    seed: int = 0, progress: bool = True, meta: dict | None = None, sample_rate: int | None = None,
                    device: str = "cpu") -> dict:
    """Trains on (N, T) preprocessed clips at `sample_rate` (default: the model's; others are resampled
    to it) and their (N, levels, D) features; writes OUT/diffusion.pt (with `meta`, e.g. the encoders'
    fingerprint and the loudness per N*s, stored beside the weights).

    With `init` (a pretrained model) only the conditioner is trained; else everything, from `config`.
    `device` is where the model trains ("cuda" for Stable Audio Open); the weights are saved from the CPU.
    Resumable: OUT/checkpoint.pt after every epoch (the trained weights, optimiser, schedule, sampling state); the
    same call again goes on from there, and one with other settings or clips is refused, naming what differs."""
    out = Path(out)
    if (out / "diffusion.pt").exists():
        raise FileExistsError(f"{out / 'diffusion.pt'} exists: choose another --out (nothing was overwritten)")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = init if init is not None else build_diffusion(config or tiny_config(feature_dim=features.shape[2]))
    model.to(device)
    params = list(model.conditioner.parameters()) if init is not None else list(model.parameters())
    if init is not None:
        for p in model.parameters():
            p.requires_grad_(False)
        for p in params:
            p.requires_grad_(True)
    if sample_rate is not None and sample_rate != model.sample_rate:
        targets = np.stack([resample(t, sample_rate, model.sample_rate) for t in targets])
    size = model.sample_size
    clips = np.zeros((len(targets), size), np.float32)
    clips[:, : min(size, targets.shape[1])] = targets[:, :size]
    audio, feats = torch.tensor(clips), torch.tensor(features, dtype=torch.float32)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps = max(1, len(audio) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps, pct_start=0.1)
    # A pretrained model's frozen weights (a billion parameters for Stable Audio Open) stay out of the checkpoint.
    trained = model.conditioner if init is not None else model
    run = {"config": model.config, "trained": "conditioner" if init is not None else "all", "epochs": epochs,
           "batch": batch, "lr": lr, "seed": seed, "clips": _fingerprint(audio, feats)}
    checkpoint = out / "checkpoint.pt"
    out.mkdir(parents=True, exist_ok=True)
    start, history = resume(checkpoint, run, gen, model=trained, opt=opt, sched=sched)
    model.train()
    for epoch in tqdm(range(start, epochs), desc="diffusion", unit="epoch", disable=not progress, initial=start,
                      total=epochs):
        order = torch.randperm(len(audio), generator=gen)
        losses = []
        for b in range(steps):
            index = order[b * batch : (b + 1) * batch]
            loss = model.loss(audio[index].to(device), feats[index].to(device), gen)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses))})
        save_checkpoint(checkpoint, run, epoch + 1, history, gen, model=trained, opt=opt, sched=sched)
    model.eval()
    torch.save({"model": {k: v.cpu() for k, v in model.state_dict().items()}, "config": model.config, "history": history, "meta": meta or {}},
               out / "diffusion.pt")
    return {"history": history, "trained": "conditioner" if init is not None else "all"}
