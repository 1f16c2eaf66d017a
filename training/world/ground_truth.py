"""The sounding world's own sound of a hit: the exact recipe its bundle stores at the struck surface sample.

A recording of the hit is this recipe rendered, then heard through a random room and a noisy microphone
(recording.py). Evaluations use it as a ceiling (training/eval/generator.py) and as the clip a game's own
synthesizer would send (training/eval/localization.py). Only sounding-world scenes have it: an imported
capture's bundle holds no acoustics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaf.runtime.generators import PhysicsGenerator, SoundSource
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import LoadedScene, SceneSurface


def ground_truth_scene(folder: str | Path, bundle: SceneBundle | None = None) -> LoadedScene:
    """The scene in `folder`, ready for PhysicsGenerator: its bundle is loaded unless `bundle` (already loaded from
    there) is given. ValueError if the bundle has no ground-truth acoustics."""
    bundle = bundle if bundle is not None else SceneBundle.load(Path(folder) / "bundle")
    if bundle.acoustics is None:
        raise ValueError(f"{folder}: the scene has no ground-truth acoustics to make physics clips from "
                         "(a sounding-world dataset has them)")
    return LoadedScene(Path(folder).name, bundle, SceneSurface.of(bundle), b"")


def ground_truth_sources(scenes: np.ndarray, samples: np.ndarray) -> list[SoundSource]:
    """The world's recipe and material of N hits: scenes (N,) the scenes' folders, samples (N,) int the struck
    acoustic surface samples (indices into SceneSurface.of(the scene's bundle)). Each scene is loaded once."""
    loaded: dict[str, LoadedScene] = {}
    sources = []
    for folder, sample in zip(scenes, samples):
        if folder not in loaded:
            loaded[folder] = ground_truth_scene(folder)
        sources.append(PhysicsGenerator().generate(loaded[folder], np.array([sample]))[0])
    return sources
