"""Pinhole cameras in the COLMAP convention: world -> camera is x_c = R x_w + t; the camera
looks down +z with x right and y down; pixel centres are at integer + 0.5."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PinholeCamera:
    """rotation: (3, 3) world-to-camera; translation: (3,) metres; focal lengths and principal point in pixels."""

    rotation: np.ndarray
    translation: np.ndarray
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def centre(self) -> np.ndarray:
        """Camera position in world coordinates (metres)."""
        return -self.rotation.T @ self.translation

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world -> (N, 3) camera coordinates."""
        return points @ self.rotation.T + self.translation

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) world points -> (N, 2) pixel coordinates (u right, v down) and (N,) depth in metres."""
        c = self.to_camera(points)
        z = c[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.fx * c[:, 0] / z + self.cx, self.fy * c[:, 1] / z + self.cy], axis=1)
        return uv, z

    def unproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """(N, 2) pixels and (N,) depths -> (N, 3) world points."""
        c = np.stack([(uv[:, 0] - self.cx) / self.fx * depth, (uv[:, 1] - self.cy) / self.fy * depth, depth], axis=1)
        return (c - self.translation) @ self.rotation


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray, fov_deg: float, width: int, height: int) -> PinholeCamera:
    """A camera at eye looking at target; up: the world's up direction; fov_deg: horizontal field of view."""
    eye, target, up = (np.asarray(v, np.float64) for v in (eye, target, up))
    forward = target - eye
    if np.linalg.norm(forward) < 1e-9:
        raise ValueError("eye and target must differ")
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    if np.linalg.norm(right) < 1e-9:
        raise ValueError("the view direction must not be parallel to up")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])  # rows: camera axes in world coordinates
    f = 0.5 * width / np.tan(np.radians(fov_deg) / 2)
    return PinholeCamera(rotation, -rotation @ eye, f, f, width / 2, height / 2, width, height)


def orbit(target: np.ndarray, radius: float, heights: np.ndarray, count: int, fov_deg: float, size: int,
          rng: np.random.Generator) -> list[PinholeCamera]:
    """count cameras around target (y up) at the given radius, heights drawn from `heights` (lo, hi), metres."""
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False) + rng.uniform(0, 2 * np.pi)
    cams = []
    for a in angles:
        eye = target + np.array([radius * np.cos(a), rng.uniform(*heights), radius * np.sin(a)])
        cams.append(look_at(eye, target + rng.normal(0, 0.05, 3), np.array([0.0, 1.0, 0.0]), fov_deg, size, size))
    return cams


def around_objects(segments, count: int, size: int, rng: np.random.Generator, fov_deg: float = 60.0) -> list[PinholeCamera]:
    """count cameras orbiting a bundle's objects (y up): aimed at the mean object centre, far enough to see them all."""
    objects = [s for s in segments if s.level == "object" and s.label != "floor"] or [s for s in segments if s.level == "object"]
    centres = np.array([s.centroid for s in objects], np.float64)
    target = centres.mean(axis=0)
    spread = float(np.max(np.linalg.norm(centres[:, [0, 2]] - target[[0, 2]], axis=1)))
    return orbit(target, max(1.2, spread + 1.0), (target[1] + 0.5, target[1] + 1.5), count, fov_deg, size, rng)
