"""The diffusion transformer of stable-audio-tools' ``dit`` models (the network of Stable Audio
Open), written for this project with the same module layout and parameter names, so a released
checkpoint's ``model.model.*`` weights load into :class:`DiffusionTransformer` by a prefix map
(``diffusion.load_pretrained``). Only the options Stable Audio Open uses are implemented; the rest
are refused by :func:`check_dit_config` with the option's name.

Shape of the network: Fourier timestep features -> MLP, added to the projected global condition
and prepended to the sequence as one token; a 1x1 "preprocess" conv (zero-initialised, residual);
a pre-norm transformer with rotary position embeddings on part of each head (self-attention),
cross-attention to the projected condition tokens (grouped-query when the tokens are narrower
than the model), and SwiGLU feed-forward; a 1x1 "postprocess" conv. Bias-free layer norms keep
their zero bias as a buffer (``beta``), as the checkpoint does.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

ROTARY_MIN_DIM = 32  # stable-audio-tools rotates max(head_dim // 2, 32) channels of each head

SUPPORTED_DEFAULTS = {"patch_size": 1, "input_concat_dim": 0, "prepend_cond_dim": 0, "transformer_type": "continuous_transformer",
                      "global_cond_type": "prepend", "timestep_cond_type": "global", "diffusion_objective": "v",
                      "project_global_cond": True}


def check_dit_config(config: dict) -> None:
    """Raises ValueError naming the first field of a ``dit`` config this implementation cannot honour."""
    for key, value in SUPPORTED_DEFAULTS.items():
        if config.get(key, value) != value:
            raise ValueError(f"model.diffusion.config.{key} = {config[key]!r} is not supported (only {value!r})")
    known = {"io_channels", "embed_dim", "depth", "num_heads", "cond_token_dim", "global_cond_dim", "project_cond_tokens",
             *SUPPORTED_DEFAULTS}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"model.diffusion.config.{unknown[0]} is not supported")
    for key in ("io_channels", "embed_dim", "depth", "num_heads", "cond_token_dim", "global_cond_dim"):
        if not isinstance(config.get(key), int) or config[key] < 1:
            raise ValueError(f"model.diffusion.config.{key} must be a positive integer, got {config.get(key)!r}")
    head = config["embed_dim"] // config["num_heads"]
    if head * config["num_heads"] != config["embed_dim"] or head < ROTARY_MIN_DIM:
        raise ValueError(f"model.diffusion.config: embed_dim / num_heads must be a whole number >= {ROTARY_MIN_DIM} "
                         f"(got {config['embed_dim']} / {config['num_heads']})")
    cond = config["cond_token_dim"] if not config.get("project_cond_tokens", True) else config["embed_dim"]
    if cond % head or config["num_heads"] % (cond // head):
        raise ValueError(f"model.diffusion.config.cond_token_dim: the condition tokens ({cond}) must split into heads of "
                         f"{head} whose count divides num_heads {config['num_heads']}")


class LayerNorm(nn.Module):
    """Layer norm with a learnt scale and a fixed zero bias (kept as a buffer, as in the checkpoint)."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], weight=self.gamma, bias=self.beta, eps=self.eps)


class RotaryEmbedding(nn.Module):
    """Rotation angles (n, dim) for positions 0..n-1; ``inv_freq`` is a saved buffer in the checkpoint."""

    def __init__(self, dim: int, base: float = 10_000.0):
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / base ** (torch.arange(0, dim, 2).float() / dim))

    def forward(self, length: int) -> torch.Tensor:
        freqs = torch.arange(length, dtype=torch.float32)[:, None] * self.inv_freq[None]
        return torch.cat([freqs, freqs], dim=-1)


