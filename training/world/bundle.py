"""Turns a sounding-world scene into a runtime scene bundle: splats, labels, acoustics, mesh, preview."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import trimesh

from vaf.runtime.gaussians import GaussianCloud, quaternion_from_z
from vaf.runtime.scene_bundle import SceneBundle, SurfaceAcoustics, measure_segments
from vaf.training.world.acoustics import unit_acoustics
from vaf.training.world.appearance import part_colours
from vaf.training.world.preview import scene_preview
from vaf.training.world.scene import Scene, SceneUnit, scene_units


@dataclass
class BundleConfig:
    """gaussians: total splat count; acoustic_points: surface samples carrying mode gains;
    max_modes: modes per unit (K); min_per_unit: samples of each kind on the smallest unit."""

    gaussians: int = 50_000
    acoustic_points: int = 12_000
    max_modes: int = 32
    min_per_unit: int = 48

    def __post_init__(self) -> None:
        for name in ("gaussians", "acoustic_points", "max_modes", "min_per_unit"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")


def _allocate(total: int, areas: np.ndarray, minimum: int) -> np.ndarray:
    # Square-root weighting: a 16 m^2 floor does not starve a 0.03 m^2 mug.
    weights = np.sqrt(areas)
    return np.maximum(minimum, np.round(total * weights / weights.sum())).astype(int)


def collision_mesh(units: list[SceneUnit]) -> bytes:
    """A .glb with one node per subpart named seg_<id>, in world coordinates (metres, y up)."""
    scene = trimesh.Scene()
    for u in units:
        mesh = u.subpart.primitive.mesh()
        mesh.apply_transform(u.pose.matrix())
        name = f"seg_{u.ids[0]}"
        scene.add_geometry(mesh, node_name=name, geom_name=name)
    return scene.export(file_type="glb")


def build_bundle(scene: Scene, config: BundleConfig | None = None) -> SceneBundle:
    """Samples splats and acoustic points on every unit and assembles the bundle (not yet saved)."""
    config = config or BundleConfig()
    units, records = scene_units(scene)
    rng = np.random.default_rng([scene.seed, 1])
    areas = np.array([u.subpart.primitive.area() for u in units])
    n_splats = _allocate(config.gaussians, areas, config.min_per_unit)
    n_acoustic = _allocate(config.acoustic_points, areas, config.min_per_unit)
    k = config.max_modes

    splat_cols: dict[str, list] = {key: [] for key in ("pos", "nrm", "rgb", "opacity", "sigma", "labels")}
    ac_cols: dict[str, list] = {key: [] for key in ("pos", "nrm", "radius", "unit", "gains")}
    unit_freq, unit_decay, unit_noise = np.zeros((len(units), k), np.float32), np.zeros((len(units), k), np.float32), []
    for i, u in enumerate(units):
        prim = u.subpart.primitive
        local, normals = prim.sample(int(n_splats[i]), rng)
        rgb, opacity = part_colours(u.material, local, prim.grain_axis(), np.random.default_rng([scene.seed, 2, u.ids[1]]))
        splat_cols["pos"].append(u.pose.apply(local))
        splat_cols["nrm"].append(u.pose.apply_direction(normals))
        splat_cols["rgb"].append(rgb)
        splat_cols["opacity"].append(np.full(local.shape[0], opacity))
        splat_cols["sigma"].append(np.full(local.shape[0], 0.5 * np.sqrt(prim.area() / local.shape[0])))
        splat_cols["labels"].append(np.tile(np.array(u.ids, np.int32), (local.shape[0], 1)))

        acoustics = unit_acoustics(u, k, rng)
        a_local, a_normals = prim.sample(int(n_acoustic[i]), rng)
        a_pos, a_nrm = u.pose.apply(a_local), u.pose.apply_direction(a_normals)
        gains = np.zeros((a_pos.shape[0], k), np.float32)
        m = acoustics.freq_hz.size
        gains[:, :m] = acoustics.gains(a_pos, a_nrm)
        unit_freq[i, :m], unit_decay[i, :m] = acoustics.freq_hz, acoustics.decay_per_s
        unit_noise.append(acoustics.noise)
        # Random samples leave gaps: each stands for a disc twice the mean area per sample.
        radius = np.full(a_pos.shape[0], 2.0 * np.sqrt(prim.area() / (np.pi * a_pos.shape[0])))
        for key, value in (("pos", a_pos), ("nrm", a_nrm), ("radius", radius), ("unit", np.full(a_pos.shape[0], i)),
                           ("gains", gains)):
            ac_cols[key].append(value)

    cat = {key: np.concatenate(v) for key, v in splat_cols.items()}
    sigma = cat["sigma"][:, None]
    cloud = GaussianCloud(
        positions=cat["pos"].astype(np.float32),
        rgb=cat["rgb"].astype(np.float32),
        sh_rest=np.zeros((cat["pos"].shape[0], 3, 0), np.float32),
        opacity=cat["opacity"].astype(np.float32),
        scales=np.concatenate([sigma, sigma, np.maximum(0.1 * sigma, 2e-4)], axis=1).astype(np.float32),
        rotations=quaternion_from_z(cat["nrm"]),
    )
    labels = cat["labels"]
    acoustics = SurfaceAcoustics(
        points=np.concatenate(ac_cols["pos"]).astype(np.float32),
        normals=np.concatenate(ac_cols["nrm"]).astype(np.float32),
        patch_radius=np.concatenate(ac_cols["radius"]).astype(np.float32),
        unit=np.concatenate(ac_cols["unit"]).astype(np.int32),
        gains=np.concatenate(ac_cols["gains"]),
        unit_segment=np.array([u.ids[0] for u in units], np.int32),
        freq_hz=unit_freq,
        decay_per_s=unit_decay,
        noise=np.array(unit_noise, np.float32),
        unit_material=[u.material for u in units],
    )
    bundle = SceneBundle(
        name=scene.name,
        gaussians=cloud,
        labels=labels,
        segments=measure_segments(records, cloud.positions, labels),
        acoustics=acoustics,
        collision_mesh=collision_mesh(units),
        source={"generator": "vaf.training.world", "seed": scene.seed, "layout": scene.layout, "config": asdict(config)},
    )
    bundle.preview_png = scene_preview(bundle)
    return bundle
