"""Folding the network's grid into the runtime recipe (models.fold_modes): what it keeps, what it carries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaf.training.generator.models import RecipeConfig, band_membership, build_generator, fold_modes
from vaf.training.generator.synth import render_modes

RATE, FRAMES = 24_000, 12_000


def grid_recipe(batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(batch, 128) frequencies on the default grid, decays 20..2000 /s, gains falling with frequency plus jitter."""
    rng = np.random.default_rng(seed)
    grid = RecipeConfig().grid_hz()
    bins = len(grid)
    freq = grid * np.exp(rng.uniform(-0.004, 0.004, (batch, bins)))
    decay = np.exp(rng.uniform(np.log(20), np.log(2000), (batch, bins)))
    gain = np.exp(-np.arange(bins) / 40 + rng.normal(0, 0.5, (batch, bins)))
    return tuple(torch.tensor(a, dtype=torch.float64) for a in (freq, decay, gain))


def energy(gain: torch.Tensor, decay: torch.Tensor) -> torch.Tensor:
    return gain.square() / (4 * decay)


def test_the_loudest_bins_are_kept_and_each_band_carries_the_energy_of_the_others():
    freq, decay, gain = grid_recipe()
    membership = band_membership(128, 8).double()
    f, d, g = fold_modes(freq, decay, gain, 40, membership)
    assert f.shape == d.shape == g.shape == (3, 48)
    _, top = torch.topk(gain, 40)
    torch.testing.assert_close(g[:, :40], torch.gather(gain, 1, top))
    torch.testing.assert_close(f[:, :40], torch.gather(freq, 1, top))
    rest = torch.ones_like(gain).scatter(1, top, 0.0).bool()
    checked = 0
    for b in range(8):
        inside = rest & membership[:, b].bool()
        torch.testing.assert_close(energy(g[:, 40 + b], d[:, 40 + b]),
                                   (energy(gain, decay) * inside).sum(1), rtol=1e-9, atol=0)
        for row in range(3):  # the band's mode lies among its bins, in frequency and in decay
            if not inside[row].any():
                continue  # kept whole (the low bands here): silent, see the next test
            checked += 1
            fs, ds = freq[row][inside[row]], decay[row][inside[row]]
            assert fs.min() <= f[row, 40 + b] <= fs.max()
            assert ds.min() <= d[row, 40 + b] <= ds.max()
    assert checked >= 15


def test_a_band_whose_bins_are_all_kept_is_silent():
    freq = torch.tensor([[100.0, 200.0, 300.0, 400.0, 500.0, 600.0]])
    decay = torch.full((1, 6), 30.0)
    gain = torch.tensor([[5.0, 4.0, 3.0, 0.2, 0.1, 0.3]])  # the first band (3 bins) is kept whole
    f, d, g = fold_modes(freq, decay, gain, 3, band_membership(6, 2))
    assert g[0, 3] == 0 and torch.isfinite(f).all() and torch.isfinite(d).all()
    assert 100 <= f[0, 3] <= 300  # a silent mode still sits in its band
    assert g[0, 4] > 0


def test_folding_keeps_the_high_spectrum_that_dropping_loses():
    """Rendered, the folded 40 + 8 modes hold the full grid's energy above 2 kHz; the 48 loudest bins alone lose most of it."""
    freq, decay, gain = grid_recipe(seed=1)
    high = np.fft.rfftfreq(FRAMES, 1 / RATE) > 2000

    def high_energy(f, d, g):
        audio = render_modes(f.float(), d.float(), g.float(), RATE, FRAMES).double().numpy()
        return (np.abs(np.fft.rfft(audio, axis=1)) ** 2)[:, high].sum(axis=1)

    full = high_energy(freq, decay, gain)
    folded = high_energy(*fold_modes(freq, decay, gain, 40, band_membership(128, 8).double()))
    dropped = high_energy(*fold_modes(freq, decay, gain, 48, band_membership(128, 0).double()))
    np.testing.assert_allclose(folded, full, rtol=0.25)
    assert np.all(dropped < 0.5 * full), (dropped, full)


def test_gradients_reach_the_bins_that_are_not_kept():
    freq, decay, gain = (t.clone().requires_grad_(True) for t in grid_recipe())
    f, d, g = fold_modes(freq, decay, gain, 40, band_membership(128, 8).double())
    (g[:, 40:].sum() + f[:, 40:].sum() + d[:, 40:].sum()).backward()
    _, top = torch.topk(gain.detach(), 40)
    rest = torch.ones_like(gain).scatter(1, top, 0.0).bool()
    for t in (freq, decay, gain):
        assert torch.isfinite(t.grad).all()
        assert (t.grad[rest] != 0).float().mean() > 0.9


def test_fold_bands_is_checked_by_name(tiny_recipe):
    with pytest.raises(ValueError, match="fold_bands"):
        build_generator({**tiny_recipe, "fold_bands": tiny_recipe["modes_out"]})
    assert build_generator({**tiny_recipe, "fold_bands": 0}).config.fold_bands == 0
