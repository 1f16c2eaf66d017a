"""Analytic modal models of thin plates, bars and cylindrical shells.

Each model gives natural frequencies from geometry and material, and mode shapes on
normalised coordinates. Sources (classical thin-structure theory):

- Plate (Kirchhoff, simply supported rectangle a x b, thickness h): f_mn = (pi / 2)
  sqrt(D / (rho h)) ((m / a)^2 + (n / b)^2), D = E h^3 / (12 (1 - nu^2)); shape
  sin(m pi u) sin(n pi v). Leissa, *Vibration of Plates*, NASA SP-160, 1969, ch. 4.
- Bar (Euler-Bernoulli, free-free, length L, bending thickness t): f_n = (beta_n L)^2 /
  (2 pi L^2) * t * sqrt(E / (12 rho)); beta_n L = 4.7300, 7.8532, 10.9956, ... Blevins,
  *Formulas for Natural Frequency and Mode Shape*, 1979, table 8-1.
- Ring/shell (inextensional bending of a thin cylinder of radius R, wall h): f_n =
  h / (2 pi R^2) sqrt(E / (12 rho (1 - nu^2))) n (n^2 - 1) / sqrt(n^2 + 1), n = 2, 3, ...
  Soedel, *Vibrations of Shells and Plates*, 3rd ed., 2004, sec. 5.

All three scale as thickness / length^2 and as sqrt(E / rho): the scaling laws the tests
check. Damping follows Rayleigh: decay = alpha / 2 + beta w^2 / 2 (vaf.runtime.materials).
"""

from __future__ import annotations

import numpy as np

from vaf.runtime.materials import Material

# Roots of cos(x) cosh(x) = 1 (free-free beam), then the asymptote (2n + 1) pi / 2.
_BEAM_ROOTS = np.array([4.730040745, 7.853204624, 10.99560784, 14.13716549, 17.27875966, 20.42035225])
MAX_BAR_MODES = 12  # past this, cosh(beta x) cancellation costs digits


def plate_modes(a: float, b: float, h: float, mat: Material, count: int, max_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowest `count` modes below max_hz of a simply supported plate a x b x h (metres).

    Returns freqs (K,) Hz ascending and orders (K, 2) int (m, n).
    """
    d = mat.youngs_modulus * h**3 / (12.0 * (1.0 - mat.poisson**2))
    c = 0.5 * np.pi * np.sqrt(d / (mat.density * h))
    m, n = np.meshgrid(np.arange(1, 41), np.arange(1, 41), indexing="ij")
    f = c * ((m / a) ** 2 + (n / b) ** 2)
    order = np.argsort(f, axis=None, kind="stable")
    f, m, n = f.ravel()[order], m.ravel()[order], n.ravel()[order]
    keep = f < max_hz
    return f[keep][:count], np.stack([m[keep], n[keep]], axis=1)[:count]


def plate_shape(u: np.ndarray, v: np.ndarray, orders: np.ndarray) -> np.ndarray:
    """Mode shapes at normalised (u, v) in [0, 1]^2: (P,), (P,), (K, 2) -> (P, K)."""
    return np.sin(np.pi * u[:, None] * orders[None, :, 0]) * np.sin(np.pi * v[:, None] * orders[None, :, 1])


def _beam_beta(count: int) -> np.ndarray:
    n = np.arange(count)
    return np.where(n < _BEAM_ROOTS.size, _BEAM_ROOTS[np.minimum(n, _BEAM_ROOTS.size - 1)], (2 * n + 3) * np.pi / 2)


def bar_modes(length: float, thickness: float, mat: Material, count: int, max_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Free-free bending modes of a bar: freqs (K,) Hz and their beta*L values (K,)."""
    beta = _beam_beta(min(count, MAX_BAR_MODES))
    f = beta**2 / (2 * np.pi * length**2) * thickness * np.sqrt(mat.youngs_modulus / (12.0 * mat.density))
    keep = f < max_hz
    return f[keep], beta[keep]


def bar_shape(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Free-free beam shapes at normalised x in [0, 1]: (P,), (K,) -> (P, K), unit mean square."""
    bx = x[:, None] * beta[None, :]
    sigma = (np.cosh(beta) - np.cos(beta)) / (np.sinh(beta) - np.sin(beta))
    phi = np.cosh(bx) + np.cos(bx) - sigma * (np.sinh(bx) + np.sin(bx))
    # The exact mean square of each shape is 1 over [0, 1] when the ends are free
    # (Blevins' normalisation); return it scaled so that holds numerically too.
    grid = np.linspace(0.0, 1.0, 2001)[:, None] * beta[None, :]
    ref = np.cosh(grid) + np.cos(grid) - sigma * (np.sinh(grid) + np.sin(grid))
    return phi / np.sqrt(np.mean(ref**2, axis=0))


def ring_modes(radius: float, wall: float, mat: Material, count: int, max_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Inextensional ring modes of a cylindrical shell: freqs (K,) Hz and circumferential orders n (K,)."""
    n = np.arange(2, 2 + count, dtype=np.float64)
    c = wall / (2 * np.pi * radius**2) * np.sqrt(mat.youngs_modulus / (12.0 * mat.density * (1.0 - mat.poisson**2)))
    f = c * n * (n * n - 1) / np.sqrt(n * n + 1)
    keep = f < max_hz
    return f[keep], n[keep]


def ring_axial_profile(z: np.ndarray) -> np.ndarray:
    """Radial amplitude along a shell open at the top, z in [0, 1] from the closed base: the rim moves most."""
    return 0.25 + 0.75 * z
