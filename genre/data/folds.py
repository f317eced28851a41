"""Cross-validation folds as a choice of clips, so that one preparation serves every fold.

This module owns which clips train, validate and test in each fold of a (repeated) k-fold
cross-validation. It only chooses track ids: the shards and manifest of a prepared data set are
read as they are, and a fold is applied by filtering records on their `track_id`.

For each repeat the clips are cut into k folds, stratified by genre at clip level
(scikit-learn's `StratifiedKFold`), or, when artist ids are given, grouped by artist
(`StratifiedGroupKFold`): all of an artist's clips fall in the same fold, so no artist is heard
both in training and in test. Fold i is the test set; **the validation set is the next fold,
(i + 1) mod k**, and training is the remaining k - 2 folds. Taking a whole fold, rather than a
slice of the training part, keeps the artist grouping and the stratification for validation
too, and makes every clip a validation clip exactly once per repeat. With k = 5 this gives
60/20/20, near the study's 64/16/20 split. Hence k must be at least 3.

The same seed gives the same folds, whatever order the clips come in; each repeat draws its
own shuffle from the seed, so repeats differ.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from genre.data.catalog import SPLITS

if TYPE_CHECKING:
    from genre.data.manifest import Manifest


@dataclass(frozen=True)
class Fold:
    """The track ids of one fold of one repeat (each array sorted, int64)."""

    repeat: int
    fold: int
    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def split_of(self) -> dict[int, str]:
        """track id -> "train" / "validation" / "test", the catalog's split names."""
        return {
            int(t): split
            for split, ids in zip(SPLITS, (self.train, self.validation, self.test), strict=True)
            for t in ids
        }

    @property
    def name(self) -> str:
        """`r<repeat>-f<fold>`, as runs and reports name it."""
        return f"r{self.repeat}-f{self.fold}"

    def to_dict(self) -> dict:
        return {
            "repeat": self.repeat,
            "fold": self.fold,
            "train": self.train.tolist(),
            "validation": self.validation.tolist(),
            "test": self.test.tolist(),
        }

    @classmethod
    def from_dict(cls, raw: dict) -> Fold:
        roles = {role: np.sort(np.asarray(raw[role], dtype=np.int64)) for role in SPLITS}
        return cls(repeat=int(raw["repeat"]), fold=int(raw["fold"]), **roles)


