"""The folder source: `ROOT/<genre>/<file>.{mp3,wav,flac,ogg,au}`, the layout most collections have.

Each sub-folder of ROOT is a genre (its name is the label); files are numbered in sorted order
(genre, then file name) to give them track ids, and split with the seeded stratified split.
Files with other extensions are listed as skipped; hidden files are ignored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from genre.data.audio import AUDIO_EXTENSIONS
from genre.data.catalog import STUDY_FRACTIONS, Catalog, CatalogError, Skip, is_synthetic, stratified_split


def load_folder_catalog(
    root: str | Path, seed: int = 0, fractions: tuple[float, float, float] = STUDY_FRACTIONS
) -> Catalog:
    root = Path(root)
    if not root.is_dir():
        raise CatalogError(f"{root}: no such folder (expected one sub-folder per genre)")
    genre_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not genre_dirs:
        raise CatalogError(f"{root}: no genre sub-folders (expected ROOT/<genre>/*{{{','.join(AUDIO_EXTENSIONS)}}})")
    rows, skipped = [], []
    track_id = 0
    for genre_dir in genre_dirs:
        files = sorted(f for f in genre_dir.rglob("*") if f.is_file() and not f.name.startswith("."))
        audio = [f for f in files if f.suffix.lower() in AUDIO_EXTENSIONS]
        if not audio:
            raise CatalogError(f"{genre_dir}: genre folder holds no audio files (extensions {list(AUDIO_EXTENSIONS)})")
        for f in files:
            track_id += 1
            if f.suffix.lower() in AUDIO_EXTENSIONS:
                rows.append({"track_id": track_id, "path": str(f), "genre": genre_dir.name})
            else:
                reason = f"unsupported extension {f.suffix or '(none)'!r}; supported: {list(AUDIO_EXTENSIONS)}"
                skipped.append(Skip(track_id, str(f), reason))
    frame = pd.DataFrame(rows)
    frame["split"] = stratified_split(frame["track_id"], frame["genre"], seed, fractions)
    return Catalog(
        tracks=frame,
        genres=tuple(d.name for d in genre_dirs),
        source={"kind": "folders", "root": str(root), "split": "random", "fractions": list(fractions)},
        synthetic=is_synthetic(root),
        skipped=tuple(skipped),
    )
