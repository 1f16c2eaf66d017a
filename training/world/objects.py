"""Parametric everyday objects made of named parts, each part of one material.

An object is built in its own frame: y up, resting on y = 0, centred on the y axis.
Every builder draws plausible dimensions (metres) and materials from a generator, so a
seed fixes the object. Parts group subparts (the primitives that vibrate on their own):
a table's part "legs" has four leg subparts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from vaf.training.world.parts import Box, Disc, Primitive, Tube


@dataclass
class Pose:
    """Rigid transform: rotation (3, 3) then translation (3,), metres."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation

    def apply_direction(self, directions: np.ndarray) -> np.ndarray:
        return directions @ self.rotation.T

    def then(self, outer: Pose) -> Pose:
        """This pose followed by `outer`."""
        return Pose(outer.rotation @ self.rotation, outer.apply(self.translation))

    def matrix(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation, self.translation
        return m


def yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def at(x: float, y: float, z: float, rotation: np.ndarray | None = None) -> Pose:
    return Pose(np.eye(3) if rotation is None else rotation, np.array([x, y, z], np.float64))


@dataclass
class Subpart:
    name: str
    primitive: Primitive
    pose: Pose


@dataclass
class Part:
    name: str
    material: str
    subparts: list[Subpart]


@dataclass
class Support:
    """A flat surface other objects may stand on, in the object's frame: centre (x, y, z) and
    half extents (hx, hz) in metres; clearance: free height above it (a shelf board's gap)."""

    centre: tuple[float, float, float]
    half: tuple[float, float]
    clearance: float = float("inf")


@dataclass
class ObjectSpec:
    """category: e.g. "mug"; footprint: radius in metres of the disc it occupies on the floor;
    height: metres; supports: surfaces other objects may stand on."""

    category: str
    parts: list[Part]
    footprint: float
    height: float
    supports: list[Support] = field(default_factory=list)


def _pick(rng: np.random.Generator, options: dict[str, float]) -> str:
    names = list(options)
    p = np.array([options[n] for n in names])
    return str(rng.choice(names, p=p / p.sum()))


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _vessel(rng, category, radius, height, wall, materials) -> ObjectSpec:
    """A cylindrical wall on a bottom disc: mugs, bowls, vases, pots."""
    mat = _pick(rng, materials)
    body = Part("body", mat, [Subpart("wall", Tube(radius, height, wall), at(0, 0, 0)),
                              Subpart("bottom", Disc(radius, wall * 1.5), at(0, 0, 0))])
    return ObjectSpec(category, [body], radius * 1.05, height)


def mug(rng):
    r, h = _u(rng, 0.035, 0.05), _u(rng, 0.08, 0.12)
    spec = _vessel(rng, "mug", r, h, _u(rng, 0.003, 0.005), {"ceramic": 0.7, "steel": 0.15, "plastic": 0.15})
    handle = Box((0.012, h * 0.6, 0.01))
    spec.parts.append(Part("handle", spec.parts[0].material, [Subpart("grip", handle, at(r + 0.012, h * 0.5, 0))]))
    spec.footprint = r + 0.025
    return spec


def bowl(rng):
    r = _u(rng, 0.06, 0.11)
    return _vessel(rng, "bowl", r, _u(rng, 0.45, 0.7) * r, _u(rng, 0.003, 0.006),
                   {"ceramic": 0.5, "wood": 0.2, "steel": 0.15, "plastic": 0.15})


def vase(rng):
    r = _u(rng, 0.04, 0.08)
    return _vessel(rng, "vase", r, _u(rng, 0.18, 0.35), _u(rng, 0.003, 0.006), {"ceramic": 0.6, "glass": 0.4})


def pot(rng):
    r = _u(rng, 0.08, 0.13)
    spec = _vessel(rng, "pot", r, _u(rng, 0.1, 0.18), _u(rng, 0.0015, 0.003), {"steel": 0.5, "aluminium": 0.4, "ceramic": 0.1})
    h = spec.height
    grips = [Subpart(f"handle_{i}", Box((0.04, 0.012, 0.02)), at(s * (r + 0.02), h * 0.85, 0)) for i, s in enumerate((-1, 1))]
    spec.parts.append(Part("handles", spec.parts[0].material, grips))
    spec.footprint = r + 0.04
    return spec


def bell(rng):
    r = _u(rng, 0.04, 0.09)
    spec = _vessel(rng, "bell", r, _u(rng, 1.0, 1.4) * r, _u(rng, 0.004, 0.008), {"steel": 0.6, "aluminium": 0.2, "ceramic": 0.2})
    spec.category = "bell"
    return spec


def bottle(rng):
    r, h = _u(rng, 0.03, 0.045), _u(rng, 0.16, 0.25)
    mat = _pick(rng, {"glass": 0.6, "plastic": 0.3, "aluminium": 0.1})
    wall = _u(rng, 0.002, 0.004) if mat == "glass" else _u(rng, 0.0005, 0.0012)
    body = Part("body", mat, [Subpart("wall", Tube(r, h, wall), at(0, 0, 0)), Subpart("bottom", Disc(r, wall * 2), at(0, 0, 0))])
    neck_r, neck_h = r * 0.35, _u(rng, 0.05, 0.08)
    neck = Part("neck", mat, [Subpart("neck", Tube(neck_r, neck_h, wall), at(0, h, 0))])
    return ObjectSpec("bottle", [body, neck], r * 1.05, h + neck_h)


def plate(rng):
    r = _u(rng, 0.09, 0.14)
    mat = _pick(rng, {"ceramic": 0.7, "plastic": 0.2, "wood": 0.1})
    return ObjectSpec("plate", [Part("body", mat, [Subpart("dish", Disc(r, _u(rng, 0.005, 0.009)), at(0, 0, 0))])], r, 0.01)


def pan(rng):
    r = _u(rng, 0.1, 0.14)
    mat = _pick(rng, {"steel": 0.5, "aluminium": 0.5})
    t = _u(rng, 0.002, 0.004)
    body = Part("body", mat, [Subpart("base", Disc(r, t), at(0, 0, 0)), Subpart("rim", Tube(r, _u(rng, 0.03, 0.05), t), at(0, 0, 0))])
    length = _u(rng, 0.15, 0.2)
    handle = Part("handle", _pick(rng, {mat: 0.6, "wood": 0.2, "plastic": 0.2}),
                  [Subpart("grip", Box((length, 0.015, 0.025)), at(r + length / 2, 0.03, 0))])
    return ObjectSpec("pan", [body, handle], r + length / 2, 0.05)


def box(rng):
    sx, sy, sz = _u(rng, 0.12, 0.3), _u(rng, 0.08, 0.2), _u(rng, 0.1, 0.25)
    mat = _pick(rng, {"cardboard": 0.6, "wood": 0.25, "plastic": 0.15})
    t = {"cardboard": 0.004, "wood": 0.008, "plastic": 0.003}[mat]
    walls = [
        Subpart("front", Box((sx, sy, t)), at(0, sy / 2, sz / 2 - t / 2)),
        Subpart("back", Box((sx, sy, t)), at(0, sy / 2, -sz / 2 + t / 2)),
        Subpart("left", Box((t, sy, sz - 2 * t)), at(-sx / 2 + t / 2, sy / 2, 0)),
        Subpart("right", Box((t, sy, sz - 2 * t)), at(sx / 2 - t / 2, sy / 2, 0)),
    ]
    return ObjectSpec("box", [
        Part("walls", mat, walls),
        Part("bottom", mat, [Subpart("bottom", Box((sx, t, sz)), at(0, t / 2, 0))]),
        Part("lid", mat, [Subpart("lid", Box((sx, t, sz)), at(0, sy + t / 2, 0))]),
    ], 0.5 * np.hypot(sx, sz), sy + t, supports=[Support((0.0, sy + t, 0.0), (sx / 2, sz / 2))])


def _legs(rng, sx, sz, height, thick, inset) -> list[Subpart]:
    return [Subpart(f"leg_{i}", Box((thick, height, thick)), at(a * (sx / 2 - inset), height / 2, b * (sz / 2 - inset)))
            for i, (a, b) in enumerate(((-1, -1), (1, -1), (-1, 1), (1, 1)))]


def table(rng):
    sx, sz, h = _u(rng, 0.8, 1.4), _u(rng, 0.6, 0.9), _u(rng, 0.7, 0.78)
    t = _u(rng, 0.02, 0.035)
    top_mat = _pick(rng, {"wood": 0.7, "glass": 0.15, "stone": 0.15})
    legs_mat = _pick(rng, {"wood": 0.6, "steel": 0.4}) if top_mat == "wood" else "steel"
    return ObjectSpec("table", [
        Part("top", top_mat, [Subpart("top", Box((sx, t, sz)), at(0, h - t / 2, 0))]),
        Part("legs", legs_mat, _legs(rng, sx, sz, h - t, _u(rng, 0.04, 0.06), 0.06)),
    ], 0.5 * np.hypot(sx, sz), h, supports=[Support((0.0, h, 0.0), (sx / 2, sz / 2))])


def chair(rng):
    s, h = _u(rng, 0.4, 0.48), _u(rng, 0.42, 0.48)
    mat = _pick(rng, {"wood": 0.6, "plastic": 0.25, "steel": 0.15})
    t = 0.02 if mat != "steel" else 0.004
    back_h = _u(rng, 0.35, 0.5)
    return ObjectSpec("chair", [
        Part("seat", mat, [Subpart("seat", Box((s, t, s)), at(0, h - t / 2, 0))]),
        Part("back", mat, [Subpart("back", Box((s, back_h, t)), at(0, h + back_h / 2, -s / 2 + t / 2))]),
        Part("legs", "steel" if mat == "steel" else mat, _legs(rng, s, s, h - t, 0.035, 0.03)),
    ], 0.5 * np.hypot(s, s), h + back_h)


def shelf(rng):
    w, d, h = _u(rng, 0.6, 1.0), _u(rng, 0.25, 0.35), _u(rng, 0.9, 1.5)
    mat = _pick(rng, {"wood": 0.8, "steel": 0.2})
    t = 0.018 if mat == "wood" else 0.002
    heights = np.linspace(0.05, h - t, 4)
    boards = [Subpart(f"board_{i}", Box((w - 2 * t, t, d)), at(0, y, 0)) for i, y in enumerate(heights)]
    sides = [Subpart(f"side_{i}", Box((t, h, d)), at(s * (w / 2 - t / 2), h / 2, 0)) for i, s in enumerate((-1, 1))]
    gap = float(heights[1] - heights[0]) - t
    supports = [Support((0.0, float(y) + t / 2, 0.0), (w / 2 - t, d / 2), gap if i < 3 else float("inf")) for i, y in enumerate(heights)]
    return ObjectSpec("shelf", [Part("boards", mat, boards), Part("sides", mat, sides)], 0.5 * np.hypot(w, d), h, supports)


def lamp(rng):
    base_r, pole_h = _u(rng, 0.07, 0.1), _u(rng, 0.3, 0.5)
    shade_r = _u(rng, 0.1, 0.15)
    return ObjectSpec("lamp", [
        Part("base", _pick(rng, {"steel": 0.5, "ceramic": 0.3, "stone": 0.2}), [Subpart("base", Disc(base_r, 0.02), at(0, 0, 0))]),
        Part("pole", _pick(rng, {"steel": 0.6, "aluminium": 0.4}), [Subpart("pole", Box((0.015, pole_h, 0.015)), at(0, 0.02 + pole_h / 2, 0))]),
        Part("shade", _pick(rng, {"plastic": 0.4, "aluminium": 0.3, "glass": 0.3}),
             [Subpart("shade", Tube(shade_r, _u(rng, 0.12, 0.2), 0.0015), at(0, 0.02 + pole_h * 0.8, 0))]),
    ], shade_r, 0.02 + pole_h * 0.8 + 0.2)


def bar(rng):
    """A xylophone-style key on two felt rails."""
    length = _u(rng, 0.2, 0.4)
    mat = _pick(rng, {"wood": 0.5, "aluminium": 0.5})
    key = Box((length, _u(rng, 0.015, 0.025), _u(rng, 0.035, 0.05)))
    return ObjectSpec("bar", [Part("key", mat, [Subpart("key", key, at(0, key.size[1] / 2, 0))])], length / 2, key.size[1])


CATEGORIES: dict[str, Callable[[np.random.Generator], ObjectSpec]] = {
    f.__name__: f for f in (mug, bowl, vase, pot, bell, bottle, plate, pan, box, table, chair, shelf, lamp, bar)
}
# Small things that stand on tables; furniture stands on the floor.
TABLETOP = ("mug", "bowl", "vase", "pot", "bell", "bottle", "plate", "pan", "box", "lamp", "bar")
FURNITURE = ("table", "chair", "shelf")
