"""How materials look: a base-colour distribution and a texture pattern per material.

Appearance predicts material, but not perfectly: some metal is painted, some ceramic is
dark, some plastic is wood-coloured, so a model that hears a material from a picture has
to learn the likely, not the certain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Appearance:
    """base: list of (rgb, weight) base colours; jitter: std of per-part colour noise;
    pattern: texture name; opacity of the surface; paint: probability that the part is
    painted a random colour instead (pattern kept faintly)."""

    base: tuple[tuple[tuple[float, float, float], float], ...]
    jitter: float
    pattern: str
    opacity: float = 0.97
    paint: float = 0.0


APPEARANCES: dict[str, Appearance] = {
    "wood": Appearance((((0.55, 0.36, 0.2), 3), ((0.75, 0.58, 0.38), 2), ((0.35, 0.22, 0.13), 1)), 0.05, "grain", paint=0.1),
    "steel": Appearance((((0.62, 0.63, 0.65), 3), ((0.45, 0.46, 0.48), 1)), 0.03, "brushed", paint=0.15),
    "aluminium": Appearance((((0.78, 0.79, 0.8), 3), ((0.68, 0.69, 0.72), 1)), 0.03, "brushed", paint=0.1),
    "ceramic": Appearance((((0.93, 0.92, 0.88), 4), ((0.3, 0.42, 0.6), 1), ((0.15, 0.15, 0.17), 1)), 0.04, "glaze", paint=0.05),
    "glass": Appearance((((0.75, 0.88, 0.85), 3), ((0.35, 0.55, 0.35), 1)), 0.03, "clear", opacity=0.45),
    "plastic": Appearance((((0.85, 0.2, 0.2), 1), ((0.2, 0.45, 0.85), 1), ((0.95, 0.8, 0.2), 1), ((0.1, 0.1, 0.1), 1),
                           ((0.95, 0.95, 0.95), 1)), 0.06, "plain", paint=0.05),
    "stone": Appearance((((0.55, 0.55, 0.53), 2), ((0.4, 0.38, 0.36), 1), ((0.85, 0.84, 0.8), 1)), 0.04, "speckle"),
    "cardboard": Appearance((((0.66, 0.5, 0.32), 4), ((0.8, 0.72, 0.58), 1)), 0.04, "corrugated", paint=0.05),
}


def part_colours(material: str, local_points: np.ndarray, grain_axis: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Colours of one part's surface points: (P, 3) local points, metres -> (P, 3) rgb in [0, 1], and opacity."""
    look = APPEARANCES[material]
    weights = np.array([w for _, w in look.base], np.float64)
    base = np.array(look.base[rng.choice(len(weights), p=weights / weights.sum())][0])
    base = base + rng.normal(0, look.jitter, 3)
    painted = rng.random() < look.paint
    if painted:
        base = rng.uniform(0.1, 0.9, 3)
    p = local_points
    across = p[:, (grain_axis + 1) % 3] + 0.7 * p[:, (grain_axis + 2) % 3]
    n = p.shape[0]
    if look.pattern == "grain":  # rings across the grain, wavy along it
        phase = across * 180.0 + 3.0 * np.sin(p[:, grain_axis] * 9.0 + rng.uniform(0, 6.3))
        shade = 0.14 * np.sin(phase) + 0.05 * np.sin(phase * 3.1)
    elif look.pattern == "brushed":  # fine streaks along the grain axis
        shade = 0.05 * np.sin(across * 900.0 + rng.uniform(0, 6.3)) + rng.normal(0, 0.02, n)
    elif look.pattern == "glaze":
        shade = rng.normal(0, 0.015, n) - 0.12 * (rng.random(n) < 0.01)
    elif look.pattern == "speckle":
        shade = rng.normal(0, 0.08, n)
    elif look.pattern == "corrugated":
        shade = 0.06 * np.sign(np.sin(across * 600.0)) + rng.normal(0, 0.02, n)
    else:  # plain, clear
        shade = rng.normal(0, 0.01, n)
    rgb = base[None, :] * (1.0 + (0.3 if painted else 1.0) * shade[:, None])
    return np.clip(rgb, 0.0, 1.0).astype(np.float32), look.opacity
