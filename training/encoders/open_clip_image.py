"""A pretrained open_clip image tower, frozen, as the image encoder (the seed's AudioCLIP setting:
CLIP sees, a trainable audio encoder learns to hear into its space).

Weights come only from local files the user gives; nothing is fetched:

    build_encoder({"type": "open_clip_image", "model": "ViT-B-32", "checkpoint": "/models/open_clip_vit_b32.bin"})
    build_encoder({"type": "open_clip_image", "model": "my_clip.json", "checkpoint": "my_clip.pt"})

``model`` is an architecture open_clip knows (``open_clip.list_models()``) or the path of an
open_clip model config JSON (``{"embed_dim": ..., "vision_cfg": {...}, "text_cfg": {...}}``);
``checkpoint`` is an open_clip state dict (``.bin``, ``.pt`` or ``.safetensors``, as open_clip
releases them). The text tower is dropped after loading. Input crops of any size are resized to
the tower's resolution and normalised with the tower's mean and std inside ``forward``, so the
exported ONNX takes the same (B, 3, S, S) RGB in [0, 1] as the default image encoder.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from vaf.training.features.crops import CROP_SIZE


def _architecture(model: str) -> str:
    """The open_clip model name for `model` (registering a config JSON first); ValueError naming the field."""
    import open_clip

    if ":" in model and not Path(model).is_file():
        raise ValueError(f"open_clip_image model: {model!r} names a remote source; give an architecture name or a "
                         "local config JSON (nothing is downloaded)")
    path = Path(model)
    if path.suffix == ".json":
        if not path.is_file():
            raise ValueError(f"open_clip_image model: config {path} does not exist")
        open_clip.add_model_config(path)
        return path.stem
    if model not in open_clip.list_models():
        raise ValueError(f"open_clip_image model: {model!r} is neither an open_clip architecture nor a config JSON")
    return model


class OpenClipImageEncoder(nn.Module):
    """(B, 3, size, size) float RGB in [0, 1] -> (B, dim) unit vectors; dim is the CLIP embedding size.

    checkpoint None builds the architecture only (for loading a saved encoders.pt)."""

    def __init__(self, model: str, checkpoint: str | None = None, size: int = CROP_SIZE):
        super().__init__()
        import open_clip

        name = _architecture(model)
        clip = open_clip.create_model(name, pretrained=None, pretrained_text=False)
        if checkpoint is not None:
            if not Path(checkpoint).is_file():
                raise ValueError(f"open_clip_image checkpoint: {checkpoint} does not exist")
            try:
                open_clip.load_checkpoint(clip, str(checkpoint))
            except RuntimeError as e:  # state dict does not fit the architecture
                raise ValueError(f"open_clip_image checkpoint {checkpoint} does not fit {model!r}: {str(e)[:300]}") from None
        self.tower = clip.visual.eval()
        self.tower.requires_grad_(False)
        self.size = size  # the crops the scene builder and the pairs feed
        self.resolution = tuple(int(v) for v in self.tower.image_size) if isinstance(self.tower.image_size, (tuple, list)) \
            else (int(self.tower.image_size),) * 2
        mean, std = getattr(self.tower, "image_mean", None), getattr(self.tower, "image_std", None)
        self.register_buffer("mean", torch.tensor(mean or open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std or open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1), persistent=False)
        with torch.no_grad():
            self.dim = int(self.tower(torch.zeros(1, 3, *self.resolution)).shape[1])

    def train(self, mode: bool = True) -> OpenClipImageEncoder:
        super().train(mode)
        self.tower.eval()  # frozen: no dropout or batch statistics, whatever the pair is doing
        return self

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if tuple(image.shape[2:]) != self.resolution:
            image = nn.functional.interpolate(image, size=self.resolution, mode="bilinear", align_corners=False)
        return nn.functional.normalize(self.tower((image - self.mean) / self.std), dim=-1)
