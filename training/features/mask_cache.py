"""A slow mask source's masks kept on disk view by view, so a build that stops resumes where it stopped.

segment-anything takes ~45 s a view on a CPU: 60 views are most of an hour, and a build stopped
at view 50 (Ctrl-C, a closed laptop, a killed process) would otherwise start again from the
first. ``ResumableMasks`` wraps such a source: the masks of the k-th view it is asked for are
kept in ``folder/view_k.npy`` as soon as they exist, and a later build asking with the same key
(everything the views' masks depend on: scene, cameras, renderer, the source's own settings)
reads them back instead of computing them. A folder holding another key's masks is refused,
not overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vaf.training.configs import config_differences
from vaf.training.features.masks import MaskSource
from vaf.training.render.rasterizer import Rendering
from vaf.training.whole_files import written_whole

KEY_FILE = "key.json"


def kept_views(folder: Path) -> int:
    """Views whose masks a stopped build kept in `folder` (0 if there is no such folder)."""
    return len(list(folder.glob("view_*.npy")))


class ResumableMasks:
    """masks: the slow source; folder: where the views' masks are kept (created); key: JSON-able description of
    everything they depend on. Views must be asked for in the same order on every run (embedded_views does)."""

    def __init__(self, masks: MaskSource, folder: str | Path, key: dict[str, Any]):
        self.masks, self.folder, self.calls = masks, Path(folder), 0
        key = json.loads(json.dumps(key))  # as it reads back from the file
        key_file = self.folder / KEY_FILE
        if key_file.exists():
            kept = json.loads(key_file.read_text())
            if kept != key:
                changed = "; ".join(config_differences(kept, key))
                raise ValueError(f"{self.folder} holds the masks of another build ({changed}); remove it to start "
                                 "afresh, or build with the same inputs to resume")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            key_file.write_text(json.dumps(key, indent=1))

    @property
    def kept(self) -> int:
        """Views whose masks are in the folder."""
        return kept_views(self.folder)

    def __call__(self, view: Rendering) -> np.ndarray:
        path = self.folder / f"view_{self.calls:04d}.npy"
        self.calls += 1
        if path.exists():
            return np.load(path)
        ids = self.masks(view)
        with written_whole(path) as partial, open(partial, "wb") as f:  # np.save(a path) would add ".npy" to it
            np.save(f, ids)
        return ids
