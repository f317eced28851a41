"""Cross-validation folds of genre.data.folds: coverage, disjointness, seeding, artist grouping."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from genre.data.folds import make_folds

GENRES = ("Folk", "Hip-Hop", "Pop", "Rock")


def _clips(per_genre: int = 25, artists_per_genre: int = 8, seed: int = 0) -> pd.DataFrame:
    """A catalog-like frame: shuffled, non-contiguous track ids, artists each within one genre."""
    rng = np.random.default_rng(seed)
    n = per_genre * len(GENRES)
    genre = np.repeat(GENRES, per_genre)
    artist = np.array([f"{g}-{rng.integers(artists_per_genre)}" for g in genre])
    frame = pd.DataFrame({"track_id": rng.choice(100_000, n, replace=False), "genre": genre, "artist_id": artist})
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)


def test_every_clip_is_in_exactly_one_test_fold_per_repeat():
    clips = _clips()
    folds = make_folds(clips["track_id"], clips["genre"], k=5, repeats=2, seed=3)
    assert len(folds) == 10
    for repeat in (0, 1):
        tests = np.concatenate([f.test for f in folds if f.repeat == repeat])
        assert np.array_equal(np.sort(tests), np.sort(clips["track_id"].to_numpy()))
        validations = np.concatenate([f.validation for f in folds if f.repeat == repeat])
        assert np.array_equal(np.sort(validations), np.sort(clips["track_id"].to_numpy()))


def test_no_test_clip_trains_or_validates():
    clips = _clips()
    for fold in make_folds(clips["track_id"], clips["genre"], k=4, seed=0, groups=clips["artist_id"]):
        assert not set(fold.test) & set(fold.train)
        assert not set(fold.test) & set(fold.validation)
        assert not set(fold.validation) & set(fold.train)
        assert len(fold.train) + len(fold.validation) + len(fold.test) == len(clips)


def test_same_seed_same_folds_whatever_the_row_order():
    clips = _clips()
    first = make_folds(clips["track_id"], clips["genre"], k=5, seed=11)
    shuffled = clips.sample(frac=1.0, random_state=9)
    again = make_folds(shuffled["track_id"], shuffled["genre"], k=5, seed=11)
    assert [f.to_dict() for f in first] == [f.to_dict() for f in again]
    other = make_folds(clips["track_id"], clips["genre"], k=5, seed=12)
    assert [f.to_dict() for f in first] != [f.to_dict() for f in other]


def test_repeats_differ():
    clips = _clips()
    folds = make_folds(clips["track_id"], clips["genre"], k=5, repeats=2, seed=3)
    assert [f.test.tolist() for f in folds[:5]] != [f.test.tolist() for f in folds[5:]]


def test_folds_are_stratified_by_genre():
    clips = _clips(per_genre=25)
    genre_of = dict(zip(clips["track_id"], clips["genre"], strict=True))
    for fold in make_folds(clips["track_id"], clips["genre"], k=5, seed=0):
        counts = pd.Series([genre_of[t] for t in fold.test]).value_counts()
        assert set(counts.index) == set(GENRES)
        assert (counts == 5).all()


def test_artist_grouping_keeps_each_artist_in_one_fold():
    clips = _clips()
    artist_of = dict(zip(clips["track_id"], clips["artist_id"], strict=True))
    folds = make_folds(clips["track_id"], clips["genre"], k=4, repeats=2, seed=5, groups=clips["artist_id"])
    for repeat in (0, 1):
        fold_of_artist: dict[str, int] = {}
        for fold in (f for f in folds if f.repeat == repeat):
            for t in fold.test:
                assert fold_of_artist.setdefault(artist_of[t], fold.fold) == fold.fold
        assert len(fold_of_artist) == clips["artist_id"].nunique()
    for fold in folds:
        train_artists = {artist_of[t] for t in fold.train} | {artist_of[t] for t in fold.validation}
        assert not {artist_of[t] for t in fold.test} & train_artists


def test_split_of_names_each_clip_once():
    clips = _clips()
    fold = make_folds(clips["track_id"], clips["genre"], k=5, seed=0)[0]
    split = fold.split_of()
    assert len(split) == len(clips)
    assert {t for t, s in split.items() if s == "test"} == set(fold.test.tolist())


def test_a_genre_with_fewer_clips_than_k_is_named():
    clips = _clips()
    clips = pd.concat([clips, pd.DataFrame({"track_id": [-1, -2], "genre": ["Jazz", "Jazz"], "artist_id": ["j", "j"]})])
    with pytest.raises(ValueError, match=r"at least 5 clips per genre; too few: 'Jazz' \(2\)"):
        make_folds(clips["track_id"], clips["genre"], k=5, seed=0)


def test_a_genre_with_fewer_artists_than_k_is_named():
    clips = _clips(artists_per_genre=8)
    clips.loc[clips["genre"] == "Pop", "artist_id"] = "one-pop-artist"
    with pytest.raises(ValueError, match=r"too few artists: 'Pop' \(1\)"):
        make_folds(clips["track_id"], clips["genre"], k=4, seed=0, groups=clips["artist_id"])


def test_k_below_three_is_refused():
    clips = _clips()
    with pytest.raises(ValueError, match="k=2"):
        make_folds(clips["track_id"], clips["genre"], k=2, seed=0)
