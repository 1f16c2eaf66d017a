"""Random scenes of everyday objects, with exact surfaces, three-level labels and acoustics.

A scene is a floor plus furniture and small objects standing on the floor, on tables,
shelves and boxes. Every vibrating primitive (a subpart) gets segment ids at three levels
(subpart, part, object: the multi-level segments of Visual Acoustic Fields, section 3.2)
and a modal model from its geometry and material.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from vaf.runtime.materials import material
from vaf.training.world.objects import CATEGORIES, TABLETOP, ObjectSpec, Part, Pose, Subpart, Support, at, yaw
from vaf.training.world.parts import Box

# Layouts: which furniture stands on the floor and which small objects may appear.
LAYOUTS: dict[str, dict] = {
    "tabletop": {"furniture": ["table"], "small": TABLETOP},
    "kitchen": {"furniture": ["table"], "small": ("mug", "bowl", "pot", "pan", "plate", "bottle", "box", "vase")},
    "office": {"furniture": ["table", "chair"], "small": ("mug", "lamp", "box", "bottle", "bar", "vase")},
    "shelf_wall": {"furniture": ["shelf", "shelf"], "small": ("vase", "bowl", "box", "bottle", "bell", "mug", "plate")},
    "floor": {"furniture": [], "small": ("bar", "bowl", "bell", "pot", "box", "bottle", "pan")},
}
FLOOR_HALF = 2.0  # metres: the floor is 4 m x 4 m, its top at y = 0


@dataclass
class PlacedObject:
    spec: ObjectSpec
    pose: Pose  # object frame -> world
    label: str


@dataclass
class Scene:
    """seed and layout fix the scene; objects[0] is the floor."""

    seed: int
    layout: str
    objects: list[PlacedObject] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"world_{self.layout}_{self.seed}"


def _floor(rng: np.random.Generator) -> ObjectSpec:
    mat = str(rng.choice(["wood", "stone"]))
    slab = Subpart("slab", Box((2 * FLOOR_HALF, 0.04, 2 * FLOOR_HALF)), at(0, -0.02, 0))
    return ObjectSpec("floor", [Part("floor", mat, [slab])], 0.0, 0.0, [Support((0.0, 0.0, 0.0), (FLOOR_HALF, FLOOR_HALF))])


def _place_on(support: Support, owner: Pose, spec: ObjectSpec, taken: list[tuple[np.ndarray, float]],
              rng: np.random.Generator, tries: int = 40) -> Pose | None:
    """A pose for spec standing on support without overlapping taken footprints (world xz, radius)."""
    hx, hz = support.half[0] - spec.footprint, support.half[1] - spec.footprint
    if hx <= 0 or hz <= 0 or spec.height > support.clearance:
        return None
    for _ in range(tries):
        local = np.array([rng.uniform(-hx, hx), 0.0, rng.uniform(-hz, hz)]) + np.asarray(support.centre)
        centre = owner.apply(local[None])[0]
        if all(np.hypot(*(centre[[0, 2]] - c)) > spec.footprint + r + 0.01 for c, r in taken):
            taken.append((centre[[0, 2]], spec.footprint))
            return Pose(owner.rotation @ yaw(rng.uniform(0, 2 * np.pi)), centre)
    return None


def generate_scene(seed: int, layout: str | None = None, max_objects: int = 15) -> Scene:
    """A random arrangement of 4 to max_objects objects (floor not counted)."""
    if layout is not None and layout not in LAYOUTS:
        raise ValueError(f"layout: unknown layout {layout!r} (known: {', '.join(LAYOUTS)})")
    if not 4 <= max_objects <= 40:
        raise ValueError(f"max_objects must be within 4..40, got {max_objects}")
    rng = np.random.default_rng(seed)
    layout = layout or str(rng.choice(list(LAYOUTS)))
    plan = LAYOUTS[layout]
    floor = PlacedObject(_floor(rng), Pose(), "floor")
    scene = Scene(seed, layout, [floor])
    taken: list[tuple[np.ndarray, float]] = []  # footprints on the floor
    occupied: dict[int, list] = {}  # footprints on each raised support, by id()
    # Furniture near the middle of the floor, then small objects on any support.
    near_middle = Support((0.0, 0.0, 0.0), (1.5, 1.5))
    for name in plan["furniture"]:
        spec = CATEGORIES[name](rng)
        pose = _place_on(near_middle, floor.pose, spec, taken, rng)
        if pose is not None:
            scene.objects.append(PlacedObject(spec, pose, name))
    target = int(rng.integers(4, max_objects + 1))
    attempts = 0
    while len(scene.objects) - 1 < target and attempts < 200:
        attempts += 1
        spec = CATEGORIES[str(rng.choice(plan["small"]))](rng)
        # The floor counts as one host among the furniture tops; on it, stay near the middle.
        hosts = [(s, o.pose) for o in scene.objects[1:] for s in o.spec.supports] + [(near_middle, floor.pose)]
        support, owner = hosts[int(rng.integers(len(hosts)))]
        on_floor = support is near_middle
        pose = _place_on(support, owner, spec, taken if on_floor else occupied.setdefault(id(support), []), rng)
        if pose is not None:
            scene.objects.append(PlacedObject(spec, pose, spec.category))
    return scene


@dataclass
class SceneUnit:
    """One vibrating subpart placed in the world, with its segment ids."""

    subpart: Subpart
    part: Part
    obj: PlacedObject
    pose: Pose  # subpart frame -> world
    ids: tuple[int, int, int]  # (subpart, part, object) segment ids

    @property
    def material(self) -> str:
        return self.part.material


def scene_units(scene: Scene) -> tuple[list[SceneUnit], list[dict]]:
    """Flattens a scene into units and segment records (id, level, parent, label, material).

    Ids are unique across levels: objects, parts and subparts are numbered in one sequence.
    """
    units, segments, next_id = [], [], 0
    for obj in scene.objects:
        obj_id, next_id = next_id, next_id + 1
        segments.append({"id": obj_id, "level": "object", "parent": None, "label": obj.label, "material": None})
        for part in obj.spec.parts:
            material(part.material, f"{obj.label}.{part.name}.material")
            part_id, next_id = next_id, next_id + 1
            segments.append({"id": part_id, "level": "part", "parent": obj_id, "label": f"{obj.label}/{part.name}",
                             "material": part.material})
            for sub in part.subparts:
                sub_id, next_id = next_id, next_id + 1
                segments.append({"id": sub_id, "level": "subpart", "parent": part_id,
                                 "label": f"{obj.label}/{part.name}/{sub.name}", "material": part.material})
                units.append(SceneUnit(sub, part, obj, sub.pose.then(obj.pose), (sub_id, part_id, obj_id)))
    return units, segments
