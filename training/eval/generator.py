"""Impact-sound generation quality on held-out scenes (issue 6), beside baselines from the same run.

Every method produces, for each held-out hit, a clip that goes through the seed's
preprocessing like the recording did (crop/pad to 0.5 s from the onset, RMS 0.01; generated
clips are clean, so the spectral gate is skipped for them). Metrics, per hit then averaged
(mean) or pooled (median where said):

- log-mel SSIM and PSNR: 64-band log-mel power (n_fft 512, hop 240 at 24 kHz) in dB relative to
  the spectrogram's maximum, mapped to [0, 1] over the top 60 dB (below that a denoised
  recording holds only what the spectral gate left of its 40 dB SNR noise floor, so
  a fixed absolute range would score the denoiser, not the sound), SSIM with a 7x7 Gaussian
  window (sigma 1.5), PSNR = 10 log10(1 / MSE);
- paired KL: each mel power spectrogram normalised to sum 1, KL(recording || generated), as the
  seed computes it per pair and averages;
- Fréchet distance between the sets of embeddings of the project's own audio encoder (the
  shipped ONNX one, 64-d; VGGish weights are not available here), "FAD (own encoder)";
- dominant-frequency error: median |1200 log2(f_gen / f_rec)| cents, f = strongest spectral peak
  above 30 Hz (Hann window, 4x zero padding, parabolic interpolation);
- T60 error: median |T60_gen - T60_rec| in ms, T60 from the Schroeder decay curve fit between
  -5 and -25 dB (-5 and -15 dB if the clip does not fall 25 dB);
- level error: median |20 log10(L_gen / L_rec)| dB, L the RMS of the 0.5 s clip before the RMS
  normalisation (what the seed drops; the real-time path keeps it: the contact's impulse, speed
  and striker shape the excitation). Retrieval and the oracle play their recording at its level
  per N*s times the hit's impulse, the diffusion path at its training median per N*s (as a baked
  contact does);
- material accuracy: a logistic-regression classifier on log-mel statistics, trained on the
  recordings of the training scenes, applied to the generated clips (its accuracy on the held-out
  recordings themselves is the ceiling, reported as "recordings"); beside it, the same for a
  one-hidden-layer MLP on the same statistics, a stronger judge whose verdict a small change of
  spectral shape moves less (docs/results.md, 2026-11-29 evening);
- localised: the fraction of hits whose clip, embedded by the audio encoder, the runtime's localizer
  finds in its held-out scene as the localization evaluation counts it (one of the top 3 parts is
  the struck one or of its kind; features lifted like the hits' own), over hits on parts some view
  saw. A sound can read as its material and still not as its part: the localizer weighs what the
  part looks like, size and shape included (docs/results.md, 2026-11-30 06:00).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import sqrtm
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

from vaf.runtime.encoders import OnnxEncoders
from vaf.runtime.preprocess import crop_or_pad, finish_clip, resample
from vaf.runtime.room import Room, reverberate
from vaf.training.encoders.logmel import LogMel
from vaf.training.eval.localization import HeldOutScene
from vaf.training.generator.data import HitSet
from vaf.training.world.ground_truth import ground_truth_sources

DYNAMIC_RANGE_DB = 60.0
MLP_JUDGE_HIDDEN = 256  # the second material judge's hidden units
LOCALIZE_TOP_K = 3  # the localization evaluation's Acc(3)


@dataclass
class Clips:
    """A method's output: (N, T) float32 clips at the hit set's rate, preprocessed; level: (N,) their RMS before the
    normalisation, the loudness the method gives each hit's contact (None: the method has no loudness)."""

    name: str
    audio: np.ndarray
    level: np.ndarray | None = None
    ms_per_hit: float | None = None


