"""A sounding-world dataset in the capture layout (training/data/capture.py), split 4:1 by scene.

    OUT/dataset.json                 scenes, train/test split, config
    OUT/<scene>/bundle/              the scene bundle with its true acoustics
    OUT/<scene>/images, sparse/0, hits.jsonl, audio/     what a real capture has
    OUT/<scene>/depth/, labels/      per-view expected depth (metres, float16) and (H, W, 3) segment ids

Hits are drawn where the views see a surface; each is rendered from the true modal model,
then "recorded": room reverberation and background noise (training/world/recording.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vaf.runtime.generators import PhysicsGenerator
from vaf.runtime.scenes import LoadedScene, SceneSurface
from vaf.runtime.synthesis import Excitation, render
from vaf.runtime.wav import write_wav
from vaf.training.configs import config_differences
from vaf.training.data.capture import Hit, read_hits, write_colmap, write_hits
from vaf.runtime.cameras import around_objects
from vaf.training.render.rasterizer import render as render_view
from vaf.training.world.bundle import BundleConfig, build_bundle
from vaf.training.world.recording import record
from vaf.training.world.scene import generate_scene

FORMAT = "vaf-capture-dataset"
PARTIAL = ".partial.json"  # in a dataset folder while it is being made: its config
STRIKERS = {"wood": 0.6, "rubber": 0.2, "steel": 0.2}  # a drumstick mostly, as in a real session
SURFACE_TOLERANCE = 0.05
FLOOR_SHARE = 0.1  # fraction of hits on the floor


@dataclass
class DatasetConfig:
    """Sizes in pixels, seconds, metres; rt60 / snr_db None turn the room / the noise off."""

    scenes: int
    hits_per_scene: int
    seed: int = 0
    views: int = 8
    image_size: int = 128
    gaussians: int = 30_000
    acoustic_points: int = 12_000
    modes: int = 32
    sample_rate: int = 48_000
    hit_seconds: float = 1.0
    rt60: float | None = 0.3
    snr_db: float | None = 40.0
    test_fraction: float = 0.2

    def __post_init__(self) -> None:
        for name in ("scenes", "hits_per_scene", "views", "image_size"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 16 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be within 16..1024 px, got {self.image_size}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be within [0, 1), got {self.test_fraction}")
        if not 0.05 <= self.hit_seconds <= 4.0:
            raise ValueError(f"hit_seconds must be within 0.05..4, got {self.hit_seconds}")


def split_scenes(names: list[str], test_fraction: float, rng: np.random.Generator) -> dict[str, list[str]]:
    """Train/test by scene; at least one test scene once there are two scenes, unless test_fraction is 0
    (a training-only dataset, e.g. extra scenes for `vaf train encoders`)."""
    order = [names[i] for i in rng.permutation(len(names))]
    n_test = 0 if len(names) < 2 or test_fraction == 0 else max(1, int(round(test_fraction * len(names))))
    return {"train": sorted(order[n_test:]), "test": sorted(order[:n_test])}


def make_scene_capture(folder: Path, scene_seed: int, config: DatasetConfig) -> list[Hit]:
    """One scene: bundle, views, COLMAP files, hits and their recordings."""
    rng = np.random.default_rng([config.seed, scene_seed])
    bundle = build_bundle(generate_scene(scene_seed), BundleConfig(config.gaussians, config.acoustic_points, config.modes))
    bundle.save(folder / "bundle")
    surface = SceneSurface.of(bundle)
    scene = LoadedScene(bundle.name, bundle, surface, b"")
    cameras = {f"view_{i:03d}.png": cam for i, cam in enumerate(around_objects(bundle.segments, config.views, config.image_size, rng))}
    write_colmap(folder, cameras)
    for sub in ("images", "depth", "labels", "audio"):
        (folder / sub).mkdir()
    visible = {}
    floor_id = next(s.id for s in bundle.segments if s.level == "object" and s.label == "floor")
    for name, cam in cameras.items():
        view = render_view(bundle.gaussians, cam)
        Image.fromarray((np.clip(view.rgb, 0, 1) * 255).astype(np.uint8)).save(folder / "images" / name)
        stem = Path(name).stem
        np.save(folder / "depth" / f"{stem}.npy", view.depth.astype(np.float16))
        labels = np.where(view.top[..., None] >= 0, bundle.labels[np.maximum(view.top, 0)], -1).astype(np.int32)
        np.save(folder / "labels" / f"{stem}.npy", labels)
        seen = (view.alpha > 0.9) & (view.top >= 0)
        visible[name] = (np.argwhere(seen & (labels[..., 2] != floor_id)), np.argwhere(seen & (labels[..., 2] == floor_id)),
                         view.depth, labels)

    hits, generator = [], PhysicsGenerator()
    names = [n for n in cameras if visible[n][0].size or visible[n][1].size]
    for _ in range(config.hits_per_scene * 20):  # draws whose surface sample disagrees are retried
        if len(hits) == config.hits_per_scene or not names:
            break
        name = names[int(rng.integers(len(names)))]
        cam, (objects, floor, depth, labels) = cameras[name], visible[name]
        pool = floor if (rng.random() < FLOOR_SHARE or not objects.size) else objects  # sessions mostly hit things
        if not pool.size:
            continue
        y, x = pool[int(rng.integers(len(pool)))]
        pixel = np.array([[x + 0.5, y + 0.5]])
        point = cam.unproject(pixel, np.array([float(depth[y, x])]))[0]
        sub, part, obj = (int(v) for v in labels[y, x])
        i = struck_sample(surface, point, sub)
        if i is None:
            continue
        source = generator.generate(scene, np.array([i]))[0]
        striker = str(rng.choice(list(STRIKERS), p=list(STRIKERS.values())))
        impulse, speed = float(np.exp(rng.uniform(np.log(0.01), np.log(0.1)))), float(rng.uniform(0.5, 3.0))
        pcm = render(source.recipe, Excitation.from_materials(impulse, speed, striker, source.material),
                     config.sample_rate, int(config.hit_seconds * config.sample_rate), seed=int(rng.integers(2**32)))
        if np.abs(pcm).max() < 1e-4:  # a nodal point of every mode: nobody records silence
            continue
        pcm = record(pcm, config.sample_rate, rng, config.rt60, config.snr_db)
        wav = f"audio/hit_{len(hits):04d}.wav"
        write_wav(folder / wav, pcm, config.sample_rate)
        hits.append(Hit(name, [float(x) + 0.5, float(y) + 0.5], [round(float(v), 6) for v in point],
                        [round(float(v), 6) for v in bundle.acoustics.normals[i]], round(impulse, 6), round(speed, 4),
                        striker, wav, obj, part, sub, source.material))
    write_hits(folder / "hits.jsonl", hits)
    return hits


def struck_sample(surface: SceneSurface, point: np.ndarray, subpart: int) -> int | None:
    """The acoustic sample a hit seen at `point` (metres, where the rendered view's depth puts it: ~1-2 cm off the
    surface) on `subpart` sounds from: the nearest of its 8 nearest samples on that subpart within SURFACE_TOLERANCE of
    the sample's patch; None if there is none. The runtime snaps a contact to a surface sample too, and reads the
    spot's geometry there."""
    distance, index = surface.neighbours(point, k=8)
    same = [int(i) for d, i in zip(distance, index) if surface.labels[i, 0] == subpart and d <= SURFACE_TOLERANCE + surface.radius[i]]
    return same[0] if same else None


