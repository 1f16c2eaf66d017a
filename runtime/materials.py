"""Physical constants of the materials that strike and are struck.

Young's modulus, density and Poisson ratio are handbook values (M. F. Ashby,
*Materials Selection in Mechanical Design*, 4th ed., 2011, chart data; typical
grades). Rayleigh damping coefficients follow the ranges used in modal sound
synthesis (J. F. O'Brien, C. Shen, C. M. Gatchalian, *Synthesizing sounds from
rigid-body simulations*, SCA 2002; Z. Ren, H. Yeh, M. C. Lin, *Example-guided
physically based modal sound synthesis*, ACM TOG 2013): a mode at angular
frequency w decays at ``alpha / 2 + beta * w**2 / 2`` per second. They are
plausible presets, not measurements of one specimen; docs/world.md lists the
simplifications.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Material:
    """A homogeneous isotropic material.

    youngs_modulus: Pa; density: kg/m^3; poisson: dimensionless in [0, 0.5);
    rayleigh_alpha: 1/s (mass-proportional damping); rayleigh_beta: s
    (stiffness-proportional damping).
    """

    name: str
    youngs_modulus: float
    density: float
    poisson: float
    rayleigh_alpha: float
    rayleigh_beta: float

    def decay_rate(self, freq_hz: float) -> float:
        """Modal decay rate in 1/s of a mode at freq_hz under Rayleigh damping."""
        omega = 2.0 * 3.141592653589793 * freq_hz
        return 0.5 * self.rayleigh_alpha + 0.5 * self.rayleigh_beta * omega * omega


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("wood", 1.1e10, 700.0, 0.30, 60.0, 2.0e-6),
        Material("steel", 2.0e11, 7850.0, 0.29, 5.0, 3.0e-8),
        Material("aluminium", 7.0e10, 2700.0, 0.33, 4.0, 5.0e-8),
        Material("ceramic", 7.2e10, 2400.0, 0.19, 6.0, 1.0e-7),
        Material("glass", 6.2e10, 2500.0, 0.22, 1.0, 1.0e-7),
        Material("plastic", 2.4e9, 1100.0, 0.37, 30.0, 1.0e-6),
        Material("stone", 5.0e10, 2700.0, 0.25, 20.0, 5.0e-7),
        Material("cardboard", 1.5e9, 600.0, 0.30, 200.0, 5.0e-6),
        Material("rubber", 5.0e7, 1100.0, 0.45, 400.0, 1.0e-5),
    )
}


def material(name: str, field: str = "material") -> Material:
    """Looks a material up by name; unknown names raise ValueError naming ``field``."""
    try:
        return MATERIALS[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(MATERIALS))
        raise ValueError(f"{field}: unknown material {name!r} (known: {known})") from None
