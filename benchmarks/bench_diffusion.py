"""Cost of the diffusion path (the seed's method) per hit on this machine (record in docs/benchmarks.md).

    .venv/bin/python benchmarks/bench_diffusion.py [--repeats 3] [--skip-full]

Two models, random weights (speed does not depend on the values), one hit (batch 1), clip
shortened to 0.5 s as the seed does:
1. Stable Audio Open 1.0's architecture (its model_config.json below: a 24-layer 1536-wide DiT and
   the Oobleck VAE, 44.1 kHz stereo) built through the same factory a real checkpoint takes
   (`load_pretrained`), float32 on the CPU: one guided DiT step (CFG: two passes), the VAE decode,
   and the seed's 250 steps extrapolated from the step time;
2. the tiny config trained here (`vaf train diffusion`): a whole 50-step, CFG 6 sample.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import tempfile
import time
from pathlib import Path

import torch

from vaf.training.generator.diffusion import CHECKPOINT_PREFIXES, build_diffusion, tiny_config

# Stable Audio Open 1.0's model_config.json ("model_type", "sample_rate", "audio_channels", "model").
STABLE_AUDIO_OPEN = {
    "model_type": "diffusion_cond", "sample_size": 2097152, "sample_rate": 44100, "audio_channels": 2,
    "model": {
        "pretransform": {"type": "autoencoder", "iterate_batch": True, "config": {
            "encoder": {"type": "oobleck", "requires_grad": False, "config": {
                "in_channels": 2, "channels": 128, "c_mults": [1, 2, 4, 8, 16], "strides": [2, 4, 4, 8, 8],
                "latent_dim": 128, "use_snake": True}},
            "decoder": {"type": "oobleck", "config": {
                "out_channels": 2, "channels": 128, "c_mults": [1, 2, 4, 8, 16], "strides": [2, 4, 4, 8, 8],
                "latent_dim": 64, "use_snake": True, "final_tanh": False}},
            "bottleneck": {"type": "vae"}, "latent_dim": 64, "downsampling_ratio": 2048, "io_channels": 2}},
        "conditioning": {"configs": [
            {"id": "prompt", "type": "t5", "config": {"t5_model_name": "t5-base", "max_length": 128}},
            {"id": "seconds_start", "type": "number", "config": {"min_val": 0, "max_val": 512}},
            {"id": "seconds_total", "type": "number", "config": {"min_val": 0, "max_val": 512}}], "cond_dim": 768},
        "diffusion": {
            "cross_attention_cond_ids": ["prompt", "seconds_start", "seconds_total"],
            "global_cond_ids": ["seconds_start", "seconds_total"], "type": "dit",
            "config": {"io_channels": 64, "embed_dim": 1536, "depth": 24, "num_heads": 24, "cond_token_dim": 768,
                       "global_cond_dim": 1536, "project_cond_tokens": False, "transformer_type": "continuous_transformer"}},
        "io_channels": 64}}


def best_of(fn, repeats: int) -> float:
    """Fastest of `repeats` calls, ms."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def full_model(repeats: int) -> None:
    from vaf.training.generator.diffusion import load_pretrained

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        # write the architecture as a user's checkpoint folder would hold it, with random weights in its names
        config = json.loads(json.dumps(STABLE_AUDIO_OPEN))
        config["model"]["conditioning"] = {"type": "mlp", "config": {"levels": 3, "feature_dim": 64, "hidden": 256}}
        for key in ("cross_attention_cond_ids", "global_cond_ids"):
            config["model"]["diffusion"].pop(key)
        t0 = time.perf_counter()
        model = build_diffusion(config)
        theirs = {mine: prefix for prefix, mine in CHECKPOINT_PREFIXES.items()}
        state = {theirs[mine] + k[len(mine):]: v for k, v in model.state_dict().items()
                 for mine in theirs if k.startswith(mine)}
        del model
        torch.save(state, Path(tmp) / "model.ckpt")
        del state
        (Path(tmp) / "model_config.json").write_text(json.dumps(STABLE_AUDIO_OPEN))
        model = load_pretrained(Path(tmp) / "model_config.json", Path(tmp) / "model.ckpt")
        built = time.perf_counter() - t0
    dit = sum(p.numel() for p in model.model.parameters())
    vae = sum(p.numel() for p in model.pretransform.parameters())
    print(f"Stable Audio Open 1.0 architecture: DiT {dit / 1e6:.0f} M parameters, VAE {vae / 1e6:.0f} M; "
          f"sample_size {model.sample_size} ({model.latent_shape[1]} latent frames); written + loaded in {built:.0f} s")
    features = torch.nn.functional.normalize(torch.randn(1, 3, 64), dim=-1)
    with torch.no_grad():
        tokens, global_cond = model.conditioning(features)
        x, t = torch.randn(1, *model.latent_shape), torch.full((1,), 0.5)
        step = best_of(lambda: model.guided_v(x, t, tokens, global_cond, 6.0), repeats)
        decode = best_of(lambda: model.decode(x), repeats)
    print(f"  one guided DiT step (CFG, 2 passes): {step:.0f} ms")
    print(f"  VAE decode of 0.5 s: {decode:.0f} ms")
    print(f"  seed's 250 steps + decode, extrapolated: {(250 * step + decode) / 1e3:.1f} s per hit; 50 steps: "
          f"{(50 * step + decode) / 1e3:.1f} s")
    print(f"  peak resident memory so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.1f} GB")


def tiny_model(repeats: int) -> None:
    torch.manual_seed(0)
    model = build_diffusion(tiny_config()).eval()
    features = torch.nn.functional.normalize(torch.randn(1, 3, 64), dim=-1)
    ms = best_of(lambda: model.sample(features, steps=50, cfg_scale=6.0), repeats)
    params = sum(p.numel() for p in model.parameters())
    print(f"tiny config ({params / 1e6:.2f} M parameters): 50 DDIM steps, CFG 6, one 0.5 s hit: {ms:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-full", action="store_true", help="only the tiny model (the full one needs ~10 GB of RAM)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    tiny_model(args.repeats)
    if not args.skip_full:
        full_model(args.repeats)


if __name__ == "__main__":
    main()
