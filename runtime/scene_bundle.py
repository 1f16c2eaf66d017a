"""The scene bundle: the runtime's on-disk scene (documented in docs/scene-bundle.md).

A folder holding ``manifest.json`` (format version, name, units, up axis, handedness,
segments, file names), the Gaussians as an Inria ``.ply``, per-Gaussian segment ids at
three levels (``labels.npy``), optional per-Gaussian multi-level features (``features.npy``),
optional ground-truth acoustics (``acoustics.npz``), a
collision mesh (``collision.glb``, one node per subpart segment named ``seg_<id>``) and
a preview PNG.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vaf.runtime.gaussians import GaussianCloud, read_ply, write_ply

FORMAT = "vaf-scene"
VERSION = 1
LEVELS = ("subpart", "part", "object")
UP_AXES = ("+x", "-x", "+y", "-y", "+z", "-z")


@dataclass
class Segment:
    """A group of Gaussians at one level. centroid: [x, y, z]; bbox: [[min xyz], [max xyz]], scene units."""

    id: int
    level: str
    centroid: list[float]
    bbox: list[list[float]]
    parent: int | None = None
    label: str | None = None
    material: str | None = None


def measure_segments(records: list[dict], positions: np.ndarray, labels: np.ndarray) -> list[Segment]:
    """Segments from records ({"id", "level", "parent", optional "label", "material"}) with centroid and bbox
    measured on their Gaussians: positions (N, 3), labels (N, 3) ids (subpart, part, object)."""
    out = []
    for rec in records:
        mask = labels[:, LEVELS.index(rec["level"])] == rec["id"]
        pts = positions[mask] if mask.any() else np.zeros((1, 3), np.float32)
        out.append(Segment(centroid=[round(float(v), 5) for v in pts.mean(axis=0)],
                           bbox=[[round(float(v), 5) for v in pts.min(axis=0)], [round(float(v), 5) for v in pts.max(axis=0)]],
                           **rec))
    return out


@dataclass
class SurfaceAcoustics:
    """Ground-truth modal acoustics sampled on the surfaces (synthetic scenes only).

    An acoustic unit is one vibrating body (a subpart). points, normals: (M, 3) float32;
    patch_radius: (M,) float32 metres, the radius of the surface patch each sample stands for;
    unit: (M,) int32 index of the unit each point lies on; gains: (M, K) float32 signed mode
    amplitude per N*s of impulse for a hit along the normal at that point; unit_segment: (U,)
    int32 subpart segment id of each unit; freq_hz, decay_per_s: (U, K) float32 (gain 0 pads
    units with fewer modes); noise: (U, 4) float32 transient (centre Hz, bandwidth Hz, level,
    decay 1/s); unit_material: U material names.
    """

    points: np.ndarray
    normals: np.ndarray
    patch_radius: np.ndarray
    unit: np.ndarray
    gains: np.ndarray
    unit_segment: np.ndarray
    freq_hz: np.ndarray
    decay_per_s: np.ndarray
    noise: np.ndarray
    unit_material: list[str]

    def save(self, path: Path) -> None:
        arrays = {k: v for k, v in asdict(self).items() if k != "unit_material"}
        arrays["gains"] = self.gains.astype(np.float16)  # halves the file; 1e-3 relative is inaudible
        np.savez_compressed(path, unit_material=np.array(self.unit_material), **arrays)

    @classmethod
    def load(cls, path: Path) -> SurfaceAcoustics:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in cls.__dataclass_fields__ if k not in z.files]
            if missing:
                raise ValueError(f"{path.name}: missing arrays {missing}")
            a = cls(**{k: z[k] for k in cls.__dataclass_fields__ if k != "unit_material"},
                    unit_material=[str(s) for s in z["unit_material"]])
        a.gains = a.gains.astype(np.float32)
        m, u = a.points.shape[0], a.unit_segment.shape[0]
        k = a.freq_hz.shape[1] if a.freq_hz.ndim == 2 else -1
        shapes = {"points": (m, 3), "normals": (m, 3), "patch_radius": (m,), "unit": (m,), "gains": (m, k), "freq_hz": (u, k),
                  "decay_per_s": (u, k), "noise": (u, 4)}
        for name, shape in shapes.items():
            if getattr(a, name).shape != shape:
                raise ValueError(f"{path.name}: {name} has shape {getattr(a, name).shape}, expected {shape}")
        if len(a.unit_material) != u or (m and (a.unit.min() < 0 or a.unit.max() >= u)):
            raise ValueError(f"{path.name}: unit indices or unit_material do not match {u} units")
        return a


@dataclass
class BakedBank:
    """Sounds made ahead of time for part segments (``vaf scene bake``).

    segment_ids: (S,) int32 part ids; audio: (S, V, T) float16, V variations per segment of T
    samples at sample_rate, each preprocessed like a recording (0.5 s from the onset, RMS 0.01);
    source: how they were made (model, steps, cfg_scale, seed)."""

    segment_ids: np.ndarray
    audio: np.ndarray
    sample_rate: int
    source: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.audio.ndim != 3 or len(self.segment_ids) != len(self.audio):
            raise ValueError(f"baked: audio shape {self.audio.shape} does not match {len(self.segment_ids)} segment ids")
        if not np.all(np.isfinite(self.audio.astype(np.float32))):
            raise ValueError("baked: audio has NaN or infinite samples")
        self.rows = {int(s): i for i, s in enumerate(self.segment_ids)}  # segment id -> row of audio

    def save(self, path: Path) -> None:
        np.savez(path, segment_ids=self.segment_ids.astype(np.int32), audio=self.audio.astype(np.float16))

    @classmethod
    def load(cls, path: Path, sample_rate: int, source: dict) -> BakedBank:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["segment_ids"].astype(np.int32), z["audio"].astype(np.float16), sample_rate, source)


@dataclass
class SceneBundle:
    """A scene as the runtime serves it. labels: (N, 3) int32 segment ids per Gaussian (subpart, part, object)."""

    name: str
    gaussians: GaussianCloud
    labels: np.ndarray
    segments: list[Segment]
    units: str = "m"
    up: str = "+y"
    handedness: str = "right"
    acoustics: SurfaceAcoustics | None = None
    features: np.ndarray | None = None  # (N, 3, D) float16 unit vectors per level (zero: unseen)
    features_source: dict = field(default_factory=dict)  # which encoders made them
    baked: BakedBank | None = None  # diffusion samples per part segment (vaf scene bake)
    collision_mesh: bytes | None = None  # .glb
    preview_png: bytes | None = None
    source: dict = field(default_factory=dict)
    path: Path | None = None

    def segment(self, segment_id: int) -> Segment:
        return self._by_id()[segment_id]

    def _by_id(self) -> dict[int, Segment]:
        if not hasattr(self, "_segment_index"):
            self._segment_index = {s.id: s for s in self.segments}
        return self._segment_index

    def save(self, folder: str | Path) -> Path:
        """Writes the bundle into a new folder; refuses to touch a folder that already has files."""
        folder = Path(folder)
        if folder.exists() and any(folder.iterdir()):
            raise FileExistsError(f"{folder} is not empty; choose a new folder (nothing was overwritten)")
        folder.mkdir(parents=True, exist_ok=True)
        write_ply(self.gaussians, folder / "gaussians.ply")
        np.save(folder / "labels.npy", self.labels.astype(np.int32))
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "units": self.units,
            "up": self.up,
            "handedness": self.handedness,
            "gaussians": "gaussians.ply",
            "labels": "labels.npy",
            "acoustics": None,
            "features": None,
            "baked": None,
            "collision_mesh": None,
            "preview": None,
            "segments": [asdict(s) for s in self.segments],
            "source": self.source,
        }
        if self.acoustics is not None:
            self.acoustics.save(folder / "acoustics.npz")
            manifest["acoustics"] = "acoustics.npz"
        if self.features is not None:
            np.save(folder / "features.npy", self.features.astype(np.float16, copy=False))
            manifest["features"] = {"file": "features.npy", "dim": int(self.features.shape[2]), "levels": list(LEVELS),
                                    "encoders": self.features_source}
        if self.baked is not None:
            self.baked.save(folder / "baked.npz")
            manifest["baked"] = {"file": "baked.npz", "level": "part", "variations": int(self.baked.audio.shape[1]),
                                 "sample_rate": self.baked.sample_rate, "source": self.baked.source}
        for key, name, data in (("collision_mesh", "collision.glb", self.collision_mesh),
                                ("preview", "preview.png", self.preview_png)):
            if data is not None:
                (folder / name).write_bytes(data)
                manifest[key] = name
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
        self.path = folder
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> SceneBundle:
        """Reads and validates a bundle; problems raise ValueError naming the file and field."""
        folder = Path(folder)
        manifest_path = folder / "manifest.json"
        if not manifest_path.is_file():
            raise ValueError(f"{folder}: no manifest.json, not a scene bundle")
        try:
            m = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{manifest_path}: invalid JSON ({e})") from None
        _check_manifest(m, manifest_path)
        gaussians = read_ply(_member(folder, m["gaussians"], "gaussians"))
        labels = np.load(_member(folder, m["labels"], "labels"), allow_pickle=False)
        if labels.shape != (len(gaussians), 3):
            raise ValueError(f"{folder.name}/labels: shape {labels.shape}, expected ({len(gaussians)}, 3)")
        segments = [Segment(**s) for s in m["segments"]]
        ids = {s.id for s in segments}
        if labels.size and not np.isin(labels, list(ids)).all():
            raise ValueError(f"{folder.name}/labels: ids not listed in manifest segments")
        optional = lambda key: _member(folder, m[key], key) if m.get(key) else None  # noqa: E731
        features, features_source = None, {}
        if m.get("features"):
            spec = m["features"]
            features = np.load(_member(folder, spec.get("file"), "features.file"), allow_pickle=False)
            if features.shape != (len(gaussians), len(LEVELS), spec.get("dim")):
                raise ValueError(f"{folder.name}/features: shape {features.shape}, expected "
                                 f"({len(gaussians)}, {len(LEVELS)}, {spec.get('dim')})")
            features_source = spec.get("encoders", {})
        baked = None
        if m.get("baked"):
            spec = m["baked"]
            rate = spec.get("sample_rate")
            if not isinstance(rate, int) or not 8000 <= rate <= 192000:
                raise ValueError(f"{folder.name}/manifest.json: baked.sample_rate must be an integer Hz in 8000..192000, got {rate!r}")
            baked = BakedBank.load(_member(folder, spec.get("file"), "baked.file"), rate, spec.get("source", {}))
            if not np.isin(baked.segment_ids, list(ids)).all():
                raise ValueError(f"{folder.name}/baked: segment ids not listed in manifest segments")
        acoustics_path, mesh_path, preview_path = optional("acoustics"), optional("collision_mesh"), optional("preview")
        return cls(
            name=m["name"],
            gaussians=gaussians,
            labels=labels.astype(np.int32),
            segments=segments,
            units=m["units"],
            up=m["up"],
            handedness=m["handedness"],
            acoustics=SurfaceAcoustics.load(acoustics_path) if acoustics_path else None,
            features=features,
            features_source=features_source,
            baked=baked,
            collision_mesh=mesh_path.read_bytes() if mesh_path else None,
            preview_png=preview_path.read_bytes() if preview_path else None,
            source=m.get("source", {}),
            path=folder,
        )


def _member(folder: Path, name: object, field_name: str) -> Path:
    if not isinstance(name, str) or os.sep in name or name.startswith("."):
        raise ValueError(f"{folder.name}/manifest.json: {field_name} must be a plain file name, got {name!r}")
    path = folder / name
    if not path.is_file():
        raise ValueError(f"{folder.name}/manifest.json: {field_name} names {name!r}, which does not exist")
    return path


def _check_manifest(m: object, path: Path) -> None:
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ValueError(f"{path}: format must be {FORMAT!r}")
    if m.get("version") != VERSION:
        raise ValueError(f"{path}: version {m.get('version')!r} is not supported (this runtime reads {VERSION})")
    checks = {
        "name": lambda v: isinstance(v, str) and v,
        "units": lambda v: v == "m",
        "up": lambda v: v in UP_AXES,
        "handedness": lambda v: v in ("right", "left"),
        "segments": lambda v: isinstance(v, list),
        "gaussians": lambda v: isinstance(v, str),
        "labels": lambda v: isinstance(v, str),
    }
    for key, ok in checks.items():
        if key not in m or not ok(m[key]):
            raise ValueError(f"{path}: field {key!r} is missing or invalid ({m.get(key)!r})")
    for i, s in enumerate(m["segments"]):
        if not isinstance(s, dict) or s.get("level") not in LEVELS or not isinstance(s.get("id"), int):
            raise ValueError(f"{path}: segments[{i}] needs an integer id and a level in {LEVELS}")
