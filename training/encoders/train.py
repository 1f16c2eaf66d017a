"""Contrastive training of the audio and image encoders (symmetric InfoNCE, learnable temperature).

Positives are the pairs of one hit; hits on the same part in a batch are positives of each
other too (multi-positive targets), so a batch never pushes a part away from itself.
Checkpoints every epoch into OUT/checkpoint.pt; training resumes from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from vaf.training.data.pairs import Pair, load_pairs, recordings_room
from vaf.training.checkpoints import check_resumable, resume, run_config, save_checkpoint
from vaf.training.encoders.models import build_encoder

DEFAULT_AUDIO = {"type": "audio_cnn", "sample_rate": 24000, "n_mels": 64, "channels": [32, 64, 128], "dim": 64}
DEFAULT_IMAGE = {"type": "image_cnn", "size": 64, "channels": [32, 64, 128, 128], "dim": 64}


@dataclass
class TrainConfig:
    epochs: int = 15
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    seed: int = 0
    audio: dict = field(default_factory=lambda: dict(DEFAULT_AUDIO))
    image: dict = field(default_factory=lambda: dict(DEFAULT_IMAGE))

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 2:
            raise ValueError(f"epochs must be >= 1 and batch >= 2, got {self.epochs} and {self.batch}")
        dims = (self.audio.get("dim"), self.image.get("dim"))
        if None not in dims and dims[0] != dims[1]:
            raise ValueError(f"audio dim {dims[0]} and image dim {dims[1]} must match")


class EncoderPair(nn.Module):
    """The audio and image encoders; an audio config without "dim" takes the image encoder's (e.g. a CLIP tower's)."""

    def __init__(self, config: TrainConfig):
        super().__init__()
        self.image = build_encoder(config.image)
        audio = dict(config.audio)
        audio["dim"] = audio.get("dim") or self.image.dim
        if audio["dim"] != self.image.dim:
            raise ValueError(f"audio dim {audio['dim']} and image dim {self.image.dim} must match")
        self.audio = build_encoder(audio)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


def contrastive_loss(audio: torch.Tensor, image: torch.Tensor, scale: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch; groups: (B,) ids, equal ids are positives of each other."""
    logits = scale.clamp(max=math.log(100)).exp() * audio @ image.T
    positive = (groups[:, None] == groups[None, :]).float()
    target = positive / positive.sum(dim=1, keepdim=True)
    a2i = -(target * logits.log_softmax(dim=1)).sum(dim=1).mean()
    i2a = -(target * logits.log_softmax(dim=0)).sum(dim=0).mean()
    return 0.5 * (a2i + i2a)


