"""Sound localization accuracy on held-out scenes, as the Visual Acoustic Fields seed defines it.

Acc(k): a hit counts as localized when one of the top k part segments produced the sound:
the struck part itself, or a part of identical material and geometry class (same material
and same object/part class, e.g. two ceramic mug bodies; the legs of a table are one part).
Baselines in the same run: a random part (its expectation, computed exactly) and the
encoders before contrastive training (same architecture, random weights, same pipeline).
With `physics_clips`, also the clips a game's own synthesiser would send: each hit's exact recipe
(the world's physics) rendered dry, localised as sent and heard first in the room the encoders'
recordings were made in (`localize`'s `room`), both with the trained encoders.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from math import comb
from pathlib import Path

import numpy as np
import torch

from vaf.runtime.encoders import DEFAULT_ENCODERS, OnnxEncoders
from vaf.runtime.generators import PhysicsGenerator
from vaf.runtime.localization import SceneLocalizer, localize_embedding
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.scenes import LoadedScene
from vaf.runtime.synthesis import Excitation, render
from vaf.runtime.wav import read_wav
from vaf.training.data.capture import Hit, read_hits
from vaf.training.data.pairs import dataset_split, part_kind
from vaf.training.encoders.train import EncoderPair, TrainConfig
from vaf.training.features.lift import lift_oracle_views
from vaf.training.world.ground_truth import ground_truth_scene


@dataclass
class HeldOutScene:
    """One held-out scene as this evaluation localises in it: the runtime's localizer over features lifted with
    `lift_oracle_views`, and each part's kind (part_kind), which decides what counts as found."""

    localizer: SceneLocalizer
    kinds: dict[int, str]

    @classmethod
    def lift(cls, folder: str | Path, encoders: OnnxEncoders, views: int, seed: int = 0) -> HeldOutScene:
        """`folder`: a capture-layout scene (its `bundle`); features lifted from `views` views drawn from `seed`."""
        bundle = SceneBundle.load(Path(folder) / "bundle")
        bundle.features = lift_oracle_views(bundle, encoders, views, seed).features
        kinds = {s.id: part_kind(s.label, s.material) for s in bundle.segments if s.level == "part"}
        return cls(SceneLocalizer(bundle), kinds)

    @property
    def seen_parts(self) -> list[int]:
        """Parts some view saw: the only ones the localizer can rank."""
        return [int(p) for p in self.localizer.levels[1].ids]

    def accepted(self, part: int) -> set[int]:
        """The seen parts that count as finding a sound of `part`: itself and those of its kind (empty: unseen)."""
        seen = self.seen_parts
        return {p for p in seen if self.kinds[p] == self.kinds[part]} if part in seen else set()

    def found(self, embedding: np.ndarray, part: int, top_k: int) -> bool:
        """Whether a clip of `part` with this audio embedding ((D,) float32) is found among the top `top_k` parts."""
        return bool(self.accepted(part) & {s.id for s in self.localizer.rank(embedding, "part", top_k)})


def dry_physics_clip(scene: LoadedScene, hit: Hit, sample_rate: int, frames: int) -> np.ndarray:
    """The world's exact recipe at the hit's point, struck with the hit's contact and rendered dry: (frames,) float32,
    what a game's own synthesiser would send to `localize`."""
    _, index = scene.surface.nearest(np.array([hit.point]))
    source = PhysicsGenerator().generate(scene, index)[0]
    excitation = Excitation.from_materials(hit.impulse, hit.speed, hit.striker, source.material)
    return render(source.recipe, excitation, sample_rate, frames)


def untrained_encoders(folder: Path, seed: int = 0) -> OnnxEncoders:
    """The default architecture with its initial random weights, exported like the trained one."""
    from vaf.export.encoders import export_encoders

    torch.manual_seed(seed)
    pair = EncoderPair(TrainConfig())
    path = folder / "untrained.pt"
    torch.save({"model": pair.state_dict(), "config": TrainConfig().__dict__}, path)
    return OnnxEncoders.load(export_encoders(path, folder / "untrained", {"untrained": True}))


def _random_accuracy(n_parts: int, n_ok: int, k: int) -> float:
    """Chance that k distinct random parts out of n include one of n_ok acceptable ones."""
    k = min(k, n_parts)
    return 1.0 - comb(n_parts - n_ok, k) / comb(n_parts, k)


