"""Training the recipe network end to end through the differentiable synthesizer.

Each step renders the predicted recipe with the recorded contact (impulse, speed, striker; the
true material sets the Hertz contact, as the game's physics would) and compares it with the
recording after the seed's preprocessing: multi-resolution STFT + log-mel on RMS-normalised
clips (timbre), an L1 on log RMS against the level the preprocessing removed (loudness),
cross-entropy on the struck material (which the runtime needs for the contact), the distance of
the decay curves of the whole clips and of each octave band (how long the sound and its high
modes ring, losses.decay_loss / band_decay_loss), and optionally
(off by default, see GeneratorTrainConfig) a pitch term: cross-entropy between the network's share of gain per frequency bin and the recording's
share of energy in the same bins. Spectral distances alone reward a smeared spectrum when the
pitch is uncertain (it is never far from the truth on average) and give weak gradients in
frequency; the pitch term asks the network to commit to the bins where the recording rings. It
reads only the recording, so it works on real captures as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vaf.runtime.encoders import DEFAULT_ENCODERS
from vaf.training.checkpoints import check_resumable, resume, run_config, save_checkpoint
from vaf.training.generator import synth
from vaf.training.generator.data import HitSet, load_hits
from vaf.training.generator.judge import MaterialJudge, fit_material_judge, judge_accuracy
from vaf.training.generator.losses import (SpectralLoss, band_decay_loss, decay_loss, heard_material_loss,
                                           mel_statistics_loss, rms)
from vaf.training.generator.models import RecipeConfig, RecipeNet, band_membership, build_generator, fold_modes

NOISE_BANK = 64  # distinct noise seeds drawn from during training
PROTOTYPES = 256
OOD_PERCENTILE = 1.0
# what the heard-material term's judges name (GeneratorTrainConfig.judge_target): the panels each choice trains
JUDGE_TARGETS = {"material": ("material",), "kind": ("kind",), "both": ("material", "kind")}


@dataclass
class GeneratorTrainConfig:
    epochs: int = 20
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    views: int = 16  # views the hit features are lifted from
    loudness_weight: float = 0.2
    material_weight: float = 0.3
    pitch_weight: float = 0.0  # off by default: measured, it made pitch no better and material cues worse (docs/results.md)
    decay_weight: float = 4.0  # the decay-curve term (losses.decay_loss): T60 error 70 -> 43 ms (docs/results.md)
    band_decay_weight: float = 4.0  # the decay-curve term per octave band (losses.band_decay_loss), docs/results.md
    mel_weight: float = 1.0  # the log-mel term inside the spectral loss (losses.SpectralLoss), relative to the STFT terms
    mel_stats_weight: float = 0.0  # per-band log-mel statistics over the clip (losses.mel_statistics_loss): opt-in, docs/results.md
    heard_material_weight: float = 0.0  # a frozen material judge's cross-entropy on the clip (losses.heard_material_loss)
    judge_epochs: int = 10  # with heard_material_weight: epochs of the judge's training on the recordings (judge.py)
    judges: int = 1  # with heard_material_weight: judges per panel, trained from other seeds, its term averaged over them
    judge_target: str = "material"  # what the judges name: the struck "material", the part's "kind" (data.part_kind), or "both"
    loss_modes: str = "grid"  # what the loss hears: every grid bin ("grid") or the runtime recipe ("runtime", models.fold_modes)
    model: dict = field(default_factory=lambda: asdict(RecipeConfig()))

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 2 or self.judge_epochs < 1 or self.judges < 1:
            raise ValueError(f"epochs, judge_epochs and judges must be >= 1 and batch >= 2, got {self.epochs}, "
                             f"{self.judge_epochs}, {self.judges} and {self.batch}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        for name in ("loudness_weight", "material_weight", "pitch_weight", "decay_weight", "mel_weight", "band_decay_weight",
                     "mel_stats_weight", "heard_material_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.judge_target not in JUDGE_TARGETS:
            raise ValueError(f"judge_target must be one of {', '.join(JUDGE_TARGETS)}, got {self.judge_target!r}")
        if self.loss_modes not in ("grid", "runtime"):
            raise ValueError(f"loss_modes must be 'grid' or 'runtime', got {self.loss_modes!r}")
        # complete, so a checkpoint says every choice even when a later version changes a default; fails early, naming
        # the bad key or value
        self.model = asdict(RecipeConfig(**self.model))


class GeneratorObjective:
    """The training loss of a RecipeNet on a HitSet (also used to report held-out loss)."""

    def __init__(self, hits: HitSet, config: RecipeConfig, loudness_weight: float, material_weight: float,
                 pitch_weight: float = 0.0, decay_weight: float = 0.0, loss_modes: str = "grid", mel_weight: float = 1.0,
                 band_decay_weight: float = 0.0, mel_stats_weight: float = 0.0, heard_material_weight: float = 0.0,
                 judges: Mapping[str, Sequence[MaterialJudge]] | None = None, kinds: Sequence[str] | None = None):
        """judges: panels of frozen judges by what they name, "material" (config.materials) or "kind" (`kinds`, the
        training hits' part kinds; a hit of another kind is left out of that panel's term). The heard-material term
        is the sum over the panels of each panel's mean cross-entropy (losses.heard_material_loss)."""
        self.hits = hits
        self.config = config
        self.spectral = SpectralLoss(hits.sample_rate, mel_weight=mel_weight)
        self.frames = hits.targets.shape[1]
        self.tau = synth.contact_durations(hits.excitations(np.arange(len(hits))))
        self.white = synth.white_noise(list(range(NOISE_BANK)), self.frames)
        self.material = torch.tensor([config.materials.index(m) for m in hits.material])
        self.labels = {"material": self.material}  # what each panel of judges names, per hit
        if kinds is not None:  # -100: cross-entropy's ignored class
            label = {k: i for i, k in enumerate(kinds)}
            self.labels["kind"] = torch.tensor([label.get(k, -100) for k in hits.kind])
        self.inputs = torch.tensor(hits.features if config.input == "features" else hits.patches)
        self.geometry = torch.tensor(hits.geometry)
        self.targets = torch.tensor(hits.targets)
        self.log_level = torch.tensor(np.log(np.maximum(hits.level, 1e-12)), dtype=torch.float32)
        self.energy_share = torch.tensor(bin_energy_share(hits.targets, hits.sample_rate, config.grid_hz()))
        self.loudness_weight, self.material_weight, self.pitch_weight = loudness_weight, material_weight, pitch_weight
        self.decay_weight, self.band_decay_weight, self.mel_stats_weight = decay_weight, band_decay_weight, mel_stats_weight
        self.membership = band_membership(config.grid_bins, config.fold_bands) if loss_modes == "runtime" else None
        self.judges = {target: panel for target, panel in (judges or {}).items() if len(panel)}
        if heard_material_weight > 0 and not self.judges:
            raise ValueError("heard_material_weight > 0 needs a material judge (judge.fit_material_judge)")
        unlabelled = sorted(set(self.judges) - set(self.labels))
        if unlabelled:
            raise ValueError(f"judges name {', '.join(unlabelled)}, but the objective has labels for "
                             f"{', '.join(self.labels)} only (a kind panel needs `kinds`)")
        self.heard_material_weight = heard_material_weight

    def render(self, net: RecipeNet, index: torch.Tensor, noise_seeds: torch.Tensor) -> tuple[dict, torch.Tensor]:
        """The net's outputs for hits `index` and what the loss hears of them: (B, frames) rendered with each hit's contact."""
        out = net(self.inputs[index], self.geometry[index])
        modes = (out["freq_hz"], out["decay_per_s"], out["gain"])
        if self.membership is not None:
            modes = fold_modes(*modes, self.config.modes_out - self.config.fold_bands, self.membership)
        audio = synth.render(*modes, out["noise"], self.tau[index],
                             torch.tensor(self.hits.impulse[index.numpy()], dtype=torch.float32),
                             self.hits.sample_rate, self.frames, self.white[noise_seeds])
        return out, audio

    def __call__(self, net: RecipeNet, index: torch.Tensor, noise_seeds: torch.Tensor) -> tuple[torch.Tensor, dict]:
        out, audio = self.render(net, index, noise_seeds)
        room = net.room_energy(self.hits.sample_rate)  # the recordings' room, when the net learns one
        # the spectral terms hear the room without moving it (training/generator/room.py says why)
        spectral = self.spectral(audio, self.targets[index], room.detached() if room is not None else None)
        loudness = (torch.log(rms(audio, room)) - self.log_level[index]).abs().mean()
        material = torch.nn.functional.cross_entropy(out["material_logits"], self.material[index])
        pitch = -(self.energy_share[index] * out["bin_log_share"]).sum(dim=-1).mean()
        decay = decay_loss(audio, self.targets[index], room=room)
        # at weight 0 still reported (held-out curves compare runs), but kept out of the backward pass
        heard = audio if self.band_decay_weight > 0 else audio.detach()
        band_decay = band_decay_loss(heard, self.targets[index], self.hits.sample_rate, room=room)
        heard = audio if self.mel_stats_weight > 0 else audio.detach()
        mel_stats = mel_statistics_loss(heard, self.targets[index], self.spectral.mel, room=room)
        loss = spectral + self.loudness_weight * loudness + self.material_weight * material + self.pitch_weight * pitch \
            + self.decay_weight * decay + self.band_decay_weight * band_decay + self.mel_stats_weight * mel_stats
        parts = {"spectral": spectral.item(), "loudness_ln": loudness.item(), "material_ce": material.item(),
                 "pitch_ce": pitch.item(), "decay": decay.item(), "band_decay": band_decay.item(), "mel_stats": mel_stats.item()}
        for target, panel in self.judges.items():
            heard = heard_material_loss(audio, self.labels[target][index], panel, self.spectral.mel, room=room)
            loss = loss + self.heard_material_weight * heard
            parts[f"heard_{target}_ce"] = heard.item()
        return loss, parts

    @torch.no_grad()
    def evaluate(self, net: RecipeNet, limit: int = 512, batch: int = 64) -> dict:
        net.eval()
        index = torch.arange(min(limit, len(self.hits)))
        parts = [self(net, index[i : i + batch], index[i : i + batch] % NOISE_BANK)[1] for i in range(0, len(index), batch)]
        return {k: float(np.mean([p[k] for p in parts])) for k in parts[0]}


