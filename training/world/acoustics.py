"""Ground-truth impact acoustics of a scene unit: modes, damping, gains at surface points.

For a unit impulse J along the surface normal at point p, mode k's surface velocity is
J phi_k(p) / M_k, with phi_k the mode shape projected on the normal and M_k = m mean(phi_k^2)
its modal mass (m the unit's mass). The sound it radiates is taken as that of a baffled
piston of the unit's area A: pressure ~ v A min(1, k a), a = sqrt(A / pi), k = 2 pi f / c
(Kinsler et al., *Fundamentals of Acoustics*, 4th ed., sec. 7.4; below ka = 1 radiation
grows with frequency, above it saturates). So a large plate is not inaudible just because it
is heavy: v A ~ J / (rho h). GAIN_SCALE maps the volume velocity to full-scale audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vaf.runtime.materials import material
from vaf.runtime.synthesis import Excitation, ImpactRecipe
from vaf.training.world.parts import ModalModel
from vaf.training.world.scene import SceneUnit

GAIN_SCALE = 5.0  # full-scale amplitude per m^3/s of radiating volume velocity
SPEED_OF_SOUND = 343.0  # m/s, air at 20 C
MIN_SAMPLES_FOR_MASS = 512


@dataclass
class UnitAcoustics:
    """freq_hz, decay_per_s: (K,) float32; noise: (centre Hz, bandwidth Hz, level, decay 1/s)."""

    freq_hz: np.ndarray
    decay_per_s: np.ndarray
    noise: tuple[float, float, float, float]
    modal_mass: np.ndarray  # (K,) kg
    radiation: np.ndarray  # (K,) GAIN_SCALE * A * min(1, k a), m^2
    unit: SceneUnit
    model: ModalModel

    def gains(self, world_points: np.ndarray, world_normals: np.ndarray) -> np.ndarray:
        """Mode gains per N*s at surface points: (P, 3), (P, 3) world -> (P, K) float32."""
        local = self.unit.pose
        inv = local.rotation.T
        p = (world_points - local.translation) @ inv.T
        n = world_normals @ inv.T
        return (self.radiation[None, :] * self.model.shape(p, n) / self.modal_mass[None, :]).astype(np.float32)

    def recipe(self, world_point: np.ndarray, world_normal: np.ndarray) -> ImpactRecipe:
        g = self.gains(world_point[None], world_normal[None])[0]
        return ImpactRecipe(self.freq_hz, self.decay_per_s, g, *self.noise)

    def excitation(self, impulse: float, speed: float = 1.0, striker: str = "rubber", radius: float = 0.02) -> Excitation:
        return Excitation.from_materials(impulse, speed, striker, self.unit.material, radius)


def unit_acoustics(unit: SceneUnit, max_modes: int, rng: np.random.Generator, max_hz: float = 20000.0) -> UnitAcoustics:
    """Modal model of one unit: frequencies from geometry and material, Rayleigh damping, modal masses."""
    mat = material(unit.material)
    prim = unit.subpart.primitive
    model = prim.modes(mat, max_modes, max_hz)
    points, _ = prim.sample(MIN_SAMPLES_FOR_MASS, rng)
    mass = mat.density * prim.volume()
    modal_mass = mass * np.maximum(np.mean(model.phi(points) ** 2, axis=0), 1e-6)
    freqs = model.freqs.astype(np.float32)
    decay = np.array([mat.decay_rate(f) for f in freqs], np.float32)
    area = prim.area() / 2  # one side radiates towards the listener
    ka = 2 * np.pi * model.freqs / SPEED_OF_SOUND * np.sqrt(area / np.pi)
    radiation = GAIN_SCALE * area * np.minimum(1.0, ka)
    # Contact transient: a noise band brighter for stiffer materials, as loud as a mode of
    # typical amplitude at the band centre.
    centre = float(np.clip(2500.0 * (mat.youngs_modulus / 1e10) ** 0.25, 800.0, 12000.0))
    centre_ka = 2 * np.pi * centre / SPEED_OF_SOUND * np.sqrt(area / np.pi)
    level = float(0.3 * GAIN_SCALE * area * min(1.0, centre_ka) / np.sqrt(np.mean(modal_mass**2))) if freqs.size else 0.0
    noise = (centre, centre, level, 150.0 + 0.3 * centre)
    return UnitAcoustics(freqs, decay, noise, modal_mass, radiation, unit, model)
