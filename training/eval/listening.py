"""A listening set (`vaf eval generator --listen DIR`): the same held-out hits heard through every
scored method, so that ears can check what the metrics say.

DIR/index.md lists the hits; DIR/NN_<part kind>/ holds 00_recording.wav (the held-out recording
after the seed's preprocessing) and one WAV per method, numbered in the order of the results
table, and spectrograms.png: each clip's log-mel spectrogram as the SSIM and PSNR see it (top
60 dB), one row a clip in the files' order. All clips of one hit share one gain (its loudest
clip peaks at -1 dBFS), so loudness compares within a hit; every clip is RMS-normalised by the
preprocessing, so across hits it does not say much.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vaf.runtime.images import colormap, png_bytes
from vaf.runtime.wav import write_wav
from vaf.training.eval.generator import Clips, mel_power, unit_db
from vaf.training.generator.data import HitSet

PEAK = 10 ** (-1 / 20)  # -1 dBFS
MAX_NAME = 60  # characters of a method's name kept in its file name
SHEET_PX_PER_FRAME, SHEET_PX_PER_BAND = 6, 2  # spectrograms.png: 0.5 s (50 frames) x 64 bands -> 300 x 128 px a row
SHEET_LABEL_PX = 28  # the left margin that names each row


def file_stem(name: str) -> str:
    """'real-time (ONNX, shipped path)' -> 'real_time_onnx_shipped_path' (at most MAX_NAME characters)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:MAX_NAME].rstrip("_")


def pick_hits(materials: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Up to `count` hit indices taking the materials in turn (one random hit of each, then a second of each, ...),
    so that a short set still covers every material."""
    rng = np.random.default_rng(seed)
    pools = [list(rng.permutation(np.nonzero(materials == m)[0])) for m in sorted(set(materials))]
    picked: list[int] = []
    while len(picked) < min(count, len(materials)):
        for pool in pools:
            if pool and len(picked) < count:
                picked.append(int(pool.pop()))
    return np.array(picked, dtype=int)


def spectrogram_sheet(clips: list[np.ndarray], sample_rate: int) -> bytes:
    """PNG of the clips' unit-dB log-mel spectrograms (what SSIM compares), one row a clip, low bands at the bottom,
    each row labelled with its number ("00", "01", ...)."""
    rows = []
    for k, power in enumerate(mel_power(np.stack(clips), sample_rate)):
        image = colormap(unit_db(power)[::-1]).repeat(SHEET_PX_PER_BAND, axis=0).repeat(SHEET_PX_PER_FRAME, axis=1)
        row = Image.new("RGB", (SHEET_LABEL_PX + image.shape[1], image.shape[0] + 2), (16, 16, 16))
        row.paste(Image.fromarray(image), (SHEET_LABEL_PX, 0))
        ImageDraw.Draw(row).text((4, image.shape[0] // 2 - 6), f"{k:02d}", fill=(255, 255, 255))
        rows.append(row)
    sheet = Image.new("RGB", (rows[0].width, sum(r.height for r in rows)))
    for k, row in enumerate(rows):
        sheet.paste(row, (0, k * row.height))
    return png_bytes(sheet)


def check_listening_folder(folder: str | Path) -> Path:
    """`folder` if a listening set may be written there: it does not exist or is empty (FileExistsError otherwise)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"--listen {folder}: exists and is not an empty folder; nothing was overwritten")
    return folder


def write_listening_set(folder: str | Path, methods: list[Clips], hits: HitSet, scores: dict[str, dict], count: int = 24,
                        title: str = "") -> Path:
    """Writes `count` hits' recordings and each method's clips (aligned with `hits`) as WAVs, with index.md giving each
    clip's pitch error and log-mel SSIM from `scores` (method name -> what score() returned, with its "per_hit")."""
    folder = check_listening_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# Listening set", "", *([title, ""] if title else []),
             "Each folder holds one held-out hit: `00_recording.wav`, then one file per method (one gain per hit), and "
             "`spectrograms.png`, a row per file in the same order (log-mel, top 60 dB, as the SSIM sees it).", ""]
    for rank, i in enumerate(pick_hits(hits.material, count)):
        hit = folder / f"{rank:02d}_{file_stem(str(hits.kind[i]))}"
        hit.mkdir()
        heard = [np.nan_to_num(hits.targets[i])] + [np.nan_to_num(m.audio[i]) for m in methods]
        peak = max(float(np.abs(a).max()) for a in heard)
        gain = PEAK / peak if peak > 0 else 1.0
        lines += [f"## {hit.name}", "",
                  f"{hits.kind[i]}, scene `{Path(str(hits.scene[i])).name}`, struck by {hits.striker[i]} at "
                  f"{hits.speed[i]:.2f} m/s ({hits.impulse[i]:.4f} N s)", "",
                  "| file | method | dominant freq. error, cents | log-mel SSIM |", "|---|---|---|---|",
                  "| 00_recording.wav | the recording | | |"]
        write_wav(hit / "00_recording.wav", gain * heard[0], hits.sample_rate)
        for k, (method, audio) in enumerate(zip(methods, heard[1:]), start=1):
            wav = f"{k:02d}_{file_stem(method.name)}.wav"
            write_wav(hit / wav, gain * audio, hits.sample_rate)
            per_hit = scores[method.name]["per_hit"]
            lines.append(f"| {wav} | {method.name} | {per_hit['cents'][i]:.0f} | {per_hit['ssim'][i]:.3f} |")
        (hit / "spectrograms.png").write_bytes(spectrogram_sheet(heard, hits.sample_rate))
        lines += ["", f"![log-mel spectrograms, one row a file]({hit.name}/spectrograms.png)", ""]
    (folder / "index.md").write_text("\n".join(lines))
    return folder
