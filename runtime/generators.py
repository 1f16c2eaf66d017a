"""Generators turn a contact on a scene surface into a sound source for the synthesizer.

``auto`` tries, in order, the generators the server runs that support the scene: baked
diffusion banks, then the real-time neural generator, then the physics ground truth. A
generator that cannot sound one particular hit (no features near it) returns
:class:`CannotSound` in that hit's place and ``auto`` moves on to the next for that hit.
Hits are generated in batches (one ONNX call for all the contacts of a request).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from vaf.runtime.recipe_model import OnnxRecipeModel
from vaf.runtime.scenes import LoadedScene
from vaf.runtime.synthesis import ImpactRecipe

# Surface samples per network call when warming a scene: a bigger batch grows the ONNX arena,
# which keeps its peak (4096 kept ~55 MB more resident for the demo scene, and was slower).
WARM_BATCH = 256


@dataclass(frozen=True)
class SoundSource:
    """What to play: a recipe for the synthesizer, or (baked) a clip for runtime.baked.render_baked.

    material: the struck material (sets the Hertz contact), or None if unknown; clip: (T,) float32 at
    clip_rate with rms_per_impulse, the loudness it stands for per N*s."""

    recipe: ImpactRecipe | None
    material: str | None
    clip: np.ndarray | None = None
    clip_rate: int = 0
    rms_per_impulse: float = 0.0


class CannotSound(Exception):
    """This generator cannot sound this hit; the message says why."""


class Generator(ABC):
    name: str

    @abstractmethod
    def supports(self, scene: LoadedScene) -> bool: ...

    @abstractmethod
    def generate(self, scene: LoadedScene, surface_index: np.ndarray) -> list[SoundSource | CannotSound]:
        """One source per hit, or CannotSound saying why not; surface_index: (B,) indices into scene.surface.points."""

    def warm(self, scene: LoadedScene) -> None:
        """Makes ahead of time what a first hit anywhere on the scene would make (nothing, unless the generator memoises)."""


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


class RealtimeGenerator(Generator):
    """The vision-conditioned recipe network (ONNX): multi-level features at the hit (and, for models that
    read it, the extents of the struck subpart and part) -> recipe and material.

    Needs scene features made by the encoders the model was trained with (manifest ``encoders``)."""

    name = "realtime"

    def __init__(self, model: OnnxRecipeModel):
        self.model = model

    def supports(self, scene: LoadedScene) -> bool:
        return scene.feature_field is not None and scene.bundle.features_source.get("encoders") == self.model.encoders

    def generate(self, scene: LoadedScene, surface_index: np.ndarray) -> list[SoundSource | CannotSound]:
        """Memoised per surface sample: a sample's source depends only on the scene's features and
        segments there, so the network runs once per sample per loaded scene (in one batch for the
        samples new to a request) and repeated hits on a spot cost a lookup. Failures are not
        kept (they are rare, and one bad feature fails the batch it came in)."""
        memo = scene.memo.setdefault(self.name, {})
        new = np.array(sorted({i for i in surface_index.tolist() if i not in memo}), dtype=np.int64)
        made = dict(zip(new.tolist(), self._generate(scene, new))) if new.size else {}
        for i, source in made.items():
            if isinstance(source, SoundSource):
                memo[i] = source
        return [memo[i] if i in memo else made[i] for i in surface_index.tolist()]

    def warm(self, scene: LoadedScene) -> None:
        """Runs the network on every surface sample, in batches, so every hit is a memo lookup."""
        count = len(scene.surface.points)
        for start in range(0, count, WARM_BATCH):
            self.generate(scene, np.arange(start, min(count, start + WARM_BATCH)))

    def _generate(self, scene: LoadedScene, surface_index: np.ndarray) -> list[SoundSource | CannotSound]:
        assert scene.feature_field is not None
        out: list[SoundSource | CannotSound] = [
            CannotSound(f"no Gaussian with features within {scene.feature_field.max_distance} m of the contact")
        ] * len(surface_index)
        features, found = scene.feature_field.query(scene.surface.points[surface_index])
        geometry = None
        if self.model.geometry:
            assert scene.geometry is not None
            labels = scene.surface.labels[surface_index]
            known = scene.geometry.known(labels[:, 0], labels[:, 1])
            for i in np.flatnonzero(found & ~known):
                out[i] = CannotSound(f"segments {labels[i, 0]}/{labels[i, 1]} have no Gaussians to measure")
            found &= known
            geometry = scene.geometry.describe(labels[found, 0], labels[found, 1], scene.surface.points[surface_index][found])
        hits = np.flatnonzero(found)
        if hits.size:
            try:
                prediction = self.model.predict(features[hits], geometry)
            except ValueError as e:  # e.g. NaN features in the bundle
                failed = set(hits.tolist())
                return [CannotSound(str(e)) if i in failed else o for i, o in enumerate(out)]
            for i, recipe, material in zip(hits, prediction.recipes, prediction.materials):
                out[i] = SoundSource(recipe, material)
        return out


class BakedGenerator(Generator):
    """Diffusion samples stored in the bundle per part segment (``vaf scene bake``); one variation
    chosen at random per contact. Parts without a bank entry cannot sound (auto moves on)."""

    name = "baked"

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def supports(self, scene: LoadedScene) -> bool:
        return scene.bundle.baked is not None

    def generate(self, scene: LoadedScene, surface_index: np.ndarray) -> list[SoundSource | CannotSound]:
        bank = scene.bundle.baked
        assert bank is not None
        out: list[SoundSource | CannotSound] = []
        for part in scene.surface.labels[surface_index, 1]:
            row = bank.rows.get(int(part))
            if row is None:
                out.append(CannotSound(f"part {int(part)} has no baked sounds"))
                continue
            clip = bank.audio[row, int(self.rng.integers(bank.audio.shape[1]))].astype(np.float32)
            material = scene.bundle.segment(int(part)).material
            out.append(SoundSource(None, material, clip, bank.sample_rate, float(bank.source.get("rms_per_impulse", 0.1))))
        return out


class GeneratorSet:
    """The generators a server runs, best first."""

    def __init__(self, generators: list[Generator]):
        self.generators = generators

    @classmethod
    def default(cls, recipe_model: OnnxRecipeModel | None = None) -> GeneratorSet:
        realtime = [RealtimeGenerator(recipe_model)] if recipe_model is not None else []
        return cls([BakedGenerator(), *realtime, PhysicsGenerator()])

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.generators]

    def warm(self, scene: LoadedScene) -> None:
        for g in self.generators:
            if g.supports(scene):
                g.warm(scene)

    def available(self, scene: LoadedScene) -> list[str]:
        return [g.name for g in self.generators if g.supports(scene)]

    def generate_many(self, scene: LoadedScene, surface_index: np.ndarray,
                      requested: list[str]) -> list[tuple[SoundSource, str] | LookupError | CannotSound]:
        """For each hit (surface_index (B,), requested generator names (B,)): its source and the name of the
        generator that made it; or LookupError if no generator fits the request, CannotSound (with every
        fitting generator's reason) if none of them could sound the hit. Each generator runs once, on all
        the hits still waiting for it."""
        results: list = [None] * len(surface_index)
        reasons: list[list[str]] = [[] for _ in surface_index]
        for g in self.generators:
            if not g.supports(scene):
                continue
            todo = [i for i, want in enumerate(requested) if results[i] is None and want in ("auto", g.name)]
            if not todo:
                continue
            for i, source in zip(todo, g.generate(scene, np.asarray(surface_index)[todo])):
                if isinstance(source, CannotSound):
                    reasons[i].append(f"{g.name}: {source}")
                else:
                    results[i] = (source, g.name)
        return [r if r is not None else CannotSound("; ".join(why)) if why else LookupError(want)
                for r, why, want in zip(results, reasons, requested)]

    def generate(self, scene: LoadedScene, surface_index: int, requested: str) -> tuple[SoundSource, str]:
        """One hit: generate_many's answer, raised if it is an error."""
        result = self.generate_many(scene, np.array([surface_index]), [requested])[0]
        if isinstance(result, Exception):
            raise result
        return result