def train_generator(dataset: str | Path | list[str | Path], out: str | Path, config: GeneratorTrainConfig | None = None,
                    encoders: str | Path = DEFAULT_ENCODERS, cache: str | Path | None = None, progress: bool = True,
                    train: HitSet | None = None, test: HitSet | None = None) -> dict:
    """Trains on the dataset's train split (hit features lifted with `encoders`); reports the
    held-out loss per epoch. Several datasets: their train (and test) splits pooled, e.g. extra
    training-only scenes beside the evaluation dataset. Resumes from OUT/checkpoint.pt when it
    exists (same config and datasets only)."""
    config = config or GeneratorTrainConfig()
    datasets = [Path(d) for d in (dataset if isinstance(dataset, list) else [dataset])]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    checkpoint = out / "checkpoint.pt"
    run = run_config(config, datasets)  # resuming on other data is refused too
    check_resumable(checkpoint, run)  # before the slow feature loading
    train = train or load_hits(datasets, "train", encoders, config.views, cache=cache, progress=progress)
    test = test or load_hits(datasets, "test", encoders, config.views, cache=cache, progress=progress)
    if len(train) < config.batch:
        raise ValueError(f"{', '.join(map(str, datasets))}: {len(train)} training hits, fewer than one batch of {config.batch}")
    net = build_generator(config.model)
    terms = {name: getattr(config, name) for name in ("loudness_weight", "material_weight", "pitch_weight", "decay_weight",
                                                     "loss_modes", "mel_weight", "band_decay_weight", "mel_stats_weight",
                                                     "heard_material_weight")}
    targets = JUDGE_TARGETS[config.judge_target] if config.heard_material_weight > 0 else ()
    kinds = sorted(set(train.kind.tolist())) if "kind" in targets else None
    classes = {"material": len(net.config.materials), "kind": len(kinds or ())}
    # frozen from the start: a resumed run loads their weights from the checkpoint instead of fitting them
    judges = torch.nn.ModuleDict({target: torch.nn.ModuleList(MaterialJudge(classes[target]).eval().requires_grad_(False)
                                                               for _ in range(config.judges)) for target in targets})
    objective = GeneratorObjective(train, net.config, **terms, judges=judges, kinds=kinds)
    held_out = GeneratorObjective(test, net.config, **terms, judges=judges, kinds=kinds)
    judged = {"judges": judges} if targets else {}  # saved and resumed with the network
    if not checkpoint.exists():  # resuming: the checkpoint holds the judges the run started with
        for target, panel in judges.items():  # seeds distinct across a panel's judges and across runs of other seeds
            for k, judge in enumerate(panel):
                fit_material_judge(judge, objective.targets, objective.labels[target], objective.spectral.mel,
                                   config.judge_epochs, seed=config.seed * config.judges + k, progress=progress,
                                   desc=f"{target} judge {k + 1}/{len(panel)}")
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(train) // config.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.1)
    start, history = resume(checkpoint, run, gen, model=net, opt=opt, sched=sched, **judged)
    bar = tqdm(range(start, config.epochs), desc="generator", unit="epoch", disable=not progress, initial=start,
               total=config.epochs)
    for epoch in bar:
        net.train()
        order = torch.randperm(len(train), generator=gen)
        losses = []
        for b in range(steps_per_epoch):
            index = order[b * config.batch : (b + 1) * config.batch]
            loss, _ = objective(net, index, torch.randint(NOISE_BANK, (len(index),), generator=gen))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            sched.step()
            losses.append(loss.item())
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "held_out": held_out.evaluate(net)}
        history.append(entry)
        bar.set_postfix(loss=f"{entry['loss']:.3f}", held_out_spectral=f"{entry['held_out']['spectral']:.3f}")
        save_checkpoint(checkpoint, run, epoch + 1, history, gen, model=net, opt=opt, sched=sched, **judged)
    prototypes, threshold = feature_prototypes(train.features, seed=config.seed)
    torch.save({"model": net.state_dict(), "config": asdict(config), "encoders": str(encoders), "prototypes": prototypes,
                "ood_threshold": threshold}, out / "generator.pt")
    report = {"datasets": [str(d) for d in datasets], "train_hits": len(train), "test_hits": len(test), "skipped_hits": train.skipped + test.skipped,
              "history": history, "config": asdict(config)}
    law = net.damping_law()
    if law is not None:
        report["damping_law"] = law  # {material: (alpha 1/s, beta s)}, to set beside runtime/materials.py
    if judged:  # how well each judge the generator learnt from names the held-out recordings' material (or kind)
        report["judges_held_out_accuracy"] = {target: held_out_accuracy(panel, held_out.labels[target], held_out)
                                              for target, panel in judges.items()}
    room = net.learnt_room()
    if room is not None:
        report["room"] = room  # {rt60_s, direct_to_reverb_db}, to set beside the world's recording room
    (out / "training.json").write_text(json.dumps(report, indent=1))
    return report


