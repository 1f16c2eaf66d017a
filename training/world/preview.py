"""Preview images so a person can see what was generated: top views and spectrograms."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw
from scipy.signal import spectrogram

from vaf.runtime.images import colormap, draw_points, png_bytes
from vaf.runtime.scene_bundle import SceneBundle
from vaf.runtime.synthesis import Excitation, ImpactRecipe, render

MATERIAL_COLOURS = {
    "wood": (176, 112, 52), "steel": (120, 140, 170), "aluminium": (190, 200, 215), "ceramic": (235, 225, 200),
    "glass": (110, 210, 200), "plastic": (220, 60, 90), "stone": (110, 110, 105), "cardboard": (200, 160, 90),
    "rubber": (40, 40, 40),
}
def top_view(positions: np.ndarray, colours: np.ndarray, radii: np.ndarray, extent: float, size: int = 512) -> Image.Image:
    """Orthographic view from +y (x right, z down): highest point wins. positions (N, 3) metres,
    colours (N, 3) uint8, radii (N,) metres; extent: half width of the square shown, metres."""
    scale = size / (2 * extent)
    px = ((positions[:, 0] + extent) * scale).astype(int)
    pz = ((positions[:, 2] + extent) * scale).astype(int)
    img = np.full((size, size, 3), 24, np.uint8)
    radius = (radii * scale).round().astype(int)
    return Image.fromarray(draw_points(img, px, pz, -positions[:, 1].astype(np.float64), colours, radius))


def spectrogram_image(pcm: np.ndarray, sample_rate: int, width: int, height: int) -> Image.Image:
    """Log-magnitude spectrogram, low frequencies at the bottom, 80 dB range."""
    _, _, s = spectrogram(pcm.astype(np.float64), fs=sample_rate, nperseg=256, noverlap=192)
    db = 10 * np.log10(s + 1e-20)
    if s.max() <= 1e-20:  # silence stays dark
        db[:] = -200.0
    norm = (db - (db.max() - 80.0)) / 80.0
    return Image.fromarray(colormap(norm[::-1])).resize((width, height), Image.BILINEAR)


def material_top_view(bundle: SceneBundle, size: int = 512) -> tuple[Image.Image, float]:
    """Top view with every Gaussian coloured by its part's material; returns it and the extent."""
    by_id = {s.id: s for s in bundle.segments}
    part_ids = bundle.labels[:, 1]
    colours = np.array([MATERIAL_COLOURS.get(by_id[int(p)].material or "", (128, 128, 128)) for p in np.unique(part_ids)], np.uint8)
    lookup = np.searchsorted(np.unique(part_ids), part_ids)
    extent = float(np.abs(bundle.gaussians.positions[:, [0, 2]]).max()) * 1.02
    return top_view(bundle.gaussians.positions, colours[lookup], bundle.gaussians.scales[:, 0], extent, size), extent


def scene_preview(bundle: SceneBundle, hits: int = 4, sample_rate: int = 48000) -> bytes:
    """PNG: material top view with a legend, and spectrograms of hits on differently made units."""
    view, _ = material_top_view(bundle)
    canvas = Image.new("RGB", (view.width + 220, view.height + 150), (16, 16, 16))
    canvas.paste(view, (0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.text((view.width + 10, 8), bundle.name, fill=(255, 255, 255))
    used = sorted({s.material for s in bundle.segments if s.material})
    for i, name in enumerate(used):
        y = 30 + 18 * i
        draw.rectangle([view.width + 10, y, view.width + 24, y + 12], fill=MATERIAL_COLOURS[name])
        draw.text((view.width + 30, y), name, fill=(230, 230, 230))
    a = bundle.acoustics
    if a is not None:
        rng = np.random.default_rng(0)
        picks, seen = [], set()
        for i in rng.permutation(a.points.shape[0]):
            mat = a.unit_material[a.unit[i]]
            if mat not in seen and len(picks) < hits:
                seen.add(mat)
                picks.append(i)
        width = canvas.width // max(len(picks), 1)
        for j, i in enumerate(picks):
            u = a.unit[i]
            recipe = ImpactRecipe(a.freq_hz[u], a.decay_per_s[u], a.gains[i], *a.noise[u])
            pcm = render(recipe, Excitation.from_materials(0.05, 1.0, "rubber", a.unit_material[u]), sample_rate, sample_rate // 2)
            canvas.paste(spectrogram_image(pcm, sample_rate, width - 6, 120), (j * width + 3, view.height + 24))
            label = next(s.label for s in bundle.segments if s.id == int(a.unit_segment[u]))
            draw.text((j * width + 5, view.height + 6), f"{label} ({a.unit_material[u]})"[:40], fill=(230, 230, 230))
    return png_bytes(canvas)
