"""3D Gaussian splats and the Inria ``.ply`` layout that every 3DGS tool reads and writes.

The layout (Kerbl et al., 3D Gaussian Splatting, 2023, reference code): one ``vertex``
element with float32 properties ``x y z nx ny nz f_dc_0..2 f_rest_0..(3*((d+1)^2-1)-1)
opacity scale_0..2 rot_0..3``. Colours are spherical-harmonic coefficients (DC term:
``rgb = 0.5 + SH_C0 * f_dc``), ``f_rest`` is stored channel-major (all red coefficients,
then green, then blue), opacity is a logit, scales are natural logs, and rotations are
unnormalised quaternions in (w, x, y, z) order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from plyfile import PlyData, PlyElement

SH_C0 = 0.28209479177387814
_REQUIRED = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
             "rot_0", "rot_1", "rot_2", "rot_3"]


@dataclass
class GaussianCloud:
    """N Gaussians in decoded form.

    positions: (N, 3) float32, scene units; rgb: (N, 3) float32 in [0, 1] (SH DC colour);
    sh_rest: (N, 3, M) float32 higher-order SH coefficients per channel (M = (d+1)^2 - 1);
    opacity: (N,) float32 in (0, 1); scales: (N, 3) float32 standard deviations, scene units;
    rotations: (N, 4) float32 unit quaternions (w, x, y, z).
    """

    positions: np.ndarray
    rgb: np.ndarray
    sh_rest: np.ndarray
    opacity: np.ndarray
    scales: np.ndarray
    rotations: np.ndarray

    def __len__(self) -> int:
        return int(self.positions.shape[0])

    @property
    def sh_degree(self) -> int:
        return int(round(np.sqrt(self.sh_rest.shape[2] + 1))) - 1


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def write_ply(cloud: GaussianCloud, path: str | Path) -> None:
    """Writes the Inria layout (binary little-endian)."""
    n, m = len(cloud), cloud.sh_rest.shape[2]
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(3 * m)]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    columns = [
        cloud.positions,
        np.zeros((n, 3), np.float32),
        (cloud.rgb - 0.5) / SH_C0,
        cloud.sh_rest.reshape(n, 3 * m),
        _logit(cloud.opacity)[:, None],
        np.log(cloud.scales),
        cloud.rotations,
    ]
    data = np.concatenate([np.asarray(c, np.float64).reshape(n, -1) for c in columns], axis=1).astype(np.float32)
    vertex = np.empty(n, dtype=[(name, "f4") for name in names])
    for i, name in enumerate(names):
        vertex[name] = data[:, i]
    PlyData([PlyElement.describe(vertex, "vertex")], byte_order="<").write(str(path))


def read_ply(path: str | Path) -> GaussianCloud:
    """Reads an Inria-layout ``.ply`` from any writer; a malformed file raises ValueError naming what is wrong."""
    path = Path(path)
    try:
        ply = PlyData.read(str(path))
    except Exception as e:  # plyfile raises many types on garbage
        raise ValueError(f"{path.name}: not a readable PLY file ({e})") from None
    if "vertex" not in [el.name for el in ply.elements]:
        raise ValueError(f"{path.name}: no 'vertex' element, not a 3DGS splat file")
    v = ply["vertex"].data
    names = set(v.dtype.names or ())
    missing = [p for p in _REQUIRED if p not in names]
    if missing:
        raise ValueError(f"{path.name}: missing Inria 3DGS properties {missing}")
    rest = sorted((p for p in names if p.startswith("f_rest_")), key=lambda p: int(p.split("_")[-1]))
    if len(rest) % 3 or int(round(np.sqrt(len(rest) // 3 + 1))) ** 2 != len(rest) // 3 + 1:
        raise ValueError(f"{path.name}: {len(rest)} f_rest_* properties is not 3 * ((d+1)^2 - 1) for any SH degree d")
    if [int(p.split("_")[-1]) for p in rest] != list(range(len(rest))):
        raise ValueError(f"{path.name}: f_rest_* properties are not numbered 0..{len(rest) - 1}")
    n = len(v)
    col = lambda *ps: np.stack([np.asarray(v[p], np.float32) for p in ps], axis=1)  # noqa: E731
    positions = col("x", "y", "z")
    if not np.all(np.isfinite(positions)):
        raise ValueError(f"{path.name}: non-finite positions")
    rot = col("rot_0", "rot_1", "rot_2", "rot_3")
    norm = np.linalg.norm(rot, axis=1, keepdims=True)
    if np.any(norm == 0) or not np.all(np.isfinite(norm)):
        raise ValueError(f"{path.name}: zero or non-finite rotation quaternions")
    m = len(rest) // 3
    return GaussianCloud(
        positions=positions,
        rgb=(0.5 + SH_C0 * col("f_dc_0", "f_dc_1", "f_dc_2")).astype(np.float32),
        sh_rest=col(*rest).reshape(n, 3, m) if m else np.zeros((n, 3, 0), np.float32),
        opacity=(1.0 / (1.0 + np.exp(-col("opacity")[:, 0]))).astype(np.float32),
        scales=np.exp(col("scale_0", "scale_1", "scale_2")).astype(np.float32),
        rotations=(rot / norm).astype(np.float32),
    )


def quaternion_from_z(normals: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z) rotating +z onto each normal: (N, 3) -> (N, 4) float32."""
    n = normals / np.linalg.norm(normals, axis=1, keepdims=True)
    w = 1.0 + n[:, 2]
    q = np.stack([w, -n[:, 1], n[:, 0], np.zeros_like(w)], axis=1)  # (1 + z.n, z x n)
    flipped = w < 1e-6  # normal is -z: rotate half a turn about x
    q[flipped] = [0.0, 1.0, 0.0, 0.0]
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(N, 4) unit quaternions (w, x, y, z) -> (N, 3, 3) rotation matrices."""
    w, x, y, z = np.asarray(q, np.float64).T
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
        np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
        np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
    ], axis=1)


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """(3, 3) rotation matrix -> (4,) unit quaternion (w, x, y, z) with w >= 0 (Shepperd's method)."""
    m = np.asarray(m, np.float64)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(1.0 + trace)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0] * 4
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    q = np.array(q)
    return q * (1 if q[0] >= 0 else -1) / np.linalg.norm(q)
