"""Multi-level masks of a rendered view: (H, W, 3) segment ids (subpart, part, object), -1 where none.

Two sources, one signature (``masks(view: Rendering) -> (H, W, 3) int``):

- ``oracle_masks(labels)``: known per-Gaussian segment ids (synthetic scenes, labelled imports);
  ids are the scene's own, the same in every view.
- ``SamMasks``: segment-anything prompted with a grid of points, as the seed (and LangSplat) use
  it. For every point SAM returns three nested masks; sorted by area they are the point's
  subpart, part and object. Per level, masks under the predicted-IoU or stability thresholds
  are dropped, overlapping duplicates removed by non-maximum suppression, and the survivors
  painted largest first, so each pixel gets the smallest mask of that level covering it. Ids
  are per view (SAM does not know that two views show the same thing); lifting does not need
  them to agree, and 3D segments come from the lifted features (features/segments.py).
  Weights load only from a local checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from vaf.training.render.rasterizer import Rendering

if TYPE_CHECKING:  # torch loads with SamMasks only: oracle masks, and so `vaf scene build` by default, go without it
    import torch

MaskSource = Callable[[Rendering], np.ndarray]
SAM_MODELS = ("vit_b", "vit_l", "vit_h")


def oracle_masks(labels: np.ndarray) -> MaskSource:
    """Masks from known per-Gaussian segment ids (N, 3): the top Gaussian's ids at each pixel, -1 for none."""
    def masks(view: Rendering) -> np.ndarray:
        top = view.top
        return np.where(top[..., None] >= 0, labels[np.maximum(top, 0)], -1)
    return masks


def paint_levels(masks: np.ndarray, level: np.ndarray, height: int, width: int) -> np.ndarray:
    """masks: (M, H, W) bool, level: (M,) in 0..2 -> (H, W, 3) int32 ids (mask index), -1 where no mask
    of that level covers the pixel; larger masks are painted first, so the smallest covering one wins."""
    out = np.full((height, width, 3), -1, np.int32)
    if not len(masks):
        return out
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    for m in np.argsort(-areas, kind="stable"):
        out[..., level[m]][masks[m]] = m
    return out


class SamMasks:
    """segment-anything on a grid of point prompts -> three levels of masks per view (see the module docstring).

    sam: a ``segment_anything.modeling.Sam`` (see ``from_checkpoint``); points_per_side: the grid;
    thresholds on SAM's predicted IoU and on mask stability; nms_iou: boxes overlapping more are duplicates;
    min_pixels: smaller masks are dropped."""

    def __init__(self, sam: torch.nn.Module, points_per_side: int = 16, iou_threshold: float = 0.8,
                 stability_threshold: float = 0.85, nms_iou: float = 0.7, min_pixels: int = 16, batch: int = 64):
        from segment_anything import SamPredictor

        if points_per_side < 1:
            raise ValueError(f"points_per_side must be >= 1, got {points_per_side}")
        self.predictor = SamPredictor(sam.eval())
        self.points_per_side, self.batch = points_per_side, batch
        self.iou_threshold, self.stability_threshold = iou_threshold, stability_threshold
        self.nms_iou, self.min_pixels = nms_iou, min_pixels
        self.checkpoint: dict | None = None  # the weights' file, when loaded from one (from_checkpoint)

    def identity(self) -> dict | None:
        """What this source's masks depend on (the checkpoint file and the settings), for resuming a build
        (features/mask_cache.py); None for a model built in code, whose weights nothing names."""
        if self.checkpoint is None:
            return None
        return {**self.checkpoint, "points_per_side": self.points_per_side, "iou_threshold": self.iou_threshold,
                "stability_threshold": self.stability_threshold, "nms_iou": self.nms_iou, "min_pixels": self.min_pixels}

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, model_type: str = "vit_b", **options) -> SamMasks:
        """A released SAM checkpoint (e.g. sam_vit_b_01ec64.pth) from local disk; ValueError naming the field."""
        from segment_anything import sam_model_registry

        if model_type not in SAM_MODELS:
            raise ValueError(f"sam model type must be one of {', '.join(SAM_MODELS)}, got {model_type!r}")
        if not Path(checkpoint).is_file():
            raise ValueError(f"sam checkpoint: {checkpoint} does not exist (weights are never downloaded)")
        try:
            sam = sam_model_registry[model_type](checkpoint=str(checkpoint))
        except RuntimeError as e:
            raise ValueError(f"sam checkpoint {checkpoint} does not fit {model_type}: {str(e)[:300]}") from None
        masks = cls(sam, **options)
        stat = Path(checkpoint).stat()
        masks.checkpoint = {"checkpoint": str(Path(checkpoint).resolve()), "bytes": stat.st_size,
                            "modified_ns": stat.st_mtime_ns, "model": model_type}
        return masks

    def __call__(self, view: Rendering) -> np.ndarray:
        import torch
        from segment_anything.utils.amg import batched_mask_to_box, calculate_stability_score
        from torchvision.ops import batched_nms

        with torch.no_grad():
            height, width = view.top.shape
            self.predictor.set_image(np.clip(view.rgb * 255.0 + 0.5, 0, 255).astype(np.uint8))
            step = (np.arange(self.points_per_side) + 0.5) / self.points_per_side
            grid = np.stack(np.meshgrid(step * width, step * height), axis=-1).reshape(-1, 2)
            kept_masks, kept_scores, kept_levels = [], [], []
            for i in range(0, len(grid), self.batch):
                points = torch.as_tensor(self.predictor.transform.apply_coords(grid[i : i + self.batch], (height, width)),
                                         dtype=torch.float32)[:, None, :]
                logits, iou, _ = self.predictor.predict_torch(points, torch.ones(len(points), 1), multimask_output=True,
                                                              return_logits=True)
                masks = logits > self.predictor.model.mask_threshold  # (B, 3, H, W)
                by_area = torch.argsort(masks.flatten(2).sum(-1), dim=1)  # per point: subpart, part, object
                stability = calculate_stability_score(logits.flatten(0, 1), self.predictor.model.mask_threshold, 1.0)
                level = torch.empty_like(by_area)
                level.scatter_(1, by_area, torch.arange(3).expand_as(by_area))
                keep = ((iou.flatten() >= self.iou_threshold) & (stability >= self.stability_threshold)
                        & (masks.flatten(0, 1).flatten(1).sum(-1) >= self.min_pixels))
                kept_masks.append(masks.flatten(0, 1)[keep])
                kept_scores.append(iou.flatten()[keep])
                kept_levels.append(level.flatten()[keep])
            masks, scores, levels = torch.cat(kept_masks), torch.cat(kept_scores), torch.cat(kept_levels)
            if len(masks):
                survivors = batched_nms(batched_mask_to_box(masks).float(), scores, levels, self.nms_iou)
                masks, levels = masks[survivors], levels[survivors]
        ids = paint_levels(masks.numpy(), levels.numpy(), height, width)
        ids[view.top < 0] = -1  # background: no Gaussian to lift onto
        return ids