def mel_power(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(N, T) -> (N, 64, frames) mel power."""
    with torch.no_grad():
        return torch.exp(LogMel(sample_rate)(torch.tensor(audio, dtype=torch.float32))).numpy().astype(np.float64)


def unit_db(power: np.ndarray) -> np.ndarray:
    """Mel power -> [0, 1]: dB relative to its maximum over the top DYNAMIC_RANGE_DB."""
    db = 10 * np.log10(power + 1e-12)
    return np.clip((db - db.max() + DYNAMIC_RANGE_DB) / DYNAMIC_RANGE_DB, 0.0, 1.0)


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Structural similarity of two images in [0, 1] (Gaussian window, truncated at 7x7)."""
    c1, c2 = 0.01**2, 0.03**2
    f = lambda x: gaussian_filter(x, sigma, truncate=2.0)  # noqa: E731  (radius 3: a 7x7 window)
    mu_a, mu_b = f(a), f(b)
    var_a, var_b, cov = f(a * a) - mu_a**2, f(b * b) - mu_b**2, f(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def paired_kl(p_power: np.ndarray, q_power: np.ndarray) -> float:
    p = p_power / max(p_power.sum(), 1e-30) + 1e-10
    q = q_power / max(q_power.sum(), 1e-30) + 1e-10
    return float(np.sum(p * np.log(p / q)))


def dominant_hz(audio: np.ndarray, sample_rate: int, f_min: float = 30.0) -> float:
    n = 4 * len(audio)
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio)), n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    spectrum[freqs < f_min] = 0
    k = int(np.argmax(spectrum))
    if 0 < k < len(spectrum) - 1:  # parabolic interpolation on log magnitude
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-20)
        k = k + 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else k
    return float(k * sample_rate / n)


def t60(audio: np.ndarray, sample_rate: int) -> float:
    """Seconds to decay 60 dB, from the Schroeder integral; nan for silence."""
    energy = np.cumsum((np.asarray(audio, np.float64) ** 2)[::-1])[::-1]
    if energy[0] <= 0:
        return float("nan")
    edc = 10 * np.log10(energy / energy[0] + 1e-30)
    usable = edc[: int(0.9 * len(edc))]  # the end of a clip drops to -inf by truncation
    for low in (-25.0, -15.0):
        sel = np.nonzero((usable <= -5.0) & (usable >= low))[0]
        if sel.size >= 10 and usable.min() <= low:
            slope = np.polyfit(sel / sample_rate, usable[sel], 1)[0]  # dB per second
            return float(-60.0 / slope) if slope < 0 else float("nan")
    sel = np.nonzero(usable <= -1.0)[0]  # barely decays within the clip: fit what there is
    if sel.size < 10:
        return float("nan")
    slope = np.polyfit(sel / sample_rate, usable[sel], 1)[0]
    return float(-60.0 / slope) if slope < 0 else float("nan")


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


