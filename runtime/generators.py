"""Generators turn a contact on a scene surface into an impact recipe for the synthesizer.

The interface is small so the vision-conditioned neural generator (issue 6) and baked
diffusion banks plug in beside the physics one. ``auto`` picks the first generator, in
PREFERENCE order, that supports the scene.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from vaf.runtime.scenes import LoadedScene
from vaf.runtime.synthesis import ImpactRecipe


@dataclass(frozen=True)
class SoundSource:
    """recipe: what to render; material: the struck material (sets the Hertz contact), or None if unknown."""

    recipe: ImpactRecipe
    material: str | None


class Generator(ABC):
    name: str

    @abstractmethod
    def supports(self, scene: LoadedScene) -> bool: ...

    @abstractmethod
    def generate(self, scene: LoadedScene, surface_index: np.ndarray) -> list[SoundSource]:
        """One source per hit; surface_index: (B,) indices into scene.surface.points."""


class PhysicsGenerator(Generator):
    """Ground-truth modal acoustics stored in synthetic (sounding-world) bundles."""

    name = "physics"

    def supports(self, scene: LoadedScene) -> bool:
        return scene.bundle.acoustics is not None

    def generate(self, scene: LoadedScene, surface_index: np.ndarray) -> list[SoundSource]:
        a = scene.bundle.acoustics
        assert a is not None
        units = a.unit[surface_index]
        return [
            SoundSource(ImpactRecipe(a.freq_hz[u], a.decay_per_s[u], a.gains[i], *(float(x) for x in a.noise[u])), a.unit_material[u])
            for i, u in zip(surface_index, units)
        ]


PREFERENCE: tuple[Generator, ...] = (PhysicsGenerator(),)


def available(scene: LoadedScene) -> list[str]:
    return [g.name for g in PREFERENCE if g.supports(scene)]


def choose(scene: LoadedScene, requested: str) -> Generator | None:
    """The generator for a request ("auto" or a name), or None if nothing fits."""
    for g in PREFERENCE:
        if (requested in ("auto", g.name)) and g.supports(scene):
            return g
    return None