def evaluate_localization(dataset: str | Path, encoders_dir: str | Path | None = None, untrained: str | Path | None = None,
                          views: int = 24, seed: int = 0, physics_clips: bool = False) -> dict:
    dataset = Path(dataset)
    trained = OnnxEncoders.load(encoders_dir or DEFAULT_ENCODERS)
    physics_rooms = {}  # row -> the room `localize` is asked to hear the dry clip in
    if physics_clips:
        if trained.recordings_room is None:
            raise ValueError(f"{trained.path}: encoders.json does not say the room of the encoders' recordings "
                             "(audio.recordings_room), which the dry physics clips are heard in")
        physics_rooms = {"trained encoders, dry physics clips as sent": None,
                         "trained encoders, dry physics clips heard in the encoders' room": trained.recordings_room}
    with tempfile.TemporaryDirectory() as tmp:
        if untrained is not None:
            from vaf.export.encoders import export_encoders

            baseline = OnnxEncoders.load(export_encoders(untrained, Path(tmp) / "untrained"))
        else:
            baseline = untrained_encoders(Path(tmp), seed)
        methods = {"trained encoders": trained, "untrained encoders": baseline}
        correct = {m: np.zeros(2) for m in [*methods, *physics_rooms, "random part"]}
        counted, skipped, localize_ms = 0, 0, []
        scenes = dataset_split(dataset, "test")
        for scene in scenes:
            folder = dataset / scene
            held_out = {name: HeldOutScene.lift(folder, enc, views, seed) for name, enc in methods.items()}
            seen_parts = held_out["trained encoders"].seen_parts
            physics_scene = ground_truth_scene(folder, held_out["trained encoders"].localizer.bundle) if physics_rooms else None
            for hit in read_hits(folder / "hits.jsonl"):
                audio, rate = read_wav(folder / hit.wav)
                ok = held_out["trained encoders"].accepted(hit.part)
                if not ok:
                    skipped += 1
                    continue
                ranked = {}
                try:
                    for name, enc in methods.items():
                        t0 = time.perf_counter()
                        ranked[name] = [s.id for s in held_out[name].localizer.rank(enc.embed_sound(audio, rate), "part", 3)]
                        if name == "trained encoders":
                            localize_ms.append((time.perf_counter() - t0) * 1e3)
                    if physics_scene is not None:
                        dry = dry_physics_clip(physics_scene, hit, rate, len(audio))
                        for name, room in physics_rooms.items():
                            embedding = localize_embedding(trained, dry, rate, room)
                            ranked[name] = [s.id for s in held_out["trained encoders"].localizer.rank(embedding, "part", 3)]
                except ValueError:  # silent after denoising
                    skipped += 1
                    continue
                for name, top in ranked.items():
                    correct[name] += [top[0] in ok, bool(ok & set(top))]
                correct["random part"] += [_random_accuracy(len(seen_parts), len(ok), 1), _random_accuracy(len(seen_parts), len(ok), 3)]
                counted += 1
    if counted == 0:
        raise ValueError(f"{dataset}: no usable test hits")
    return {
        "dataset": str(dataset),
        "scenes": len(scenes),
        "hits": counted,
        "skipped_hits": skipped,
        "views": views,
        "encoders": str(trained.path),
        "accuracy": {m: {"acc1": round(float(c[0] / counted), 4), "acc3": round(float(c[1] / counted), 4)} for m, c in correct.items()},
        "localize_ms_median": round(float(np.median(localize_ms)), 3) if localize_ms else None,
    }


def results_table(report: dict, command: str) -> str:
    lines = [
        f"### Sound localization, {time.strftime('%Y-%m-%d')}",
        "",
        f"`{command}` — {report['hits']} held-out hits in {report['scenes']} test scenes "
        f"({report['skipped_hits']} skipped: silent or on parts no view saw), part level, features lifted from "
        f"{report['views']} views of 128 px.",
        "",
        "| method | Acc(1) | Acc(3) |",
        "|---|---|---|",
    ]
    for method, acc in report["accuracy"].items():
        lines.append(f"| {method} | {100 * acc['acc1']:.1f}% | {100 * acc['acc3']:.1f}% |")
    return "\n".join(lines)
