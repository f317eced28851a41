"""Pretrained weights in a local cache, one module per model that has them (`musicnn`); fetched by
one explicit command (`genre weights fetch NAME`), never at import, build or test time.

The cache folder is the `cache_dir` a caller gives, else `$GENRE_CACHE`, else `~/.cache/genre` (read
when a path is resolved, never at import; like `KERAS_HOME` for Keras).
"""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """`$GENRE_CACHE` if set, else `~/.cache/genre`."""
    return Path(os.environ.get("GENRE_CACHE") or Path.home() / ".cache" / "genre").expanduser()
