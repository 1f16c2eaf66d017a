"""Geometric primitives that vibrate: boxes (plates or bars), tubes (shells) and discs.

Every primitive lives in its own frame (metres), samples its surface area-uniformly with
normals, builds a collision mesh, and gives its modal model: frequencies and mode shapes
at surface points, the shape projected on the surface normal (a hit along the normal of a
plate excites its bending modes; a hit on its edge barely does).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

import numpy as np
import trimesh

from vaf.runtime.materials import Material
from vaf.training.world import modal

BAR_ASPECT = 3.0  # a box whose longest side exceeds 3x the middle one vibrates as a bar


@dataclass
class ModalModel:
    """freqs: (K,) Hz; shape(points, normals) -> (P, K) mode amplitude along the normal,
    and phi(points) -> (P, K) the amplitude of the mode's motion (for its modal mass)."""

    freqs: np.ndarray
    shape: Callable[[np.ndarray, np.ndarray], np.ndarray]
    phi: Callable[[np.ndarray], np.ndarray]


def _check_positive(**sizes: float) -> None:
    for name, value in sizes.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive finite length in metres, got {value!r}")


class Primitive(ABC):
    @abstractmethod
    def area(self) -> float: ...

    @abstractmethod
    def volume(self) -> float:
        """Volume of material, m^3 (walls only for shells)."""

    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """n area-uniform surface points and outward normals: (n, 3), (n, 3) float64."""

    @abstractmethod
    def mesh(self) -> trimesh.Trimesh: ...

    @abstractmethod
    def modes(self, mat: Material, count: int, max_hz: float) -> ModalModel: ...

    @abstractmethod
    def grain_axis(self) -> int:
        """Local axis along which textures such as wood grain run."""


@dataclass
class Box(Primitive):
    """Solid box centred at the origin; size (sx, sy, sz) in metres."""

    size: tuple[float, float, float]

    def __post_init__(self) -> None:
        _check_positive(**{f"size[{i}]": s for i, s in enumerate(self.size)})

    def area(self) -> float:
        sx, sy, sz = self.size
        return 2 * (sx * sy + sy * sz + sx * sz)

    def volume(self) -> float:
        return float(np.prod(self.size))

    def sample(self, n, rng):
        s = np.asarray(self.size, np.float64)
        face_area = np.array([s[1] * s[2], s[0] * s[2], s[0] * s[1]] * 2)
        face = rng.choice(6, size=n, p=face_area / face_area.sum())
        axis, sign = face % 3, np.where(face < 3, 1.0, -1.0)
        points = (rng.random((n, 3)) - 0.5) * s
        points[np.arange(n), axis] = sign * s[axis] / 2
        normals = np.zeros((n, 3))
        normals[np.arange(n), axis] = sign
        return points, normals

    def mesh(self):
        return trimesh.creation.box(extents=self.size)

    def grain_axis(self) -> int:
        return int(np.argmax(self.size))

    def modes(self, mat, count, max_hz):
        s = np.asarray(self.size, np.float64)
        order = np.argsort(s)  # thin, middle, long
        thin, mid, long_ = order
        if s[long_] > BAR_ASPECT * s[mid]:
            return self._bar_modes(mat, count, max_hz, long_, (thin, mid))
        return self._plate_modes(mat, count, max_hz, thin, (mid, long_))

    def _plate_modes(self, mat, count, max_hz, thin: int, plane: tuple[int, int]) -> ModalModel:
        s = np.asarray(self.size, np.float64)
        ia, ib = plane
        freqs, orders = modal.plate_modes(s[ia], s[ib], s[thin], mat, count, max_hz)

        def phi(points):
            return modal.plate_shape(points[:, ia] / s[ia] + 0.5, points[:, ib] / s[ib] + 0.5, orders)

        return ModalModel(freqs, lambda p, nrm: phi(p) * nrm[:, thin : thin + 1], phi)

    def _bar_modes(self, mat, count, max_hz, axis: int, bend_axes: tuple[int, int]) -> ModalModel:
        """Bending in both transverse directions; each family moves along its own axis."""
        s = np.asarray(self.size, np.float64)
        families = [(b, *modal.bar_modes(s[axis], s[b], mat, count, max_hz)) for b in bend_axes]
        freqs = np.concatenate([f for _, f, _ in families])
        order = np.argsort(freqs, kind="stable")[:count]

        def columns(points, weight):
            x = points[:, axis] / s[axis] + 0.5
            return np.concatenate([modal.bar_shape(x, beta) * weight(b) for b, _, beta in families], axis=1)[:, order]

        phi = lambda p: columns(p, lambda b: 1.0)  # noqa: E731
        return ModalModel(freqs[order], lambda p, nrm: columns(p, lambda b: nrm[:, b : b + 1]), phi)


