"""The folder source: ROOT/<genre>/<files>."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from genre.data.catalog import CatalogError
from genre.data.folders import load_folder_catalog
from genre.data.prepare import prepare
from tests.conftest import tiny_prepare


def _tone_file(path, freq):
    t = np.arange(22050 * 3) / 22050
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 22050)


@pytest.fixture
def folder_root(tmp_path):
    root = tmp_path / "music"
    for g, genre in enumerate(["jazz", "metal", "salsa"]):
        (root / genre).mkdir(parents=True)
        for i in range(5):
            _tone_file(root / genre / f"song{i}.{['wav', 'flac', 'ogg'][i % 3]}", 200 + 100 * g + 10 * i)
    (root / "jazz" / "cover.jpg").write_bytes(b"\xff\xd8")
    (root / "jazz" / ".DS_Store").write_bytes(b"")
    return root


def test_genres_come_from_folder_names_and_other_files_are_listed(folder_root):
    catalog = load_folder_catalog(folder_root, seed=0)
    assert catalog.genres == ("jazz", "metal", "salsa")
    assert len(catalog.tracks) == 15
    assert [s.path for s in catalog.skipped] == [str(folder_root / "jazz" / "cover.jpg")]
    assert "unsupported extension '.jpg'" in catalog.skipped[0].reason
    assert catalog.source["kind"] == "folders"


def test_split_is_stratified_and_seeded(folder_root):
    a = load_folder_catalog(folder_root, seed=0).tracks
    assert a["split"].tolist() == load_folder_catalog(folder_root, seed=0).tracks["split"].tolist()
    assert any(load_folder_catalog(folder_root, seed=s).tracks["split"].tolist() != a["split"].tolist() for s in (1, 2))
    for _, group in a.groupby("genre"):  # 5 clips: 1 test, 1 validation, 3 train
        assert group["split"].value_counts().to_dict() == {"train": 3, "test": 1, "validation": 1}


def test_empty_root_and_empty_genre_folder_are_errors_naming_them(tmp_path):
    with pytest.raises(CatalogError, match=str(tmp_path)):
        load_folder_catalog(tmp_path)
    (tmp_path / "rock").mkdir()
    (tmp_path / "rock" / "notes.txt").write_text("x")
    with pytest.raises(CatalogError, match=str(tmp_path / "rock")):
        load_folder_catalog(tmp_path)
    with pytest.raises(CatalogError, match="no such folder"):
        load_folder_catalog(tmp_path / "absent")


def test_folders_prepare_like_fma(tmp_path, folder_root):
    manifest = prepare(load_folder_catalog(folder_root), tmp_path / "data", tiny_prepare())
    assert manifest.genres == ["jazz", "metal", "salsa"]
    assert manifest.counts["test"] == {"jazz": 1, "metal": 1, "salsa": 1}
    assert [s["reason"].split(" ")[0] for s in manifest.skipped] == ["unsupported"]
    assert manifest.synthetic is False
    # A folder tree knows no artists: the clip table says so, and folds cannot be grouped by artist.
    assert len(manifest.clips) == sum(manifest.clip_count(s) for s in manifest.counts)
    assert {c["artist_id"] for c in manifest.clips} == {None} and not manifest.has_artists
