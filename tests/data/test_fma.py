"""The FMA loader against real FMA metadata (the first 682 tracks of the real tracks.csv)."""

from __future__ import annotations

import re
import shutil

import pandas as pd
import pytest

from genre.data.catalog import CatalogError
from genre.data.fma import audio_path, load_fma_catalog, read_top_level_genres, read_tracks
from tests.conftest import FMA_SAMPLE

TRACKS_CSV = FMA_SAMPLE / "fma_metadata" / "tracks.csv"


def test_reads_the_real_three_row_header_and_list_columns():
    tracks = read_tracks(TRACKS_CSV)
    assert len(tracks) == 682
    assert tracks.index.name == "track_id"
    assert tracks.index.min() == 2 and tracks.index.max() == 932
    assert tracks.loc[2, "genre"] == "Hip-Hop"
    assert tracks.loc[2, "genre_ids"] == [21]
    assert tracks.loc[2, "artist_id"] == 1
    assert tracks.loc[2, "split"] == "training"
    assert tracks["genre"].isna().sum() == 51


def test_subset_is_an_ordered_category():
    tracks = read_tracks(TRACKS_CSV)
    assert (tracks["subset"] == "small").sum() == 58
    assert (tracks["subset"] <= "medium").sum() == 58 + 136
    assert (tracks["subset"] <= "large").sum() == 682


def test_top_level_genres_from_the_real_genres_csv():
    top = read_top_level_genres(FMA_SAMPLE / "fma_metadata" / "genres.csv")
    assert len(top) == 16
    assert top[21] == "Hip-Hop" and top[1235] == "Instrumental" and top[2] == "International"


def test_small_catalog_official_split():
    catalog = load_fma_catalog(FMA_SAMPLE, subset="small")
    assert len(catalog.tracks) == 58
    assert not catalog.skipped
    assert catalog.synthetic is False
    assert set(catalog.tracks["split"]) <= {"train", "validation", "test"}
    raw = read_tracks(TRACKS_CSV)
    small = raw[raw["subset"] == "small"]
    expected = small["split"].map({"training": "train", "validation": "validation", "test": "test"})
    got = catalog.tracks.set_index("track_id")["split"]
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index(), check_names=False)
    row = catalog.tracks.set_index("track_id").loc[2]
    assert row["genre"] == "Hip-Hop"
    assert row["path"] == str(FMA_SAMPLE / "fma_small" / "000" / "000002.mp3")
    assert list(catalog.genres) == sorted(catalog.genres)


def test_large_subset_skips_tracks_without_genre_top_with_a_reason():
    catalog = load_fma_catalog(FMA_SAMPLE, subset="large")
    assert len(catalog.tracks) == 682 - 51
    assert len(catalog.skipped) == 51
    assert {s.reason for s in catalog.skipped} == {"no genre_top in tracks.csv"}
    assert catalog.skipped[0].path.endswith(".mp3")


def test_audio_path_layout():
    assert audio_path(FMA_SAMPLE, "small", 2).relative_to(FMA_SAMPLE).as_posix() == "fma_small/000/000002.mp3"
    assert audio_path(FMA_SAMPLE, "large", 133297).relative_to(FMA_SAMPLE).as_posix() == "fma_large/133/133297.mp3"


def test_random_split_is_seeded_stratified_64_16_20():
    a = load_fma_catalog(FMA_SAMPLE, subset="large", split="random", seed=1).tracks
    b = load_fma_catalog(FMA_SAMPLE, subset="large", split="random", seed=1).tracks
    c = load_fma_catalog(FMA_SAMPLE, subset="large", split="random", seed=2).tracks
    assert a["split"].tolist() == b["split"].tolist()
    assert a["split"].tolist() != c["split"].tolist()
    fractions = a["split"].value_counts(normalize=True)
    assert fractions["train"] == pytest.approx(0.64, abs=0.03)
    assert fractions["validation"] == pytest.approx(0.16, abs=0.03)
    assert fractions["test"] == pytest.approx(0.20, abs=0.03)
    for _, group in a.groupby("genre"):  # stratified: every sizeable genre is in test
        if len(group) >= 10:
            assert (group["split"] == "test").any()


def _copy_metadata(tmp_path):
    root = tmp_path / "fma"
    shutil.copytree(FMA_SAMPLE / "fma_metadata", root / "fma_metadata")
    return root


def test_unknown_genre_is_skipped_with_reason(tmp_path):
    root = _copy_metadata(tmp_path)
    csv = root / "fma_metadata" / "tracks.csv"
    text = csv.read_text().splitlines()
    # Track 2's row: rename its genre_top to a genre genres.csv does not have.
    text[3] = text[3].replace(",Hip-Hop,", ",Polka,", 1)
    csv.write_text("\n".join(text) + "\n")
    catalog = load_fma_catalog(root)
    assert [s.track_id for s in catalog.skipped] == [2]
    assert "unknown genre 'Polka'" in catalog.skipped[0].reason
    assert 2 not in set(catalog.tracks["track_id"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "not a readable FMA tracks.csv"),
        ("track_id,title\n1,a\n", "missing column"),
        (",set,track\n,split,title\ntrack_id,,\n1,training,a\n", "missing column"),
    ],
)
def test_malformed_tracks_csv_is_an_error_naming_the_file(tmp_path, content, message):
    root = _copy_metadata(tmp_path)
    csv = root / "fma_metadata" / "tracks.csv"
    csv.write_text(content)
    with pytest.raises(CatalogError, match=message) as err:
        load_fma_catalog(root)
    assert str(csv) in str(err.value)


def test_missing_metadata_names_the_file(tmp_path):
    with pytest.raises(CatalogError, match=r"tracks\.csv"):
        load_fma_catalog(tmp_path)


def test_bad_arguments_list_valid_choices():
    with pytest.raises(ValueError, match="valid subsets are"):
        load_fma_catalog(FMA_SAMPLE, subset="tiny")
    with pytest.raises(ValueError, match="valid methods are"):
        load_fma_catalog(FMA_SAMPLE, split="artist")


def test_duplicate_track_ids_in_tracks_csv_are_an_error_naming_the_file(tmp_path):
    root = _copy_metadata(tmp_path)
    csv = root / "fma_metadata" / "tracks.csv"
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join([*lines, lines[3]]) + "\n")  # track 2's row once more, at the end
    with pytest.raises(CatalogError, match=rf"^{re.escape(str(csv))}: track_id 2 appears twice$"):
        load_fma_catalog(root)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda rows: [rows[0].replace(",parent,", ",parent_id,"), *rows[1:]], r"missing column\(s\) \['parent'\]"),
        (lambda rows: [*rows[:5], rows[5] + ",extra", *rows[6:]], r"not a readable FMA genres\.csv \(.*line 6"),
        (lambda rows: [*rows[:3], "abc" + rows[3][rows[3].index(",") :], *rows[4:]], r"line 4: genre_id .*'abc'"),
        (lambda rows: [*rows, "9999,0,0,,9999"], r"line \d+: top-level genre 9999 has no title"),
    ],
    ids=["missing-column", "extra-field", "non-integer-id", "untitled-top-level"],
)
def test_a_malformed_genres_csv_is_an_error_naming_the_file_and_line(tmp_path, edit, message):
    csv = _copy_metadata(tmp_path) / "fma_metadata" / "genres.csv"
    csv.write_text("\n".join(edit(csv.read_text().splitlines())) + "\n")
    with pytest.raises(CatalogError, match=rf"^{re.escape(str(csv))}: {message}") as err:
        read_top_level_genres(csv)
    assert "\n" not in str(err.value)