def apply_rotary(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotates the first freqs.shape[-1] channels of x (B, H, N, D) by the angles (N, R); the rest pass."""
    rot = freqs.shape[-1]
    head, tail = x[..., :rot], x[..., rot:]
    first, second = head.chunk(2, dim=-1)
    rotated = head * freqs.cos() + torch.cat([-second, first], dim=-1) * freqs.sin()
    return torch.cat([rotated, tail], dim=-1)


class Attention(nn.Module):
    """Multi-head attention without biases. Self-attention uses one fused ``to_qkv``; cross-attention
    ``to_q`` and ``to_kv`` from context tokens of width ``context_dim``, whose heads (context_dim /
    head_dim of them) are shared by groups of query heads."""

    def __init__(self, dim: int, head_dim: int, context_dim: int | None = None):
        super().__init__()
        self.heads, self.head_dim = dim // head_dim, head_dim
        if context_dim is None:
            self.to_qkv = nn.Linear(dim, 3 * dim, bias=False)
            self.kv_heads = self.heads
        else:
            self.to_q = nn.Linear(dim, dim, bias=False)
            self.to_kv = nn.Linear(context_dim, 2 * context_dim, bias=False)
            self.kv_heads = context_dim // head_dim
        self.to_out = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.to_out.weight)  # every branch starts as the identity, as stable-audio-tools initialises

    def _split(self, x: torch.Tensor, heads: int) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, freqs: torch.Tensor | None = None) -> torch.Tensor:
        if context is None:
            q, k, v = (self._split(p, self.heads) for p in self.to_qkv(x).chunk(3, dim=-1))
        else:
            q = self._split(self.to_q(x), self.heads)
            k, v = (self._split(p, self.kv_heads) for p in self.to_kv(context).chunk(2, dim=-1))
            if self.kv_heads != self.heads:
                k, v = (t.repeat_interleave(self.heads // self.kv_heads, dim=1) for t in (k, v))
        if freqs is not None:
            q, k = apply_rotary(q, freqs), apply_rotary(k, freqs)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class GLU(nn.Module):
    """SwiGLU input projection: (.., dim) -> (.., hidden)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, gate = self.proj(x).chunk(2, dim=-1)
        return x * F.silu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        # the Identity keeps the checkpoint's indices (ff.0 and ff.2)
        self.ff = nn.Sequential(GLU(dim, mult * dim), nn.Identity(), nn.Linear(mult * dim, dim))
        nn.init.zeros_(self.ff[2].weight)
        nn.init.zeros_(self.ff[2].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff(x)


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, head_dim: int, context_dim: int):
        super().__init__()
        self.pre_norm = LayerNorm(dim)
        self.self_attn = Attention(dim, head_dim)
        self.cross_attend_norm = LayerNorm(dim)
        self.cross_attn = Attention(dim, head_dim, context_dim)
        self.ff_norm = LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.pre_norm(x), freqs=freqs)
        x = x + self.cross_attn(self.cross_attend_norm(x), context=context)
        return x + self.ff(self.ff_norm(x))


class ContinuousTransformer(nn.Module):
    """(B, N, dim_in) -> (B, N, dim_out) through ``depth`` blocks; ``prepend`` tokens (B, P, dim) join
    the sequence after the input projection and are returned too."""

    def __init__(self, dim: int, depth: int, head_dim: int, dim_in: int, dim_out: int, context_dim: int):
        super().__init__()
        self.project_in = nn.Linear(dim_in, dim, bias=False)
        self.project_out = nn.Linear(dim, dim_out, bias=False)
        self.rotary_pos_emb = RotaryEmbedding(max(head_dim // 2, ROTARY_MIN_DIM))
        self.layers = nn.ModuleList(TransformerBlock(dim, head_dim, context_dim) for _ in range(depth))

    def forward(self, x: torch.Tensor, prepend: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = torch.cat([prepend, self.project_in(x)], dim=1)
        freqs = self.rotary_pos_emb(x.shape[1])
        for layer in self.layers:
            x = layer(x, context, freqs)
        return self.project_out(x)


class FourierFeatures(nn.Module):
    """(B, 1) -> (B, out_features): cos and sin of random (fixed after init) frequencies."""

    def __init__(self, in_features: int, out_features: int, std: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features // 2, in_features) * std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = 2 * math.pi * x @ self.weight.T
        return torch.cat([f.cos(), f.sin()], dim=-1)


def _mlp(dim_in: int, dim_out: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim_in, dim_out, bias=bias), nn.SiLU(), nn.Linear(dim_out, dim_out, bias=bias))


class DiffusionTransformer(nn.Module):
    """v prediction: latents (B, io_channels, L), t (B,) in [0, 1], condition tokens (B, K,
    cond_token_dim) and a global condition (B, global_cond_dim) -> (B, io_channels, L)."""

    def __init__(self, io_channels: int, embed_dim: int, depth: int, num_heads: int, cond_token_dim: int,
                 global_cond_dim: int, project_cond_tokens: bool = True, **fixed):
        super().__init__()
        check_dit_config(dict(io_channels=io_channels, embed_dim=embed_dim, depth=depth, num_heads=num_heads,
                              cond_token_dim=cond_token_dim, global_cond_dim=global_cond_dim,
                              project_cond_tokens=project_cond_tokens, **fixed))
        self.io_channels = io_channels
        context_dim = embed_dim if project_cond_tokens else cond_token_dim
        self.timestep_features = FourierFeatures(1, 256)
        self.to_timestep_embed = _mlp(256, embed_dim, bias=True)
        self.to_cond_embed = _mlp(cond_token_dim, context_dim, bias=False)
        self.to_global_embed = _mlp(global_cond_dim, embed_dim, bias=False)
        self.transformer = ContinuousTransformer(embed_dim, depth, embed_dim // num_heads, io_channels, io_channels, context_dim)
        self.preprocess_conv = nn.Conv1d(io_channels, io_channels, 1, bias=False)
        self.postprocess_conv = nn.Conv1d(io_channels, io_channels, 1, bias=False)
        nn.init.zeros_(self.preprocess_conv.weight)
        nn.init.zeros_(self.postprocess_conv.weight)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond_tokens: torch.Tensor, global_cond: torch.Tensor) -> torch.Tensor:
        context = self.to_cond_embed(cond_tokens)
        prepend = (self.to_global_embed(global_cond) + self.to_timestep_embed(self.timestep_features(t[:, None])))[:, None]
        x = self.preprocess_conv(x) + x
        out = self.transformer(x.transpose(1, 2), prepend, context).transpose(1, 2)[:, :, 1:]
        return self.postprocess_conv(out) + out
