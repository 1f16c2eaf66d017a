"""The Rayleigh decay law of the recipe network (RecipeConfig.decay_law): physics, bounds, gradients, the report."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from vaf.runtime.materials import MATERIALS
from vaf.training.generator.models import build_generator
from vaf.training.generator.train import load_generator


def rayleigh_net(tiny_recipe: dict, spread: float):
    torch.manual_seed(0)
    return build_generator({**tiny_recipe, "decay_law": "rayleigh", "decay_spread": spread}).eval()


def sure_of(net, material: str) -> None:
    """Makes the material head certain of `material` whatever the input."""
    with torch.no_grad():
        net.material.weight.zero_()
        net.material.bias.copy_(torch.tensor([50.0 if m == material else 0.0 for m in net.config.materials]))


@pytest.mark.parametrize("name", ["steel", "wood", "glass"])
def test_with_no_spread_each_bin_decays_as_the_material_damps(tiny_recipe, tiny_hits, name):
    """Given a material's Rayleigh coefficients (runtime/materials.py), every bin decays at alpha/2 + beta w^2/2
    of its own frequency, as the sounding world's modes do."""
    net = rayleigh_net(tiny_recipe, 0.0)
    with torch.no_grad():
        net.damping.copy_(torch.tensor([[math.log(MATERIALS[m].rayleigh_alpha), math.log(MATERIALS[m].rayleigh_beta)]
                                        for m in net.config.materials]))
    sure_of(net, name)
    train, _ = tiny_hits
    with torch.no_grad():
        out = net(torch.tensor(train.features[:4]), torch.tensor(train.geometry[:4]))
    freq, decay = out["freq_hz"].numpy().astype(np.float64), out["decay_per_s"].numpy()
    expected = np.clip(np.vectorize(MATERIALS[name].decay_rate)(freq), net.config.decay_min, net.config.decay_max)
    np.testing.assert_allclose(decay, expected, rtol=1e-4)
    assert np.all(np.diff(decay, axis=1) >= 0)  # higher modes die faster: beta > 0


def test_a_bin_leaves_the_law_by_at_most_the_spread(tiny_recipe, tiny_hits):
    train, _ = tiny_hits
    x, g = torch.tensor(train.features[:8]), torch.tensor(train.geometry[:8])
    bare, spread = rayleigh_net(tiny_recipe, 0.0), rayleigh_net(tiny_recipe, 0.7)
    spread.load_state_dict(bare.state_dict())
    with torch.no_grad():
        bins = spread.config.grid_bins  # the net's bin outputs are (logit, decay, offset) chunks; push the decays
        spread.bins.bias[bins : 2 * bins] += torch.linspace(-40, 40, bins)  # to both ends of their range
        law = bare(x, g)["decay_per_s"]
        ratio = torch.log(spread(x, g)["decay_per_s"] / law).numpy()
    assert np.all(np.abs(ratio) <= 0.7 + 1e-5)
    assert ratio.max() > 0.69 and ratio.min() < -0.69  # the whole range is reachable


def test_the_law_is_learnt_per_material_and_the_head_is_left_to_cross_entropy(tiny_recipe, tiny_hits):
    """The decay rates' gradient reaches the damping table (only the rows of the materials the head thinks
    likely) and the bins, never the material head: the spectral loss cannot blur the material to hedge."""
    net = rayleigh_net(tiny_recipe, 0.5)
    sure_of(net, "steel")
    train, _ = tiny_hits
    out = net(torch.tensor(train.features[:8]), torch.tensor(train.geometry[:8]))
    out["decay_per_s"].sum().backward()
    assert net.material.weight.grad is None or not net.material.weight.grad.any()
    steel = net.config.materials.index("steel")
    rows = net.damping.grad.abs().sum(dim=1)
    assert rows[steel] > 0 and rows.sum() == pytest.approx(rows[steel].item(), rel=1e-6)
    assert net.bins.weight.grad.abs().sum() > 0


def test_a_free_law_net_has_no_damping_table_and_old_checkpoints_load_as_free(tiny_recipe, tmp_path):
    net = build_generator({**tiny_recipe, "decay_law": "free", "room": False})
    assert net.damping_law() is None and not hasattr(net, "damping")
    old = {k: v for k, v in asdict(net.config).items() if k not in ("decay_law", "decay_spread", "room")}  # before the law
    torch.save({"model": net.state_dict(), "config": {"model": old}}, tmp_path / "generator.pt")
    assert load_generator(tmp_path / "generator.pt").config.decay_law == "free"
    with pytest.raises(ValueError, match="decay_law"):
        build_generator({**tiny_recipe, "decay_law": "exponential"})
    with pytest.raises(ValueError, match="decay_spread"):
        build_generator({**tiny_recipe, "decay_spread": -1.0})


def test_training_reports_the_learnt_law(tiny_generator):
    """The default network (the one the ONNX parity test exports) learns its table and says what it is."""
    folder, _ = tiny_generator
    net = load_generator(folder / "generator.pt")
    law = json.loads((folder / "training.json").read_text())["damping_law"]
    assert net.config.decay_law == "rayleigh" and set(law) == set(net.config.materials)
    assert law == {m: pytest.approx(list(v)) for m, v in net.damping_law().items()}
    assert all(alpha > 0 and beta > 0 for alpha, beta in law.values())