def mel_statistics(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(N, T) clips -> (N, 192) per-band mean, std and max of log-mel: the material classifier's input."""
    log_mel = np.log(mel_power(audio, sample_rate) + 1e-8)
    return np.concatenate([log_mel.mean(axis=2), log_mel.std(axis=2), log_mel.max(axis=2)], axis=1)


class MaterialClassifier:
    """A material judge on standardised mel statistics (torch, full batch): multinomial logistic regression
    (``hidden=0``, the eval's judge since 2026-11-24), or one hidden ReLU layer of ``hidden`` units with dropout,
    a stronger second opinion (it names ~93% of world150's held-out recordings against the linear ~88%; a
    small change in spectral shape can cross the linear judge's wood/plastic/cardboard boundaries, docs/results.md)."""

    def __init__(self, clips: np.ndarray, materials: np.ndarray, sample_rate: int, hidden: int = 0, steps: int = 500,
                 seed: int = 0):
        x = mel_statistics(clips, sample_rate)
        self.sample_rate = sample_rate
        self.mean, self.std = x.mean(axis=0), x.std(axis=0) + 1e-6
        self.classes = sorted(set(materials))
        torch.manual_seed(seed)
        xt = torch.tensor((x - self.mean) / self.std, dtype=torch.float32)
        yt = torch.tensor([self.classes.index(m) for m in materials])
        if hidden:
            self.net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                                           torch.nn.Linear(hidden, len(self.classes)))
            opt = torch.optim.Adam(self.net.parameters(), lr=3e-3, weight_decay=1e-3)
        else:
            self.net = torch.nn.Linear(x.shape[1], len(self.classes))
            opt = torch.optim.Adam(self.net.parameters(), lr=0.05, weight_decay=1e-4)
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(self.net(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.net.eval()

    def accuracy(self, clips: np.ndarray, materials: np.ndarray) -> float:
        x = torch.tensor((mel_statistics(clips, self.sample_rate) - self.mean) / self.std, dtype=torch.float32)
        with torch.no_grad():
            predicted = self.net(x).argmax(dim=1).numpy()
        return float(np.mean([self.classes[p] == m for p, m in zip(predicted, materials)]))


def localised_fraction(embeddings: np.ndarray, hits: HitSet, scenes: dict[str, HeldOutScene]) -> float:
    """Of the hits on parts some view saw, the fraction whose clip (embeddings: (N, D) float32, in the order of
    `hits`) the localizer of its scene (scenes: HitSet.scene -> HeldOutScene) finds in its top LOCALIZE_TOP_K."""
    found = [scenes[s].found(e, int(p), LOCALIZE_TOP_K)
             for s, p, e in zip(hits.scene, hits.part, embeddings) if scenes[s].accepted(int(p))]
    return float(np.mean(found)) if found else float("nan")


def score(method: Clips, reference: HitSet, encoders: OnnxEncoders, judges: dict[str, MaterialClassifier],
          reference_embeddings: np.ndarray, scenes: dict[str, HeldOutScene]) -> dict:
    """Every metric of one method's clips against the recordings; judges: report key -> material classifier;
    scenes: the held-out scenes' localizers. "per_hit" holds the SSIM and the dominant-frequency error (cents) of
    each hit, in the order of `reference`."""
    rate = reference.sample_rate
    gen_power, ref_power = mel_power(method.audio, rate), mel_power(reference.targets, rate)
    ssims, psnrs, kls, cents, t60_ms = [], [], [], [], []
    level_db = None if method.level is None else 20 * np.log10(np.maximum(method.level, 1e-12) / np.maximum(reference.level, 1e-12))
    for g, r, ga, ra in zip(gen_power, ref_power, method.audio, reference.targets):
        gu, ru = unit_db(g), unit_db(r)
        ssims.append(ssim(gu, ru))
        psnrs.append(psnr(gu, ru))
        kls.append(paired_kl(r, g))
        fg, fr = dominant_hz(ga, rate), dominant_hz(ra, rate)
        cents.append(abs(1200 * np.log2(max(fg, 1e-3) / max(fr, 1e-3))))
        t60_ms.append(abs(t60(ga, rate) - t60(ra, rate)) * 1e3)
    embeddings = np.concatenate([encoders.embed_audio(method.audio[i : i + 256]) for i in range(0, len(method.audio), 256)])
    return {
        "ssim": float(np.mean(ssims)),
        "psnr_db": float(np.mean(psnrs)),
        "kl": float(np.mean(kls)),
        "fad_own": frechet_distance(embeddings, reference_embeddings),
        "cents_median": float(np.median(cents)),
        "t60_ms_median": float(np.nanmedian(t60_ms)),
        "level_db_median": None if level_db is None else float(np.median(np.abs(level_db))),
        **{key: judge.accuracy(method.audio, reference.material) for key, judge in judges.items()},
        "localised": localised_fraction(embeddings, reference, scenes),
        "ms_per_hit": method.ms_per_hit,
        "per_hit": {"ssim": [float(v) for v in ssims], "cents": [float(c) for c in cents]},
    }


def results_table(report: dict, command: str) -> str:
    lines = [
        f"### Impact-sound generation, {time.strftime('%Y-%m-%d')}",
        "",
        f"`{command}` — {report['hits']} held-out hits in {report['scenes']} test scenes of `{report['dataset']}`; "
        f"training scenes: {report['train_hits']} hits. Material judges on the recordings themselves: "
        f"linear {100 * report['recordings_material_acc']:.1f}%, MLP {100 * report['recordings_material_acc_mlp']:.1f}%; "
        f"the recordings localised to their part (top {LOCALIZE_TOP_K}): {100 * report['recordings_localised']:.1f}%.",
        "",
        "| method | log-mel SSIM ↑ | PSNR dB ↑ | KL ↓ | FAD (own encoder) ↓ | dominant freq. error, cents ↓ | T60 error, ms ↓ "
        f"| level error, dB ↓ | material acc. ↑ | material acc., MLP judge ↑ | localised (top {LOCALIZE_TOP_K}) ↑ | ms per hit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in report["methods"].items():
        ms = "" if m["ms_per_hit"] is None else f"{m['ms_per_hit']:.3f}"
        level = "" if m["level_db_median"] is None else f"{m['level_db_median']:.1f}"
        lines.append(f"| {name} | {m['ssim']:.3f} | {m['psnr_db']:.2f} | {m['kl']:.3f} | {m['fad_own']:.3f} | "
                     f"{m['cents_median']:.0f} | {m['t60_ms_median']:.0f} | {level} | {100 * m['material_acc']:.1f}% | "
                     f"{100 * m['material_acc_mlp']:.1f}% | {100 * m['localised']:.1f}% | {ms} |")
    return "\n".join(lines)


def pitch_by_kind_table(report: dict, min_hits: int = 10) -> str:
    """Median dominant-frequency error (cents) of every method per struck part kind ("wood table/top") with at
    least `min_hits` held-out hits, most hits first; the rest pooled. Where the world's own recipe ("physics
    ground truth") is itself far off, the recording room's random response decides which of the part's modes
    dominates (docs/results.md, 2026-11-29 late night)."""
    kinds = np.asarray(report["kinds"])
    names, counts = np.unique(kinds, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    rows = [(str(names[i]), kinds == names[i]) for i in order if counts[i] >= min_hits]
    rest = ~np.isin(kinds, [name for name, _ in rows])
    if rest.any():
        rows.append((f"other kinds (under {min_hits} hits each)", rest))
    rows.append(("all", np.ones(len(kinds), bool)))
    methods = report["methods"]
    lines = ["| part kind | hits | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for name, mask in rows:
        cells = [f"{np.median(np.asarray(m['per_hit']['cents'])[mask]):.0f}" for m in methods.values()]
        lines.append(f"| {name} | {int(mask.sum())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_recipes(name: str, recipes, materials, hits: HitSet, seed: int = 0, room: Room | None = None,
                   ms_per_hit: float | None = None) -> Clips:
    """Native renders of one recipe per hit with the hit's contact, struck on `materials`, heard in `room` (as the
    server does for a contact's room; None: dry), finished like a recording, with their level."""
    from vaf.runtime.synthesis import render

    frames = hits.targets.shape[1]
    excitations = hits.excitations(np.arange(len(hits)), np.asarray(materials))
    clips, level = [], []
    for i, (r, e) in enumerate(zip(recipes, excitations)):
        audio = render(r, e, hits.sample_rate, frames, seed=seed + i)
        audio = crop_or_pad(audio if room is None else reverberate(audio, room, hits.sample_rate, seed + i), hits.sample_rate)
        level.append(float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))))
        clips.append(finish_clip(audio, hits.sample_rate))
    return Clips(name, np.stack(clips), np.array(level), ms_per_hit)


def realtime_clips(model_dir: str | Path, hits: HitSet, name: str = "real-time (ONNX, shipped path)") -> list[Clips]:
    """The shipped path: ONNX recipe model (onnxruntime) -> native synthesizer, one contact at a time; dry, and
    if the model learnt its recordings' room, also heard in it (a contact's ``room``)."""
    from vaf.runtime.recipe_model import OnnxRecipeModel

    model = OnnxRecipeModel.load(model_dir)
    recipes, materials, elapsed = [], [], []
    for f, g in zip(hits.features, hits.geometry):
        t0 = time.perf_counter()
        p = model.predict(f[None], g[None] if model.geometry else None)
        elapsed.append(time.perf_counter() - t0)
        recipes.append(p.recipes[0])
        materials.append(p.materials[0])
    ms = 1e3 * float(np.median(elapsed))
    if model.room is None:
        return [render_recipes(name, recipes, materials, hits, ms_per_hit=ms)]
    heard = f"{model.room.rt60_s:.2f} s, {model.room.direct_to_reverb_db:.1f} dB"
    return [render_recipes(f"{name}, dry", recipes, materials, hits, ms_per_hit=ms),
            render_recipes(f"{name}, in its learnt room ({heard})", recipes, materials, hits, room=model.room, ms_per_hit=ms)]


def net_clips(name: str, checkpoint: str | Path, hits: HitSet) -> Clips:
    """A torch recipe network (e.g. the local-patch baseline), its runtime recipe (RuntimeRecipe), native synthesizer."""
    from vaf.runtime.synthesis import ImpactRecipe
    from vaf.training.generator.models import RuntimeRecipe
    from vaf.training.generator.train import load_generator

    net = load_generator(checkpoint)
    x = torch.tensor(hits.features if net.config.input == "features" else hits.patches)
    with torch.no_grad():
        freq, decay, gain, noise, probs = (t.numpy() for t in RuntimeRecipe(net)(x, torch.tensor(hits.geometry)))
    recipes = [ImpactRecipe(f, d, g, *(float(v) for v in n)) for f, d, g, n in zip(freq, decay, gain, noise)]
    materials = [net.config.materials[i] for i in probs.argmax(axis=1)]
    return render_recipes(name, recipes, materials, hits)


def per_impulse_level(source: HitSet, picked: np.ndarray, hits: HitSet) -> np.ndarray:
    """(N,) the level of source's recordings `picked` per N*s, times each hit's impulse: a recording played for
    another contact, as loud as the game's impulse asks."""
    return source.level[picked] / source.impulse[picked] * hits.impulse


def retrieval_clips(train: HitSet, hits: HitSet) -> Clips:
    """Nearest-neighbour retrieval: the recording of the training hit whose features are most similar (cosine)."""
    a = train.features.reshape(len(train), -1)
    q = hits.features.reshape(len(hits), -1)
    nearest = np.concatenate([(q[i : i + 512] @ a.T).argmax(axis=1) for i in range(0, len(q), 512)])
    return Clips("nearest-neighbour retrieval", train.targets[nearest], per_impulse_level(train, nearest, hits))


def same_subpart_clips(hits: HitSet) -> Clips:
    """An oracle: for each hit, the recording of another held-out hit on the same subpart (else on the same
    part, else in the same scene; never the hit itself). What a method that knows the struck segment but
    not the spot on it can reach: the sounds of one subpart differ with where it is struck."""
    levels = [list(zip(hits.scene, hits.subpart)), list(zip(hits.scene, hits.part)), list(hits.scene)]
    pick = np.arange(len(hits))
    for i in range(len(hits)):
        for key in levels:
            others = [j for j in range(len(hits)) if j != i and key[j] == key[i]]
            if others:
                pick[i] = others[0]
                break
    return Clips("another recording of the same subpart (oracle)", hits.targets[pick], per_impulse_level(hits, pick, hits))


def diffusion_clips(checkpoint: str | Path, hits: HitSet, steps: int = 50, cfg_scale: float = 6.0, batch: int = 64,
                    progress: bool = True) -> Clips:
    """The diffusion path's model (tiny or pretrained) sampled for every hit (DDIM, `steps`, CFG `cfg_scale`), finished like a recording."""
    from vaf.training.generator.diffusion import diffusion_meta, load_diffusion

    model = load_diffusion(checkpoint)
    rms_per_impulse = diffusion_meta(checkpoint).get("rms_per_impulse")
    frames = hits.targets.shape[1]
    clips, t0 = [], time.perf_counter()
    for i in tqdm(range(0, len(hits), batch), desc="diffusion samples", unit="batch", disable=not progress):
        audio = model.sample(torch.tensor(hits.features[i : i + batch]), steps, cfg_scale, seed=i).numpy()
        clips += [finish_clip(resample(a, model.sample_rate, hits.sample_rate)[:frames], hits.sample_rate) for a in audio]
    ms = 1e3 * (time.perf_counter() - t0) / len(hits)
    size = sum(p.numel() for p in model.parameters()) / 1e6
    level = None if rms_per_impulse is None else rms_per_impulse * hits.impulse  # as a baked contact plays it
    return Clips(f"diffusion, {size:.1f} M parameters ({steps} DDIM steps, CFG {cfg_scale:g})", np.stack(clips), level, ms)


def physics_clips(hits: HitSet, room: Room | None = None) -> list[Clips]:
    """The ground-truth recipe of each hit (the sounding world's physics), rendered dry (and in `room` if given): what a
    perfect recipe predictor would score against recordings that also hold a room and a denoised noise floor."""
    sources = ground_truth_sources(hits.scene, hits.sample)
    recipes, materials = [s.recipe for s in sources], [s.material for s in sources]
    dry = render_recipes("physics ground truth, dry (ceiling)", recipes, materials, hits)
    if room is None:
        return [dry]
    return [dry, render_recipes("physics ground truth, in the learnt room (ceiling)", recipes, materials, hits, room=room)]


def evaluate_generator(dataset: str | Path, model_dir: str | Path, train: HitSet, test: HitSet, encoders: OnnxEncoders,
                       baselines: dict[str, Clips] | None = None, progress: bool = True, listen: str | Path | None = None,
                       listen_hits: int = 24, views: int = 16) -> dict:
    """Scores the shipped-path model in `model_dir` and the given baseline clips on `test`; with `listen`, also writes
    `listen_hits` of the hits heard through every method there (training/eval/listening.py). `views`: the views the
    hits' features were lifted from; the localizers of the test scenes lift theirs alike."""
    judges = {"material_acc": MaterialClassifier(train.targets, train.material, train.sample_rate),
              "material_acc_mlp": MaterialClassifier(train.targets, train.material, train.sample_rate, hidden=MLP_JUDGE_HIDDEN)}
    scenes = {s: HeldOutScene.lift(s, encoders, views)
              for s in tqdm(sorted(set(test.scene)), desc="localizers", unit="scene", disable=not progress)}
    reference = np.concatenate([encoders.embed_audio(test.targets[i : i + 256]) for i in range(0, len(test), 256)])
    from vaf.runtime.recipe_model import OnnxRecipeModel

    room = OnnxRecipeModel.load(model_dir).room
    methods = [*realtime_clips(model_dir, test), retrieval_clips(train, test), *(baselines or {}).values(),
               *physics_clips(test, room), same_subpart_clips(test)]
    scores = {m.name: score(m, test, encoders, judges, reference, scenes)
              for m in tqdm(methods, desc="scoring", unit="method", disable=not progress)}
    if listen is not None:
        from vaf.training.eval.listening import write_listening_set

        write_listening_set(listen, methods, test, scores, listen_hits, f"Scored with the model in `{model_dir}`.")
    return {
        "dataset": str(dataset),
        "scenes": len(set(test.scene)),
        "hits": len(test),
        "train_hits": len(train),
        "model": str(model_dir),
        "kinds": [str(k) for k in test.kind],
        **{f"recordings_{key}": judge.accuracy(test.targets, test.material) for key, judge in judges.items()},
        "recordings_localised": localised_fraction(reference, test, scenes),
        "methods": scores,
    }