def _tensors(pairs: list[Pair]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    audio = torch.tensor(np.stack([p.audio for p in pairs]))
    crops = torch.tensor(np.stack([p.crop for p in pairs])).permute(0, 3, 1, 2).contiguous()
    keys = {}
    groups = torch.tensor([keys.setdefault((p.scene, p.part), len(keys)) for p in pairs])
    return audio, crops, groups


def _augment(crops: torch.Tensor, audio: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    dy, dx = (int(v) for v in torch.randint(-4, 5, (2,), generator=gen))
    crops = torch.roll(crops, (dy, dx), dims=(2, 3))
    crops = (crops * (0.9 + 0.2 * torch.rand(crops.shape[0], 3, 1, 1, generator=gen))).clamp(0, 1)
    shift = int(torch.randint(0, 120, (1,), generator=gen))  # up to 5 ms of onset jitter at 24 kHz
    audio = torch.nn.functional.pad(audio, (shift, 0))[:, : audio.shape[1]]
    return crops, audio


def frozen(encoder: nn.Module) -> bool:
    return not any(p.requires_grad for p in encoder.parameters())


@torch.no_grad()
def embed_crops(image: nn.Module, crops: torch.Tensor, batch: int = 64, progress: bool = False) -> torch.Tensor:
    """(N, 3, S, S) -> (N, dim): a frozen tower's embeddings, computed once instead of every epoch."""
    image.eval()
    return torch.cat([image(crops[i : i + batch]) for i in tqdm(range(0, len(crops), batch), desc="embedding crops",
                                                                unit="batch", disable=not progress)])


@torch.no_grad()
def within_scene_accuracy(model: EncoderPair, pairs: list[Pair], image: torch.Tensor | None = None) -> float:
    """Share of hits whose audio ranks their own part's crop first among the crops of its scene's parts.
    image: the crops' embeddings when already computed (a frozen image tower)."""
    if not pairs:
        return float("nan")
    model.eval()
    audio, crops, _ = _tensors(pairs)
    a, i = model.audio(audio), model.image(crops) if image is None else image
    hits = 0
    for scene in {p.scene for p in pairs}:
        idx = [k for k, p in enumerate(pairs) if p.scene == scene]
        parts = {}
        for k in idx:
            parts.setdefault(pairs[k].part, k)  # one crop per part
        keys = list(parts)
        scores = a[idx] @ i[[parts[q] for q in keys]].T
        best = scores.argmax(dim=1)
        hits += sum(keys[int(b)] == pairs[k].part for b, k in zip(best, idx))
    return hits / len(pairs)


def train_encoders(dataset: str | Path | list[str | Path], out: str | Path, config: TrainConfig | None = None,
                   progress: bool = True) -> dict:
    """Trains on the dataset's train split, reports within-scene accuracy on its test split.
    dataset: one folder, or several whose train splits (and test splits) are pooled, e.g. extra
    training-only scenes (`vaf world dataset --test-fraction 0`) beside the evaluation dataset."""
    datasets = [Path(d) for d in (dataset if isinstance(dataset, list) else [dataset])]
    config = config or TrainConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rate = config.audio.get("sample_rate", 24000)
    model = EncoderPair(config)  # first: a bad encoder config or checkpoint fails before the slow data loading
    checkpoint = out / "checkpoint.pt"
    run = run_config(config, datasets)  # resuming on other data is refused too
    check_resumable(checkpoint, run)
    train = [p for d in datasets for p in load_pairs(d, "train", rate)]
    test = [p for d in datasets for p in load_pairs(d, "test", rate)]
    if len(train) < config.batch:
        raise ValueError(f"{', '.join(map(str, datasets))}: {len(train)} training pairs, fewer than one batch of {config.batch}")
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = len(train) // config.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, config.lr, total_steps=config.epochs * steps_per_epoch)
    start, history = resume(checkpoint, run, gen, model=model, opt=opt, sched=sched)
    audio, crops, groups = _tensors(train)
    # A frozen tower (pretrained CLIP) sees un-augmented crops, embedded once: as in the seed, only
    # the audio side learns.
    fixed = embed_crops(model.image, crops, progress=progress) if frozen(model.image) else None
    fixed_test = embed_crops(model.image, _tensors(test)[1], progress=progress) if fixed is not None and test else None
    bar = tqdm(range(start, config.epochs), desc="encoders", unit="epoch", disable=not progress, initial=start, total=config.epochs)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(train), generator=gen)
        losses = []
        for b in range(steps_per_epoch):
            sel = order[b * config.batch : (b + 1) * config.batch]
            c, a = _augment(crops[sel], audio[sel], gen)
            image = model.image(c) if fixed is None else fixed[sel]
            loss = contrastive_loss(model.audio(a), image, model.logit_scale, groups[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        entry = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "test_within_scene_acc": within_scene_accuracy(model, test, fixed_test)}
        history.append(entry)
        bar.set_postfix(loss=f"{entry['loss']:.3f}", test_acc=f"{entry['test_within_scene_acc']:.3f}")
        save_checkpoint(checkpoint, run, epoch + 1, history, gen, model=model, opt=opt, sched=sched)
    room = recordings_room(datasets)  # the room the audio encoder heard: a dry clip is localised in it (docs/protocol.md)
    torch.save({"model": model.state_dict(), "config": asdict(config), "recordings_room": room}, out / "encoders.pt")
    report = {"datasets": [str(d) for d in datasets], "train_pairs": len(train), "test_pairs": len(test), "history": history,
              "config": asdict(config), "recordings_room": room}
    (out / "training.json").write_text(json.dumps(report, indent=1))
    return report


def load_encoders(path: str | Path) -> EncoderPair:
    """An EncoderPair from encoders.pt (or a checkpoint.pt), in eval mode."""
    state = torch.load(path, weights_only=False)
    config = TrainConfig(**{k: v for k, v in state["config"].items() if k != "datasets"})
    if "checkpoint" in config.image:  # the weights are in `state`: do not read the pretrained file again
        config.image = {**config.image, "checkpoint": None}
    model = EncoderPair(config)
    model.load_state_dict(state["model"])
    return model.eval()
