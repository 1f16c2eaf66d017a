"""(audio clip, segment crop) pairs from a capture-layout dataset, for the contrastive encoders.

Each hit gives the clip the encoder hears and the metric crop of the part it struck, cut from
the hit's view with the part's mask (synthetic captures carry label maps; a real capture gets
its masks from SAM at the hit pixel, as in the seed paper).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vaf.runtime.preprocess import encoder_clip
from vaf.runtime.room import Room
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.wav import read_wav
from vaf.training.data.capture import Hit, read_colmap, read_hits
from vaf.training.features.crops import metric_crop


@dataclass
class Pair:
    """audio: (T,) float32 at the encoder's rate; crop: (S, S, 3) float32; scene (its folder, unique across
    datasets), part: which segment;
    kind: material and part class (e.g. "ceramic mug/body"), for counting acoustically identical parts."""

    audio: np.ndarray
    crop: np.ndarray
    scene: str
    part: int
    kind: str
    hit: Hit


def part_kind(label: str | None, material: str | None) -> str:
    """'ceramic mug/body' from segment label 'mug/body' (object index free) and its material."""
    return f"{material} {label}"


def dataset_split(root: Path, split: str) -> list[str]:
    manifest = json.loads((Path(root) / "dataset.json").read_text())
    if split not in manifest["split"]:
        raise ValueError(f"split must be one of {', '.join(manifest['split'])}, got {split!r}")
    return manifest["split"][split]


def recordings_room(roots: Sequence[str | Path]) -> dict | None:
    """The room all the datasets' hits were recorded in, {rt60_s, direct_to_reverb_db} (the sounding world's
    training/world/recording.py); None when one is dry or a capture that does not say, or when they differ."""
    rooms = {json.loads((Path(root) / "dataset.json").read_text()).get("config", {}).get("rt60") for root in roots}
    return asdict(Room(rooms.pop())) if len(rooms) == 1 and None not in rooms else None


def load_pairs(root: str | Path, split: str, sample_rate: int = 24000, window_m: float | None = None) -> list[Pair]:
    root = Path(root)
    pairs = []
    for scene in dataset_split(root, split):
        folder = root / scene
        cams = read_colmap(folder)
        segments = {s.id: s for s in SceneBundle.load(folder / "bundle").segments}
        views: dict[str, tuple] = {}
        for hit in read_hits(folder / "hits.jsonl"):
            if hit.image not in views:
                stem = Path(hit.image).stem
                views[hit.image] = (np.asarray(Image.open(folder / "images" / hit.image), np.float32) / 255.0,
                                    np.load(folder / "labels" / f"{stem}.npy"), np.load(folder / "depth" / f"{stem}.npy").astype(np.float32))
            image, labels, depth = views[hit.image]
            kwargs = {} if window_m is None else {"window_m": window_m}
            crop = metric_crop(image, labels[..., 1] == hit.part, depth, cams[hit.image].fx, **kwargs)
            if crop is None:
                continue
            audio, rate = read_wav(folder / hit.wav)
            try:
                clip = encoder_clip(audio, rate, sample_rate)
            except ValueError:  # silent after denoising: nothing to learn from
                continue
            seg = segments[hit.part]
            pairs.append(Pair(clip, crop, str(folder), hit.part, part_kind(seg.label, seg.material), hit))
    return pairs
