"""The catalog: one row per clip, the only thing a source hands to `prepare`.

A source (FMA metadata, a folder tree) produces a `Catalog`: a table with the columns
`track_id, path, genre, split` (plus optional extras such as `artist_id`), the ordered genre
names, the tracks the source itself had to drop (with reasons), and a description of where it
came from. This module also owns the seeded stratified split used by every source that has no
official split of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

SPLITS: tuple[str, ...] = ("train", "validation", "test")
REQUIRED_COLUMNS: tuple[str, ...] = ("track_id", "path", "genre", "split")
# The study's clip-level split: 64% train, 16% validation, 20% test.
STUDY_FRACTIONS: tuple[float, float, float] = (0.64, 0.16, 0.20)
# Written by `genre synth` at the root of a generated tree, so nothing made from it passes for real music.
SYNTHETIC_MARKER = "SYNTHETIC.json"


class CatalogError(ValueError):
    """A source cannot be read: the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Skip:
    """A clip left out, and why. Every skip ends up in the manifest."""

    track_id: int
    path: str
    reason: str

    def as_dict(self) -> dict:
        return {"track_id": self.track_id, "path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class Catalog:
    tracks: pd.DataFrame
    genres: tuple[str, ...]
    source: dict
    synthetic: bool = False
    skipped: tuple[Skip, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        missing = [c for c in REQUIRED_COLUMNS if c not in self.tracks.columns]
        if missing:
            raise CatalogError(f"catalog lacks column(s) {missing}; a catalog needs {list(REQUIRED_COLUMNS)}")
        bad_splits = sorted(set(self.tracks["split"]) - set(SPLITS))
        if bad_splits:
            raise CatalogError(f"catalog has unknown split(s) {bad_splits}; valid splits are {list(SPLITS)}")
        bad_genres = sorted(set(self.tracks["genre"]) - set(self.genres))
        if bad_genres:
            raise CatalogError(f"catalog has genre(s) {bad_genres} outside its genre list {list(self.genres)}")
        if self.tracks["track_id"].duplicated().any():
            dup = self.tracks.loc[self.tracks["track_id"].duplicated(), "track_id"].iloc[0]
            raise CatalogError(f"catalog has track_id {dup} more than once")

    def label(self, genre: str) -> int:
        return self.genres.index(genre)


def stratified_split(
    track_ids: pd.Series,
    genres: pd.Series,
    seed: int,
    fractions: tuple[float, float, float] = STUDY_FRACTIONS,
) -> pd.Series:
    """Assign each track to train/validation/test, per genre, reproducibly from `seed`.

    Written here rather than taken from scikit-learn because `train_test_split` refuses classes
    with fewer than two members, and a small folder of music must still split.
    """
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-9 or min(fractions) < 0:
        raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
    frame = pd.DataFrame({"track_id": track_ids.to_numpy(), "genre": genres.to_numpy()})
    rng = np.random.default_rng(seed)
    split = pd.Series(index=frame["track_id"].to_numpy(), dtype=object)
    for genre in sorted(frame["genre"].unique()):
        ids = np.sort(frame.loc[frame["genre"] == genre, "track_id"].to_numpy())
        ids = rng.permutation(ids)
        n_test = round(len(ids) * fractions[2])
        n_val = round(len(ids) * fractions[1])
        split[ids[:n_test]] = "test"
        split[ids[n_test : n_test + n_val]] = "validation"
        split[ids[n_test + n_val :]] = "train"
    return pd.Series(split.loc[track_ids.to_numpy()].to_numpy(), index=track_ids.index, dtype=object)


def is_synthetic(root: Path) -> bool:
    return (Path(root) / SYNTHETIC_MARKER).is_file()
