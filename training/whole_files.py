"""Files a stopped run must not leave half-written: checkpoints, a dataset's hit lists, kept masks."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """Yields a path beside `path` to write to, and renames it over `path` once the block ends without an error:
    `path` then holds the new content whole or, if the run dies while writing, its previous content (or nothing)."""
    partial = path.with_name(f".{path.name}.partial")
    yield partial
    os.replace(partial, path)
