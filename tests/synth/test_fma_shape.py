"""The generated metadata reads like FMA's own, for the reference loader many studies copy.

``read_like_fma_reference`` is our own code that parses tracks.csv the way FMA's ``utils.load``
(mdeff/fma) does: two header rows and the track id as index, ``ast.literal_eval`` on the list
columns, ``pd.to_datetime`` on the date columns, the subset as an ordered category, and five
categorical columns. Each check runs on the real sample and on a generated tree.
"""

from __future__ import annotations

import ast

import pandas as pd
import pytest

from tests.conftest import FMA_SAMPLE

LIST_COLUMNS = [("track", "tags"), ("album", "tags"), ("artist", "tags"), ("track", "genres"), ("track", "genres_all")]
DATE_COLUMNS = [
    ("track", "date_created"),
    ("track", "date_recorded"),
    ("album", "date_created"),
    ("album", "date_released"),
    ("artist", "date_created"),
    ("artist", "active_year_begin"),
    ("artist", "active_year_end"),
]
CATEGORY_COLUMNS = [("track", "genre_top"), ("track", "license"), ("album", "type"), ("album", "information")]
CATEGORY_COLUMNS += [("artist", "bio")]
SUBSETS = ("small", "medium", "large")
REAL = FMA_SAMPLE / "fma_metadata"


def read_like_fma_reference(path) -> pd.DataFrame:
    tracks = pd.read_csv(path, index_col=0, header=[0, 1])
    for column in LIST_COLUMNS:  # NaN or a non-literal raises here, as in the reference loader
        tracks[column] = tracks[column].map(ast.literal_eval)
    for column in DATE_COLUMNS:
        tracks[column] = pd.to_datetime(tracks[column])
    tracks["set", "subset"] = tracks["set", "subset"].astype(pd.CategoricalDtype(SUBSETS, ordered=True))
    for column in CATEGORY_COLUMNS:
        tracks[column] = tracks[column].astype("category")
    return tracks


@pytest.fixture(params=["real", "generated"])
def metadata(request, synth_root):
    return REAL if request.param == "real" else synth_root / "fma_metadata"


def test_the_reference_parsing_holds(metadata):
    tracks = read_like_fma_reference(metadata / "tracks.csv")
    assert tracks.index.name == "track_id" and tracks.index.dtype == "int64"
    for column in LIST_COLUMNS:
        assert tracks[column].map(type).eq(list).all(), column
    for column in [("track", "genres"), ("track", "genres_all")]:
        assert all(isinstance(i, int) for ids in tracks[column] for i in ids), column
    for column in DATE_COLUMNS:
        assert pd.api.types.is_datetime64_any_dtype(tracks[column]), column
    assert tracks[("track", "date_created")].notna().all()
    small = tracks[tracks["set", "subset"] <= "small"]  # how FMA's own notebooks select fma_small
    assert len(small) > 0 and small["track", "genre_top"].notna().all()
    genres = pd.read_csv(metadata / "genres.csv", index_col=0)
    assert list(genres.columns) == ["#tracks", "parent", "title", "top_level"]
    tops = genres.loc[genres["parent"] == 0, "title"]
    assert set(small["track", "genre_top"]) <= set(tops)
    for top, ids in zip(small["track", "genre_top"], small["track", "genres_all"], strict=True):
        assert genres.loc[ids, "top_level"].map(genres["title"]).eq(top).any()  # genres_all reaches the top genre


def test_the_generated_columns_and_value_kinds_are_fma_s(synth_root):
    real = pd.read_csv(REAL / "tracks.csv", index_col=0, header=[0, 1], low_memory=False)
    ours = pd.read_csv(synth_root / "fma_metadata" / "tracks.csv", index_col=0, header=[0, 1])
    assert list(ours.columns) == list(real.columns)
    for column in real.columns:
        kind, mine = real[column].dtype.kind, ours[column].dtype.kind
        if kind in "iu":  # counts and ids: whole numbers, never missing
            assert mine in "iu", (column, ours[column].dtype)
        elif kind == "f":
            assert mine in "iuf", (column, ours[column].dtype)
    assert set(ours["track", "bit_rate"]) <= {64000, 160000, 320000}
    albums = ours["album", "id"]
    assert ours["album", "tracks"].eq(albums.map(albums.value_counts())).all()
