"""A tiny recipe network trained on the tiny world dataset and exported for the runtime."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaf.export.generator import export_generator
from vaf.training.generator.data import load_hits
from vaf.training.generator.models import build_generator
from vaf.training.generator.train import GeneratorObjective, GeneratorTrainConfig, train_generator

TINY_RECIPE = {"type": "recipe_mlp", "feature_dim": 16, "geometry": True, "hidden": 32, "layers": 1, "grid_bins": 32,
               "modes_out": 8, "fold_bands": 2, "room": True}


@pytest.fixture(scope="session")
def tiny_recipe() -> dict:
    return dict(TINY_RECIPE)


@pytest.fixture(scope="session")
def tiny_hits(tiny_dataset, tiny_encoders, tmp_path_factory):
    cache = tmp_path_factory.mktemp("hit-features")
    train = load_hits(tiny_dataset, "train", tiny_encoders.path, views=4, cache=cache, workers=1, progress=False)
    test = load_hits(tiny_dataset, "test", tiny_encoders.path, views=4, cache=cache, workers=1, progress=False)
    return train, test


@pytest.fixture(scope="session")
def term_after_steps(tiny_hits):
    """A function (recipe, part, **objective options) -> (part before, part after): 30 Adam steps on 16 training
    hits from the same start (seed 0) with only those options' terms besides the spectral loss; comparing a
    term's weight 0 with a high one tells how far the term pulls what it measures."""

    def run(recipe: dict, part: str, **options) -> tuple[float, float]:
        train, _ = tiny_hits
        index = torch.arange(min(16, len(train)))
        torch.manual_seed(0)
        net = build_generator(recipe).eval()
        objective = GeneratorObjective(train, net.config, 0.0, 0.0, **options)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        before = objective(net, index, index % 8)[1][part]
        for _ in range(30):
            loss, _ = objective(net, index, index % 8)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return before, objective(net, index, index % 8)[1][part]

    return run


@pytest.fixture(scope="session")
def tiny_generator(tiny_dataset, tiny_encoders, tiny_hits, tmp_path_factory):
    """(training folder, exported runtime folder) of a tiny model trained 2 epochs."""
    out = tmp_path_factory.mktemp("generator")
    train, test = tiny_hits
    config = GeneratorTrainConfig(epochs=2, batch=8, views=4, model=dict(TINY_RECIPE))
    train_generator(tiny_dataset, out, config, tiny_encoders.path, progress=False, train=train, test=test)
    return out, export_generator(out / "generator.pt", out / "runtime", tiny_encoders)


@pytest.fixture(scope="session")
def tiny_diffusion(tiny_hits, tiny_encoders, tmp_path_factory):
    """diffusion.pt of a tiny conditioned DiT trained one epoch on the tiny dataset."""
    from vaf.training.generator.diffusion import tiny_config, train_diffusion

    train, _ = tiny_hits
    config = tiny_config(train.sample_rate, feature_dim=tiny_encoders.dim)
    config["model"]["diffusion"]["config"].update(embed_dim=32, depth=1, num_heads=1, cond_token_dim=32, global_cond_dim=32)
    out = tmp_path_factory.mktemp("diffusion")
    meta = {"encoders": tiny_encoders.fingerprint, "rms_per_impulse": float(np.median(train.level / train.impulse))}
    train_diffusion(train.targets, train.features, out, config, epochs=1, batch=8, progress=False, meta=meta)
    return out / "diffusion.pt"


@pytest.fixture(scope="session")
def baked_scene(feature_scene, tiny_diffusion, tmp_path_factory):
    from vaf.export.scene_bake import bake_scene

    out = tmp_path_factory.mktemp("baked") / "scene"
    bake_scene(feature_scene, out, tiny_diffusion, variations=2, steps=4, progress=False)
    return out
