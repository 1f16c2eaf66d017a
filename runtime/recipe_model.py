"""The real-time generator's network as an ONNX Runtime session (no torch): the folder
``vaf export generator`` writes.

    generator.json      format, version, levels, dim, materials, modes, fold_bands (how many of the
                        modes stand for bands of quiet grid bins; for the reader), encoders (fingerprint
                        of the encoders whose features it reads), room (the room of its training
                        recordings, {rt60_s, direct_to_reverb_db}, when it learnt one: its recipes are
                        dry; null or absent otherwise), source (how it was trained)
    recipe.onnx         features (B, levels, dim) [, geometry (B, 9) when the manifest's ``geometry``
                        is true: ln extents of the struck subpart and part and the hit's place on the
                        subpart, runtime/segment_geometry.py]
                        -> freq_hz, decay_per_s, gain (B, modes), noise (B, 4), material_probs (B, len(materials))
    prototypes.npy      (P, levels * dim) float32: centroids of the training features, for the
                        out-of-distribution rule below

Out of distribution: a query whose cosine similarity to every prototype is under the manifest's
``ood_threshold`` (the 1st percentile over training hits) is replaced by its nearest prototype,
so a strange surface still sounds like the closest thing the model knows instead of whatever
an extrapolating network makes of it. A recipe that comes out non-finite or silent gets the
same treatment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vaf.runtime.encoders import onnx_session, read_manifest
from vaf.runtime.room import Room, room_of_manifest
from vaf.runtime.segment_geometry import GEOMETRY_DIM
from vaf.runtime.synthesis import ImpactRecipe

FORMAT = "vaf-recipe-model"
MANIFEST = "generator.json"
DEFAULT_GENERATOR = Path(__file__).resolve().parent / "assets" / "models" / "generator"


@dataclass
class Prediction:
    """recipes: one per query; materials: the most likely struck material of each; replaced: (B,) bool,
    True where the query was out of distribution (or gave an unusable recipe) and its nearest
    prototype was used instead."""

    recipes: list[ImpactRecipe]
    materials: list[str]
    replaced: np.ndarray


@dataclass
class OnnxRecipeModel:
    levels: int
    dim: int
    materials: list[str]
    modes: int
    encoders: str
    geometry: bool
    prototypes: np.ndarray
    ood_threshold: float
    session: ort.InferenceSession
    path: Path
    room: Room | None = None  # the room its training recordings were heard in (its recipes are dry)

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_GENERATOR) -> OnnxRecipeModel:
        folder = Path(folder)
        m = read_manifest(folder, MANIFEST, FORMAT)
        prototypes = np.load(folder / m["prototypes"], allow_pickle=False).astype(np.float32)
        if prototypes.ndim != 2 or prototypes.shape[1] != m["levels"] * m["dim"]:
            raise ValueError(f"{folder / m['prototypes']}: shape {prototypes.shape}, expected (P, {m['levels'] * m['dim']})")
        return cls(int(m["levels"]), int(m["dim"]), list(m["materials"]), int(m["modes"]), str(m["encoders"]),
                   bool(m.get("geometry", False)), prototypes,
                   float(m["ood_threshold"]), onnx_session(folder / m["onnx"]), folder,
                   room_of_manifest(m.get("room"), f"{folder / MANIFEST}: 'room'"))

    def run(self, features: np.ndarray, geometry: np.ndarray | None) -> list[np.ndarray]:
        """Raw ONNX outputs for (B, levels, dim) features (and (B, GEOMETRY_DIM) geometry if the model reads it)."""
        feeds = {"features": np.ascontiguousarray(features, np.float32)}
        if self.geometry:
            feeds["geometry"] = np.ascontiguousarray(geometry, np.float32)
        return self.session.run(None, feeds)

    def nearest_prototype(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, levels, dim) unit rows -> similarity (B,) float32 to the nearest prototype, and its index (B,)."""
        # A Python float keeps the float32 matmul in BLAS (a numpy float64 scalar would promote it to a slow mixed-type loop).
        sims = features.reshape(len(features), -1) @ self.prototypes.T / math.sqrt(self.levels)
        best = sims.argmax(axis=1)
        return sims[np.arange(len(best)), best], best

    def prototype_features(self, index: np.ndarray) -> np.ndarray:
        """(B,) prototype indices -> (B, levels, dim) float32 unit rows, a query the network knows."""
        return self.prototypes[index].reshape(-1, self.levels, self.dim) * math.sqrt(self.levels)

    def predict(self, features: np.ndarray, geometry: np.ndarray | None = None) -> Prediction:
        """(B, levels, dim) finite unit-row features and, if the model reads it, (B, GEOMETRY_DIM) geometry
        (ValueError otherwise, naming the problem) -> recipes."""
        features = np.asarray(features, np.float32)
        if features.ndim != 3 or features.shape[1:] != (self.levels, self.dim):
            raise ValueError(f"features: shape {features.shape}, expected (B, {self.levels}, {self.dim})")
        if not np.all(np.isfinite(features)):
            raise ValueError("features: NaN or infinite values")
        if self.geometry:
            if geometry is None:
                raise ValueError(f"geometry: this model ({self.path}) reads the struck segments' extents; none given")
            geometry = np.asarray(geometry, np.float32)
            if geometry.shape != (len(features), GEOMETRY_DIM):
                raise ValueError(f"geometry: shape {geometry.shape}, expected ({len(features)}, {GEOMETRY_DIM})")
            if not np.all(np.isfinite(geometry)):
                raise ValueError("geometry: NaN or infinite values")
        # Prototypes gathered only when needed: at one contact each numpy call costs a few microseconds.
        similarity, nearest = self.nearest_prototype(features)
        replaced = similarity < self.ood_threshold
        if replaced.any():
            features = np.where(replaced[:, None, None], self.prototype_features(nearest), features)
        freq, decay, gain, noise, probs = self.run(features, geometry)
        usable = np.isfinite(np.concatenate([freq, decay, gain, noise], axis=1)).all(axis=1) & (np.abs(gain).max(axis=1) > 0)
        if not usable.all():
            bad = ~usable
            fixed = self.run(self.prototype_features(nearest[bad]), None if geometry is None else geometry[bad])
            for out, again in zip((freq, decay, gain, noise, probs), fixed):
                out[bad] = again
            replaced = replaced | bad
        recipes = [ImpactRecipe(f, d, g, *n) for f, d, g, n in zip(freq, decay, gain, noise.tolist())]
        return Prediction(recipes, [self.materials[i] for i in probs.argmax(axis=1).tolist()], replaced)