@dataclass
class Tube(Primitive):
    """Thin cylindrical wall around +y from y = 0 to height; radius to the wall, metres."""

    radius: float
    height: float
    wall: float

    def __post_init__(self) -> None:
        _check_positive(radius=self.radius, height=self.height, wall=self.wall)

    def area(self) -> float:
        return 2 * np.pi * self.radius * self.height

    def volume(self) -> float:
        return self.area() * self.wall

    def sample(self, n, rng):
        theta = rng.random(n) * 2 * np.pi
        y = rng.random(n) * self.height
        normals = np.stack([np.cos(theta), np.zeros(n), np.sin(theta)], axis=1)
        points = normals * self.radius
        points[:, 1] = y
        return points, normals

    def mesh(self):
        # The open wall only, no caps: a ball can drop into a mug.
        m = trimesh.creation.cylinder(radius=self.radius, height=self.height, sections=24)
        m.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
        m.apply_translation([0, self.height / 2, 0])
        m.update_faces(np.abs(m.face_normals[:, 1]) < 0.5)
        m.remove_unreferenced_vertices()
        return m

    def grain_axis(self) -> int:
        return 1

    def modes(self, mat, count, max_hz):
        freqs, _ = modal.ring_modes(self.radius, self.wall, mat, count, max_hz)
        k = freqs.size

        def phi(points):
            return np.repeat(modal.ring_axial_profile(np.clip(points[:, 1] / self.height, 0, 1))[:, None], k, axis=1)

        def shape(points, normals):
            radial = points[:, [0, 2]] / np.maximum(np.linalg.norm(points[:, [0, 2]], axis=1, keepdims=True), 1e-12)
            return phi(points) * np.sum(normals[:, [0, 2]] * radial, axis=1, keepdims=True)

        return ModalModel(freqs, shape, phi)


@dataclass
class Disc(Primitive):
    """Solid disc around +y from y = 0 to thickness; vibrates as the square plate of equal area."""

    radius: float
    thickness: float

    def __post_init__(self) -> None:
        _check_positive(radius=self.radius, thickness=self.thickness)

    def area(self) -> float:
        return 2 * np.pi * self.radius**2 + 2 * np.pi * self.radius * self.thickness

    def volume(self) -> float:
        return np.pi * self.radius**2 * self.thickness

    def sample(self, n, rng):
        faces = np.pi * self.radius**2
        rim = 2 * np.pi * self.radius * self.thickness
        kind = rng.choice(3, size=n, p=np.array([faces, faces, rim]) / (2 * faces + rim))
        theta = rng.random(n) * 2 * np.pi
        r = np.where(kind < 2, self.radius * np.sqrt(rng.random(n)), self.radius)
        points = np.stack([r * np.cos(theta), np.where(kind == 0, self.thickness, 0.0), r * np.sin(theta)], axis=1)
        points[kind == 2, 1] = rng.random(int(np.sum(kind == 2))) * self.thickness
        normals = np.zeros((n, 3))
        normals[kind == 0, 1], normals[kind == 1, 1] = 1.0, -1.0
        normals[kind == 2] = np.stack([np.cos(theta), np.zeros(n), np.sin(theta)], axis=1)[kind == 2]
        return points, normals

    def mesh(self):
        m = trimesh.creation.cylinder(radius=self.radius, height=self.thickness, sections=32)
        m.apply_transform(trimesh.transformations.rotation_matrix(-np.pi / 2, [1, 0, 0]))
        m.apply_translation([0, self.thickness / 2, 0])
        return m

    def grain_axis(self) -> int:
        return 0

    def modes(self, mat, count, max_hz):
        side = self.radius * np.sqrt(np.pi)
        freqs, orders = modal.plate_modes(side, side, self.thickness, mat, count, max_hz)

        def phi(points):
            u = np.clip(points[:, 0] / side + 0.5, 0, 1)
            v = np.clip(points[:, 2] / side + 0.5, 0, 1)
            return modal.plate_shape(u, v, orders)

        return ModalModel(freqs, lambda p, nrm: phi(p) * nrm[:, 1:2], phi)