def make_dataset(out: str | Path, config: DatasetConfig, progress: bool = True) -> dict:
    """Writes the whole dataset into a new folder; returns dataset.json's content.

    A stopped run resumes: while the dataset is being made, `out` holds PARTIAL with the config, and a scene is
    done once its hits.jsonl is written (last, whole or not at all). The same call again keeps the scenes that
    are done, makes the others (each scene draws from its own seed, so the data come out the same) and refuses
    another config, naming what differs."""
    out = Path(out)
    started = out / PARTIAL
    if started.exists():
        kept = json.loads(started.read_text())
        if kept != asdict(config):
            raise ValueError(f"{out} holds a dataset being made with another config "
                             f"({'; '.join(config_differences(kept, asdict(config)))}): the same options resume it")
    elif out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new folder (nothing was overwritten)")
    else:
        out.mkdir(parents=True, exist_ok=True)
        started.write_text(json.dumps(asdict(config), indent=1) + "\n")
    names, counts = [], []
    bar = tqdm(range(config.scenes), desc="scenes", unit="scene", disable=not progress)
    for k in bar:
        name = f"scene_{k:04d}"
        if (out / name / "hits.jsonl").exists():
            hits = read_hits(out / name / "hits.jsonl")
        else:
            shutil.rmtree(out / name, ignore_errors=True)  # a scene the stopped run had begun
            hits = make_scene_capture(out / name, config.seed * 100_000 + k, config)
        names.append(name)
        counts.append(len(hits))
        bar.set_postfix(hits=sum(counts))
    manifest = {
        "format": FORMAT,
        "version": 1,
        "scenes": names,
        "hits": dict(zip(names, counts)),
        "split": split_scenes(names, config.test_fraction, np.random.default_rng(config.seed)),
        "config": asdict(config),
    }
    (out / "dataset.json").write_text(json.dumps(manifest, indent=1) + "\n")
    started.unlink()
    return manifest
