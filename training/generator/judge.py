"""A material judge for the generator's "heard material" term (losses.heard_material_loss).

A small CNN names the struck material from a clip's log-mel spectrogram. It is trained on the
training recordings (after the seed's preprocessing) before the generator, then frozen; the
generator is then asked to make sounds this judge hears as the right material. The eval's
material classifier (training/eval/generator.py) is another model on other inputs (a linear
map of per-band log-mel statistics), so its verdict on a generator trained this way still
measures whether the sounds read as their material, not whether they fooled one judge.
"""

from __future__ import annotations

import torch
from torch import nn
from tqdm import tqdm

from vaf.training.encoders.logmel import LogMel


class MaterialJudge(nn.Module):
    """(B, n_mels, frames) natural-log mel power -> (B, classes) logits. Three 3x3 convolutions
    (two 2x2 poolings), then the mean and maximum over time and frequency, then one linear layer."""

    def __init__(self, classes: int, channels: tuple[int, int, int] = (16, 32, 48)):
        super().__init__()
        a, b, c = channels
        self.conv = nn.Sequential(nn.Conv2d(1, a, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
                                  nn.Conv2d(a, b, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
                                  nn.Conv2d(b, c, 3, padding=1), nn.GELU())
        self.head = nn.Linear(2 * c, classes)
        # one mean and spread of the training log-mels, so the convolutions see values near 0
        self.register_buffer("level_mean", torch.zeros(()))
        self.register_buffer("level_std", torch.ones(()))

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        h = self.conv(((log_mel - self.level_mean) / self.level_std)[:, None])
        return self.head(torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=-1))


def fit_material_judge(judge: MaterialJudge, clips: torch.Tensor, labels: torch.Tensor, mel: LogMel, epochs: int = 10,
                       batch: int = 64, lr: float = 2e-3, seed: int = 0, progress: bool = True,
                       desc: str = "material judge") -> MaterialJudge:
    """Trains `judge` in place on preprocessed recordings, clips: (N, T) float32; labels: (N,) class
    indices; then freezes it (eval mode, no gradients to its weights). The global random stream is
    left as it was, so a run's generator starts from the same weights with or without a judge."""
    log_mels = log_mels_of(clips, mel)
    judge.level_mean.fill_(log_mels.mean().item())
    judge.level_std.fill_(log_mels.std().item())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for layer in judge.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                layer.reset_parameters()
        order_gen = torch.Generator().manual_seed(seed)
        judge.train().requires_grad_(True)
        opt = torch.optim.AdamW(judge.parameters(), lr=lr, weight_decay=1e-3)
        for _ in tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress):
            order = torch.randperm(len(log_mels), generator=order_gen)
            for b in range(0, len(order), batch):
                index = order[b : b + batch]
                loss = nn.functional.cross_entropy(judge(log_mels[index]), labels[index])
                opt.zero_grad()
                loss.backward()
                opt.step()
    return judge.eval().requires_grad_(False)


@torch.no_grad()
def judge_accuracy(judge: MaterialJudge, clips: torch.Tensor, labels: torch.Tensor, mel: LogMel) -> float:
    """Share of clips (N, T) the judge names right (labels (N,) class indices)."""
    log_mels = log_mels_of(clips, mel)
    predicted = torch.cat([judge(log_mels[i : i + 256]).argmax(dim=-1) for i in range(0, len(log_mels), 256)])
    return float((predicted == labels).float().mean())


@torch.no_grad()
def log_mels_of(clips: torch.Tensor, mel: LogMel, chunk: int = 256) -> torch.Tensor:
    """(N, T) clips -> (N, n_mels, frames), `chunk` clips at a time (the STFT's working memory stays small)."""
    return torch.cat([mel(clips[i : i + chunk]) for i in range(0, len(clips), chunk)])