def make_folds(
    track_ids: Sequence[int] | np.ndarray | pd.Series,
    genres: Sequence[str] | np.ndarray | pd.Series,
    *,
    k: int,
    repeats: int = 1,
    seed: int,
    groups: Sequence | np.ndarray | pd.Series | None = None,
) -> list[Fold]:
    """`repeats * k` folds, repeat by repeat and fold by fold (see the module docstring).

    `track_ids`, `genres` and `groups` (artist ids, optional) are aligned, one entry per clip,
    e.g. the columns of a catalog. Raises ValueError when k < 3, when a genre has fewer than k
    clips (or, grouped, fewer than k artists), or when the inputs do not line up.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    ids, genre, group = _inputs(track_ids, genres, groups)
    if not isinstance(k, int | np.integer) or k < 3:
        raise ValueError(f"k={k!r}: folds need k >= 3 (one fold tests, the next validates, the rest train)")
    if not isinstance(repeats, int | np.integer) or repeats < 1:
        raise ValueError(f"repeats={repeats!r}: need at least 1")
    _check_enough(genre, group, k)

    # Sorting by track id makes the folds depend on the seed only, not on the order of the rows.
    order = np.argsort(ids, kind="stable")
    ids, genre = ids[order], genre[order]
    group = group[order] if group is not None else None
    repeat_seeds = np.random.SeedSequence(seed).generate_state(repeats)

    folds = []
    for repeat, repeat_seed in enumerate(repeat_seeds):
        state = int(repeat_seed) % 2**31
        if group is None:
            splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=state)
            tests = [test for _, test in splitter.split(ids, genre)]
        else:
            splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=state)
            tests = [test for _, test in splitter.split(ids, genre, group)]
        for i in range(k):
            validation = tests[(i + 1) % k]
            train = np.setdiff1d(np.arange(len(ids)), np.concatenate([tests[i], validation]))
            folds.append(Fold(repeat, i, np.sort(ids[train]), np.sort(ids[validation]), np.sort(ids[tests[i]])))
    return folds


def _inputs(track_ids, genres, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    ids = np.asarray(track_ids)
    genre = np.asarray(genres, dtype=object)
    if ids.ndim != 1 or len(ids) != len(genre):
        raise ValueError(f"track_ids ({ids.shape}) and genres ({genre.shape}) must be 1-D, one entry per clip")
    if len(ids) == 0:
        raise ValueError("no clips to make folds of")
    if not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"track_ids must be integers, got dtype {ids.dtype}")
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"track_id {unique[counts > 1][0]} appears more than once")
    if groups is None:
        return ids.astype(np.int64), genre, None
    group = np.asarray(groups, dtype=object)
    if group.shape != ids.shape:
        raise ValueError(f"groups ({group.shape}) must have one artist id per clip ({ids.shape})")
    missing = pd.isna(group)
    if missing.any():
        raise ValueError(f"track {ids[missing][0]} has no artist id; artist-grouped folds need one for every clip")
    return ids.astype(np.int64), genre, group


def _check_enough(genre: np.ndarray, group: np.ndarray | None, k: int) -> None:
    clips = pd.Series(genre).value_counts().sort_index()
    few = clips[clips < k]
    if len(few):
        listing = ", ".join(f"{g!r} ({n})" for g, n in few.items())
        raise ValueError(f"{k}-fold cross-validation needs at least {k} clips per genre; too few: {listing}")
    if group is None:
        return
    artists = pd.DataFrame({"genre": genre, "artist": group}).groupby("genre")["artist"].nunique().sort_index()
    few = artists[artists < k]
    if len(few):
        listing = ", ".join(f"{g!r} ({n})" for g, n in few.items())
        raise ValueError(
            f"artist-grouped {k}-fold cross-validation needs clips by at least {k} artists per genre, "
            f"else some test folds lack the genre; too few artists: {listing}"
        )


def manifest_folds(
    manifest: Manifest,
    *,
    k: int,
    repeats: int = 1,
    seed: int,
    splits: Sequence[str] = SPLITS,
    track_ids: set[int] | None = None,
) -> list[Fold]:
    """The folds of a prepared data set's clips (its manifest's clip table, the split folders in `splits`
    pooled: every one by default; only the clips in `track_ids` when given), grouped by artist when
    every clip has an artist id."""
    clips = [c for c in manifest.clips if c["split"] in splits and (track_ids is None or c["track_id"] in track_ids)]
    if not clips:
        raise ValueError(f"the manifest lists no clips in the splits {list(splits)}; prepare the data set again")
    groups = [c["artist_id"] for c in clips] if manifest.has_artists else None
    return make_folds(
        [c["track_id"] for c in clips], [c["genre"] for c in clips], k=k, repeats=repeats, seed=seed, groups=groups
    )


def tuning_folds(data: str | Path, k: int, seed: int | None = None, within: Fold | None = None) -> list[Fold]:
    """K folds of a prepared data set's clips outside a test set (seeded by `seed`, else the data set's
    own): what a tuning study scores its trials on, so that no trial sees a test clip. The test set is
    the stored test split, or with `within` (an outer fold of a nested cross-validation) that fold's
    test clips: the folds are then cut from its training and validation clips. A ValueError naming
    the data set when those clips are too few for k folds."""
    from genre.data.manifest import read_manifest

    manifest = read_manifest(data)
    seed = manifest.seed if seed is None else seed
    if within is None:
        outside, selection = "the clips outside the test split", {"splits": ("train", "validation")}
    else:
        outside = f"fold {within.name}'s training and validation clips"
        selection = {"track_ids": set(np.concatenate([within.train, within.validation]).tolist())}
    try:
        return manifest_folds(manifest, k=k, seed=seed, **selection)
    except ValueError as err:
        raise ValueError(f"{data}: --folds {k} over {outside}: {err}") from None
