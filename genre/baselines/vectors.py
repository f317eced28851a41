"""The per-clip vectors a classic baseline reads: one source per name, for a split and for new files.

- `handcrafted`: the stored engineered vector (`genre.data.features.handcrafted`).
- `musicnn_embeddings`: the pretrained musicnn tagger's output `embedding_layer`, mean and std over a
  clip's stored `musicnn` patches (`genre.models.musicnn_embeddings`; cached in the data folder).

Each source says which stored feature kind it needs, gives a split's vectors and labels (or a role's of a
cross-validation fold, in the order `genre.data.pipeline.track_ids` gives that role's ids), and turns the
stored features of a new file's segments into vectors the same way (`genre predict`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from genre.data.folds import Fold


@dataclass(frozen=True)
class VectorSource:
    name: str
    stored_kind: str  # the feature kind a data set must hold
    split: Callable[[Path, str, str, Fold | None], tuple[np.ndarray, np.ndarray]]  # (data, split, layer, fold)
    of_stored: Callable[[np.ndarray, str], np.ndarray]  # (stored features of clips, layer) -> x


def _stored_split(data: Path, split: str, layer: str, fold: Fold | None = None) -> tuple[np.ndarray, np.ndarray]:
    from genre.data import load_arrays

    x, y, _ = load_arrays(data, split, "handcrafted", fold=fold)
    return x.reshape(len(x), -1), y


def _embeddings_split(data: Path, split: str, layer: str, fold: Fold | None = None) -> tuple[np.ndarray, np.ndarray]:
    from genre.models.musicnn_embeddings import musicnn_embeddings

    return musicnn_embeddings(data, split, layer, fold=fold)


def _embeddings_of(patches: np.ndarray, layer: str) -> np.ndarray:
    from genre.models.musicnn_embeddings import clip_embeddings

    return clip_embeddings(patches, layer)


SOURCES: dict[str, VectorSource] = {
    s.name: s
    for s in (
        VectorSource(
            "handcrafted", "handcrafted", _stored_split, lambda stored, layer: stored.reshape(len(stored), -1)
        ),
        VectorSource("musicnn_embeddings", "musicnn", _embeddings_split, _embeddings_of),
    )
}


def get_source(name: str) -> VectorSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown baseline features {name!r}; valid features are {list(SOURCES)}") from None
