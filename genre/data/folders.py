"""The folder source: `ROOT/<genre>/<file>.{mp3,wav,flac,ogg,au}`, the layout most collections have.

Each sub-folder of ROOT is a genre (its name is the label); the files anywhere below it, in nested
folders too, are numbered in sorted order (genre, then path) to give them track ids, and split with
the seeded stratified split. Extensions match in any case (`.MP3`). Symbolic links are followed;
a link that leads back into a folder already read (a loop), a broken link, a folder that cannot
be listed and files with other extensions are listed as skipped with the reason; hidden files
and folders are ignored.
"""

from __future__ import annotations

import errno
import os
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
    seen = {(d.stat().st_dev, d.stat().st_ino) for d in genre_dirs}  # a link to another genre's folder: a duplicate
    for genre_dir in genre_dirs:
        found = sorted(_walk(genre_dir, seen).items())
        if not any(reason is None and f.suffix.lower() in AUDIO_EXTENSIONS for f, reason in found):
            raise CatalogError(f"{genre_dir}: genre folder holds no audio files (extensions {list(AUDIO_EXTENSIONS)})")
        for f, reason in found:
            track_id += 1
            if reason is None and f.suffix.lower() not in AUDIO_EXTENSIONS:
                reason = f"unsupported extension {f.suffix or '(none)'!r}; supported: {list(AUDIO_EXTENSIONS)}"
            if reason is None:
                rows.append({"track_id": track_id, "path": str(f), "genre": genre_dir.name})
            else:
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


def _walk(folder: Path, seen: set[tuple[int, int]]) -> dict[Path, str | None]:
    """Every non-hidden file below `folder`, following links, each with None or why it is left out.

    `seen` holds the (device, inode) of the folders read so far, so a link back into one (a loop,
    or a second way to the same files) is reported once instead of read again or forever.
    """
    info = folder.stat()
    seen.add((info.st_dev, info.st_ino))
    found: dict[Path, str | None] = {}
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as err:
        return {folder: f"folder cannot be listed: {err.strerror or type(err).__name__}"}
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            target = path.stat()  # follows links
        except OSError as err:
            found[path] = "symbolic link loop" if err.errno == errno.ELOOP else _broken(entry, err)
            continue
        if entry.is_dir():
            if (target.st_dev, target.st_ino) in seen:
                found[path] = f"link to a folder already read ({os.path.realpath(path)}): a loop or a duplicate"
            else:
                found.update(_walk(path, seen))
        elif entry.is_file():
            found[path] = None
        else:
            found[path] = "not a regular file"
    return found


def _broken(entry: os.DirEntry, err: OSError) -> str:
    if entry.is_symlink():
        return f"broken symbolic link to {os.readlink(entry.path)!r}"
    return f"cannot be read: {err.strerror or type(err).__name__}"
