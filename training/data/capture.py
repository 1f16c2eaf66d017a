"""The capture layout: what a real recording session produces, and what the sounding world writes.

    SCENE/
      images/NAME.png                 RGB views
      sparse/0/cameras.txt            COLMAP text: one PINHOLE camera per image
      sparse/0/images.txt             COLMAP text: world-to-camera pose of each image
      sparse/0/points3D.txt           COLMAP text (empty here; a real capture has its SfM points)
      hits.jsonl                      one hit per line, see Hit
      audio/NAME.wav                  16-bit PCM recordings

Synthetic scenes add what a capture would not have: per-hit ground-truth labels (object,
part, subpart ids and material), depth/ and labels/ maps per view, and bundle/ (the scene
bundle with the true acoustics). Loaders read real captures with the same code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from vaf.runtime.gaussians import matrix_to_quaternion, quaternion_to_matrix
from vaf.runtime.cameras import PinholeCamera
from vaf.training.whole_files import written_whole


@dataclass
class Hit:
    """One recorded impact. pixel: [u, v] in `image` (pixel centres at +0.5); point, normal: world
    coordinates (metres); impulse: N*s; speed: m/s; wav: path relative to the scene folder.
    Ground truth (synthetic only, else None): segment ids at three levels and the material."""

    image: str
    pixel: list[float]
    point: list[float]
    normal: list[float]
    impulse: float
    speed: float
    striker: str
    wav: str
    object: int | None = None
    part: int | None = None
    subpart: int | None = None
    material: str | None = None


def write_colmap(folder: Path, cameras: dict[str, PinholeCamera]) -> None:
    """Writes sparse/0/{cameras,images,points3D}.txt for named cameras (one PINHOLE camera each)."""
    sparse = Path(folder) / "sparse" / "0"
    sparse.mkdir(parents=True, exist_ok=True)
    cam_lines = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    img_lines = ["# Image list with two lines of data per image:",
                 "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME", "#   POINTS2D[] as (X, Y, POINT3D_ID)"]
    for i, (name, cam) in enumerate(cameras.items(), start=1):
        numbers = lambda values: " ".join(repr(float(v)) for v in values)  # noqa: E731  (repr: exact round trip)
        cam_lines.append(f"{i} PINHOLE {cam.width} {cam.height} {numbers([cam.fx, cam.fy, cam.cx, cam.cy])}")
        img_lines.append(f"{i} {numbers(matrix_to_quaternion(cam.rotation))} {numbers(cam.translation)} {i} {name}")
        img_lines.append("")
    (sparse / "cameras.txt").write_text("\n".join(cam_lines) + "\n")
    (sparse / "images.txt").write_text("\n".join(img_lines) + "\n")
    (sparse / "points3D.txt").write_text("# 3D point list (none: synthetic capture)\n")


def _data_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ValueError(f"{path}: missing")
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def read_colmap(folder: Path) -> dict[str, PinholeCamera]:
    """Reads PINHOLE and SIMPLE_PINHOLE cameras and image poses from sparse/0 text files."""
    sparse = Path(folder) / "sparse" / "0"
    intrinsics = {}
    for line in _data_lines(sparse / "cameras.txt"):
        if not line.strip():
            continue
        parts = line.split()
        cam_id, model, width, height, params = parts[0], parts[1], int(parts[2]), int(parts[3]), [float(p) for p in parts[4:]]
        if model == "PINHOLE":
            fx, fy, cx, cy = params
        elif model == "SIMPLE_PINHOLE":
            fx, cx, cy = params
            fy = fx
        else:
            raise ValueError(f"{sparse / 'cameras.txt'}: camera {cam_id} model {model} is not supported (PINHOLE, SIMPLE_PINHOLE)")
        intrinsics[cam_id] = (fx, fy, cx, cy, width, height)
    cameras = {}
    lines = _data_lines(sparse / "images.txt")
    for line in lines[0::2]:  # every other line holds the 2D points
        parts = line.split()
        if len(parts) < 10:
            continue
        q = np.array([float(v) for v in parts[1:5]])
        rotation = quaternion_to_matrix((q / np.linalg.norm(q))[None])[0]
        fx, fy, cx, cy, width, height = intrinsics[parts[8]]
        cameras[parts[9]] = PinholeCamera(rotation, np.array([float(v) for v in parts[5:8]]), fx, fy, cx, cy, width, height)
    return cameras


def write_hits(path: Path, hits: list[Hit]) -> None:
    """Writes beside `path`, then renames: the file is whole or absent (a dataset's scene is done once it exists)."""
    with written_whole(path) as partial, open(partial, "w") as f:
        for hit in hits:
            f.write(json.dumps(asdict(hit)) + "\n")


def read_hits(path: Path) -> list[Hit]:
    hits = []
    for n, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            hits.append(Hit(**json.loads(line)))
        except (json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path}:{n}: not a hit record ({e})") from None
    return hits
