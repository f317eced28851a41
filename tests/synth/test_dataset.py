"""`genre synth`: an FMA-shaped tree the real loader reads, artist-filtered, reproducible, resumable."""

from __future__ import annotations

import dataclasses
import json

import pytest
import soundfile as sf

from genre.data.catalog import SYNTHETIC_MARKER
from genre.data.fma import load_fma_catalog, read_tracks
from genre.synth.dataset import SynthConfig, plan_tracks, write_synthetic_fma
from genre.synth.profiles import GENRES
from tests.conftest import TINY_SYNTH


def test_the_fma_loader_reads_the_generated_tree(synth_root):
    catalog = load_fma_catalog(synth_root)
    assert catalog.synthetic is True
    assert set(catalog.genres) == set(GENRES)
    assert len(catalog.tracks) == 8 * TINY_SYNTH.tracks_per_genre
    tracks = read_tracks(synth_root / "fma_metadata" / "tracks.csv")
    assert set(tracks["subset"]) == {"small"}
    assert all(len(ids) == 1 for ids in tracks["genre_ids"])
    header = (synth_root / "fma_metadata" / "tracks.csv").read_text().splitlines()[:3]
    assert header[0].startswith(",album,") and header[1].startswith(",comments,") and header[2].startswith("track_id,")
    marker = json.loads((synth_root / SYNTHETIC_MARKER).read_text())
    assert marker["config"]["seed"] == TINY_SYNTH.seed


def test_files_are_real_mp3s_of_the_asked_length(synth_root):
    catalog = load_fma_catalog(synth_root)
    for path in catalog.tracks["path"][:4]:
        info = sf.info(path)
        assert info.format == "MP3"
        assert info.samplerate == TINY_SYNTH.sample_rate and info.channels == TINY_SYNTH.channels
        assert info.duration == pytest.approx(TINY_SYNTH.seconds, abs=0.1)


def test_split_is_artist_filtered_and_covers_every_genre():
    plan = plan_tracks(SynthConfig(tracks_per_genre=40, seed=1))
    assert plan.groupby("artist_id")["split"].nunique().max() == 1
    assert plan.groupby("artist_id")["genre"].nunique().max() == 1
    for _, group in plan.groupby("genre"):
        shares = group["split"].value_counts(normalize=True)
        assert shares["training"] == pytest.approx(0.8, abs=0.1)
        assert shares["test"] == pytest.approx(0.1, abs=0.06) and shares["validation"] == pytest.approx(0.1, abs=0.06)
    assert plan["track_id"].is_monotonic_increasing and plan["track_id"].max() > 1000  # several NNN folders


def test_plan_depends_on_the_seed_only():
    a, b = plan_tracks(SynthConfig(seed=3)), plan_tracks(SynthConfig(seed=3, workers=1))
    assert a.equals(b)
    assert not a.equals(plan_tracks(SynthConfig(seed=4)))


def test_resumes_and_refuses_other_settings(tmp_path):
    config = SynthConfig(tracks_per_genre=1, seconds=1.5, sample_rate=22050, channels=1, workers=1, progress=False)
    out = tmp_path / "fma"
    plan = write_synthetic_fma(out, config)
    paths = sorted((out / "fma_small").rglob("*.mp3"))
    assert len(paths) == len(plan) == 8
    first = paths[0].read_bytes()
    paths[0].unlink()
    mtime = paths[1].stat().st_mtime_ns
    write_synthetic_fma(out, config)
    assert paths[0].read_bytes() == first  # the same track, rendered again from its own seed
    assert paths[1].stat().st_mtime_ns == mtime  # finished files are kept
    with pytest.raises(FileExistsError, match="other settings"):
        write_synthetic_fma(out, SynthConfig(tracks_per_genre=2, seconds=1.5, workers=1, progress=False))


def test_the_number_of_workers_does_not_change_a_byte(tmp_path):
    config = SynthConfig(tracks_per_genre=1, seconds=1.5, sample_rate=22050, channels=1, workers=1, progress=False)
    trees = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        write_synthetic_fma(out, dataclasses.replace(config, workers=workers))
        trees.append({str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert len(trees[0]) == 8 + 3  # clips, tracks.csv, genres.csv, the marker
    assert trees[0] == trees[1]


def test_the_progress_bar_counts_clips_with_their_rate_and_eta(tmp_path, monkeypatch, capsys, work_clock):
    """Each rendered clip takes 0.5 s on the bar's clock: n/total clips, 2.00 clip/s, the time left."""
    import genre.synth.dataset as dataset
    from tests.conftest import minutes_seconds, progress_lines

    real = dataset.render_to_file

    def timed(*args):
        work_clock.tick()
        return real(*args)

    monkeypatch.setattr(dataset, "render_to_file", timed)
    config = dataclasses.replace(TINY_SYNTH, tracks_per_genre=1, seconds=1.0, progress=True)
    write_synthetic_fma(tmp_path / "fma", config)
    lines = progress_lines(capsys.readouterr().err, "synth")
    total = len(GENRES)
    assert lines and {int(line["total"]) for line in lines} == {total} and int(lines[-1]["n"]) == total
    shown = [line for line in lines if int(line["n"]) > 0]
    assert len(shown) >= total // 2
    for line in shown:
        n = int(line["n"])
        assert float(line["rate"]) == pytest.approx(2.0)
        assert (line["elapsed"], line["eta"]) == (minutes_seconds(0.5 * n), minutes_seconds(0.5 * (total - n)))

    write_synthetic_fma(tmp_path / "quiet", dataclasses.replace(config, progress=False))
    assert progress_lines(capsys.readouterr().err, "synth") == []
