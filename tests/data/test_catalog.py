"""Catalog invariants and the seeded stratified split."""

from __future__ import annotations

import pandas as pd
import pytest

from genre.data.catalog import Catalog, CatalogError, stratified_split


def _frame(n_per_genre=10, genres=("a", "b")):
    rows = [{"track_id": i * 10 + g, "genre": genre} for g, genre in enumerate(genres) for i in range(n_per_genre)]
    return pd.DataFrame(rows)


def test_split_fractions_per_genre_and_reproducible():
    frame = _frame(25)
    split = stratified_split(frame["track_id"], frame["genre"], seed=5)
    assert split.tolist() == stratified_split(frame["track_id"], frame["genre"], seed=5).tolist()
    counts = pd.crosstab(frame["genre"], split)
    assert counts.loc["a"].to_dict() == {"test": 5, "train": 16, "validation": 4}
    assert counts.loc["b"].to_dict() == {"test": 5, "train": 16, "validation": 4}


def test_split_does_not_depend_on_row_order():
    frame = _frame(10)
    shuffled = frame.sample(frac=1.0, random_state=0)
    a = dict(zip(frame["track_id"], stratified_split(frame["track_id"], frame["genre"], 1), strict=True))
    b = dict(zip(shuffled["track_id"], stratified_split(shuffled["track_id"], shuffled["genre"], 1), strict=True))
    assert a == b


def test_tiny_classes_still_split():
    frame = _frame(1)
    assert stratified_split(frame["track_id"], frame["genre"], 0).tolist() == ["train", "train"]


def test_bad_fractions_are_refused():
    frame = _frame(3)
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split(frame["track_id"], frame["genre"], 0, (0.5, 0.5, 0.5))


@pytest.mark.parametrize(
    ("tracks", "genres", "message"),
    [
        (pd.DataFrame({"track_id": [1], "path": ["x"], "genre": ["a"]}), ("a",), "lacks column"),
        (
            pd.DataFrame({"track_id": [1], "path": ["x"], "genre": ["a"], "split": ["training"]}),
            ("a",),
            "unknown split",
        ),
        (
            pd.DataFrame({"track_id": [1], "path": ["x"], "genre": ["z"], "split": ["train"]}),
            ("a",),
            "outside its genre",
        ),
        (
            pd.DataFrame({"track_id": [1, 1], "path": ["x", "y"], "genre": ["a", "a"], "split": ["train"] * 2}),
            ("a",),
            "more than once",
        ),
    ],
)
def test_catalog_invariants(tracks, genres, message):
    with pytest.raises(CatalogError, match=message):
        Catalog(tracks=tracks, genres=genres, source={})