def held_out_accuracy(panel: Sequence[MaterialJudge], labels: torch.Tensor, held_out: GeneratorObjective) -> list[float]:
    """Each judge's share of the held-out recordings it names right (labels (N,); -100, a kind no training hit has,
    left out)."""
    known = labels >= 0
    return [judge_accuracy(judge, held_out.targets[known], labels[known], held_out.spectral.mel) for judge in panel]


def bin_energy_share(clips: np.ndarray, sample_rate: int, grid_hz: np.ndarray) -> np.ndarray:
    """(N, T) clips -> (N, len(grid_hz)) float32: each clip's share of spectral energy in each bin of the
    log-spaced grid (bin edges halfway between centres, in log frequency), summing to 1."""
    power = np.abs(np.fft.rfft(clips.astype(np.float64), axis=1)) ** 2
    freqs = np.fft.rfftfreq(clips.shape[1], 1.0 / sample_rate)
    log_grid = np.log(grid_hz)
    half = 0.5 * (log_grid[1] - log_grid[0])
    edges = np.exp(np.concatenate([[log_grid[0] - half], 0.5 * (log_grid[1:] + log_grid[:-1]), [log_grid[-1] + half]]))
    bin_of = np.searchsorted(edges, freqs) - 1
    inside = (bin_of >= 0) & (bin_of < len(grid_hz))
    energy = np.zeros((len(clips), len(grid_hz)))
    for k in range(len(grid_hz)):  # a loop over bins, not clips: 128 vectorised sums
        energy[:, k] = power[:, inside & (bin_of == k)].sum(axis=1)
    return (energy / np.maximum(energy.sum(axis=1, keepdims=True), 1e-30)).astype(np.float32)


def feature_prototypes(features: np.ndarray, count: int = PROTOTYPES, seed: int = 0) -> tuple[np.ndarray, float]:
    """k-means centroids (count, L * D) of training features (N, L, D), as unit vectors, and the
    similarity under which a query counts as out of distribution (OOD_PERCENTILE of the training
    hits' similarity to their nearest centroid)."""
    from scipy.cluster.vq import kmeans2

    flat = features.reshape(len(features), -1).astype(np.float64) / np.sqrt(features.shape[1])
    distinct = len(np.unique(flat, axis=0))  # more centroids than distinct points leaves clusters empty
    centroids, _ = kmeans2(flat, min(count, distinct), seed=seed, minit="++")
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    similarity = (flat @ centroids.T).max(axis=1)
    return centroids.astype(np.float32), float(np.percentile(similarity, OOD_PERCENTILE))


def load_generator(path: str | Path) -> RecipeNet:
    """A RecipeNet from generator.pt (or checkpoint.pt), in eval mode."""
    state = torch.load(path, weights_only=False)
    # checkpoints from before the decay law had free decays; from before the learnt room, none
    model = {"decay_law": "free", "room": False, **state["config"]["model"]}
    net = build_generator(model)
    net.load_state_dict(state["model"])
    return net.eval()
