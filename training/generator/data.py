"""Hits of a capture-layout dataset as generator examples: the multi-level features the scene's
feature field holds at the hit point, the contact, and the recorded sound after the seed's
preprocessing (plus the loudness that preprocessing removes).

The features are lifted per scene with the given encoders (oracle masks, as the localization
evaluation does) and cached per scene, keyed by the encoders' fingerprint and the view count,
under ``cache`` (default ~/.cache/vaf/hit-features): lifting is the slow part (~5 s a scene).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders
from vaf.runtime.feature_field import FeatureField
from vaf.runtime.preprocess import clip_and_level
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import SceneSurface
from vaf.runtime.segment_geometry import SegmentGeometry
from vaf.runtime.synthesis import Excitation
from vaf.runtime.wav import read_wav
from vaf.training.data.capture import read_hits
from vaf.training.data.pairs import dataset_split, part_kind
from vaf.training.features.lift import lift_oracle_views
from vaf.training.world.dataset import struck_sample

SAMPLE_RATE = 24_000  # the encoders' rate; the generator is trained and evaluated here
PATCH_PX = 16  # the "local" baseline's RGB patch around the hit pixel
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vaf" / "hit-features"


@dataclass
class HitSet:
    """N hits. features: (N, 3, D) float32; patches: (N, P, P, 3) float32 RGB in [0, 1]; targets: (N, T)
    float32 preprocessed clips at sample_rate (RMS 0.01); level: (N,) RMS before normalisation;
    impulse: (N,) N*s; speed: (N,) m/s; striker, material, kind: (N,) str; scene: (N,) str, the scene's folder (absolute); part, subpart: (N,) int;
    point: (N, 3) metres, where the hit was seen (the rendered depth, ~1-2 cm off the surface); sample: (N,) int, the
    acoustic surface sample it sounds from (an index into SceneSurface.of(the scene's bundle)); geometry:
    (N, GEOMETRY_DIM) float32 ln extents of the struck subpart and part and the sample's place on the subpart
    (runtime/segment_geometry.py), read where the runtime reads it."""

    features: np.ndarray
    patches: np.ndarray
    targets: np.ndarray
    level: np.ndarray
    impulse: np.ndarray
    speed: np.ndarray
    striker: np.ndarray
    material: np.ndarray
    scene: np.ndarray
    part: np.ndarray
    kind: np.ndarray
    subpart: np.ndarray
    point: np.ndarray
    sample: np.ndarray
    geometry: np.ndarray
    sample_rate: int
    skipped: int

    def __len__(self) -> int:
        return len(self.targets)

    def subset(self, index: np.ndarray) -> HitSet:
        """The hits at `index`, as a new HitSet."""
        return HitSet(**{f.name: getattr(self, f.name)[index] if isinstance(getattr(self, f.name), np.ndarray)
                         else getattr(self, f.name) for f in fields(self)})

    def excitations(self, index: np.ndarray, materials: np.ndarray | None = None) -> list[Excitation]:
        """The contacts of hits `index`, struck on `materials` (default: the true ones)."""
        materials = self.material[index] if materials is None else materials
        return [Excitation.from_materials(float(self.impulse[i]), float(self.speed[i]), str(self.striker[i]), str(m))
                for i, m in zip(index, materials)]


def _patch(image: np.ndarray, pixel: list[float]) -> np.ndarray:
    half = PATCH_PX // 2
    padded = np.pad(image, ((half, half), (half, half), (0, 0)), mode="edge")
    x, y = int(pixel[0]), int(pixel[1])
    return padded[y : y + PATCH_PX, x : x + PATCH_PX]


def _scene_features(folder: Path, encoders: OnnxEncoders, views: int, cache: Path) -> np.ndarray:
    """(hits, 3, D) features at each hit point (zero rows where none), cached."""
    key = hashlib.sha256(f"{folder.resolve()}|{encoders.fingerprint}|{views}".encode()).hexdigest()[:20]
    path = cache / f"{folder.name}-{key}.npy"
    if path.is_file():
        return np.load(path)
    bundle = SceneBundle.load(folder / "bundle")
    lifted = lift_oracle_views(bundle, encoders, views)
    field = FeatureField(bundle.gaussians.positions, lifted.features)
    features, found = field.query(np.array([h.point for h in read_hits(folder / "hits.jsonl")]))
    features[~found] = 0.0
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, features)
    tmp.replace(path)  # atomic: a parallel or interrupted run never leaves half a file
    return features


def _load_scene(args: tuple) -> dict:
    folder, encoders_dir, views, cache, sample_rate = args
    encoders = OnnxEncoders.load(encoders_dir)
    features = _scene_features(folder, encoders, views, cache)
    bundle = SceneBundle.load(folder / "bundle")
    segments = {s.id: s for s in bundle.segments}
    geometry = SegmentGeometry(bundle.gaussians.positions, bundle.labels)
    surface = SceneSurface.of(bundle)
    rows, images, skipped = [], {}, 0
    for hit, feature in zip(read_hits(folder / "hits.jsonl"), features):
        sample = struck_sample(surface, np.array(hit.point), hit.subpart)
        if not np.abs(feature).max() > 0 or sample is None:
            skipped += 1
            continue
        audio, rate = read_wav(folder / hit.wav)
        try:
            target, level = clip_and_level(audio, rate, sample_rate)
        except ValueError:  # silent after denoising
            skipped += 1
            continue
        if hit.image not in images:
            images[hit.image] = np.asarray(Image.open(folder / "images" / hit.image), np.float32)[..., :3] / 255.0
        seg = segments[hit.part]
        rows.append((feature, _patch(images[hit.image], hit.pixel), target, level, hit.impulse, hit.speed, hit.striker,
                     hit.material, str(folder.resolve()), hit.part, part_kind(seg.label, seg.material), hit.subpart, hit.point,
                     sample, geometry.describe(np.array([hit.subpart]), np.array([hit.part]), surface.points[[sample]])[0]))
    return {"rows": rows, "skipped": skipped}


def load_hits(dataset: str | Path | list[str | Path], split: str, encoders: str | Path = DEFAULT_ENCODERS, views: int = 16,
              sample_rate: int = SAMPLE_RATE, cache: str | Path | None = None, workers: int = 2, progress: bool = True,
              scenes: list[str] | None = None) -> HitSet:
    """The hits of one split ("train" or "test") of a capture dataset (or of its named scenes); given several
    datasets, their splits pooled (a dataset whose split is empty, e.g. training-only scenes, adds nothing).
    Each hit's scene is named by its folder's absolute path, unique across datasets."""
    datasets = [Path(d) for d in (dataset if isinstance(dataset, list) else [dataset])]
    if scenes is not None and len(datasets) != 1:
        raise ValueError("scenes: name scenes of one dataset only")
    cache = Path(cache) if cache is not None else DEFAULT_CACHE
    jobs = [(d / name, Path(encoders), views, cache, sample_rate) for d in datasets
            for name in (scenes if scenes is not None else dataset_split(d, split))]
    results = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(tqdm(pool.map(_load_scene, jobs), total=len(jobs), desc=f"{split} scenes", unit="scene",
                                disable=not progress))
    else:
        results = [_load_scene(j) for j in tqdm(jobs, desc=f"{split} scenes", unit="scene", disable=not progress)]
    rows = [r for result in results for r in result["rows"]]
    if not rows:
        raise ValueError(f"{', '.join(map(str, datasets))}: no usable hits in {split}")
    cols = list(zip(*rows))
    return HitSet(np.stack(cols[0]).astype(np.float32), np.stack(cols[1]).astype(np.float32), np.stack(cols[2]),
                  np.array(cols[3], np.float64), np.array(cols[4], np.float64), np.array(cols[5], np.float64),
                  np.array(cols[6]), np.array(cols[7]), np.array(cols[8]), np.array(cols[9], np.int64), np.array(cols[10]),
                  np.array(cols[11], np.int64), np.array(cols[12], np.float64), np.array(cols[13], np.int64),
                  np.stack(cols[14]).astype(np.float32), sample_rate, sum(r["skipped"] for r in results))
