"""prepare end to end: manifest, bad input, reproducibility, parallelism and resumption."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre.data.fma import load_fma_catalog
from genre.data.manifest import ManifestError, read_manifest, sha256_file
from genre.data.prepare import PARTIAL_DIR, prepare
from tests.conftest import FMA_SAMPLE, REAL_MP3, tiny_prepare


def _tree_bytes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


def test_manifest_describes_the_data_set(prepared, synth_root):
    m = read_manifest(prepared)
    assert m.synthetic is True
    assert m.source == {"kind": "fma", "root": str(synth_root), "subset": "small", "split": "official"}
    assert m.genres == sorted(m.genres) and len(m.genres) == 8
    assert sum(m.clip_count(s) for s in m.counts) == 32
    assert m.counts["train"]["Rock"] == 2 and m.counts["test"]["Rock"] == 1
    assert m.sample_rate == 22050 and m.seed == 3
    assert m.features["raw"]["shape"] == [3, 2000]
    assert m.features["mel"]["shape"] == [224, 224] and m.features["mel"]["dtype"] == "uint8"
    assert len(m.features["handcrafted"]["names"]) == m.features["handcrafted"]["shape"][0]
    assert {"numpy", "librosa", "soundfile", "python"} <= set(m.versions)
    assert m.skipped == [] and m.padded == []
    for split, kinds in m.shards.items():
        assert set(kinds) == {"raw", "mel", "handcrafted"}
        for entries in kinds.values():
            assert sum(e["records"] for e in entries) == m.clip_count(split)
            for e in entries:
                assert sha256_file(prepared / e["file"]) == e["sha256"]
    assert not (prepared / PARTIAL_DIR).exists()


def test_clip_table_lists_every_stored_clip_with_its_genre_split_and_artist(prepared, synth_root):
    from genre.data.pipeline import track_ids

    m = read_manifest(prepared)
    catalog = load_fma_catalog(synth_root).tracks.set_index("track_id")
    assert [c["track_id"] for c in m.clips] == sorted(c["track_id"] for c in m.clips)
    for split in m.counts:
        table = sorted(c["track_id"] for c in m.clips if c["split"] == split)
        assert table == sorted(track_ids(prepared, split).tolist())
    for clip in m.clips:
        row = catalog.loc[clip["track_id"]]
        assert (clip["genre"], clip["split"]) == (row["genre"], row["split"])
        assert clip["artist_id"] == int(row["artist_id"]) and type(clip["artist_id"]) is int
    assert m.has_artists


def test_same_seed_same_bytes_and_workers_do_not_matter(tmp_path, prepared, synth_root):
    again = tmp_path / "again"
    prepare(load_fma_catalog(synth_root), again, tiny_prepare(workers=2))
    assert _tree_bytes(again) == _tree_bytes(prepared)


def test_another_seed_reorders_the_shards(tmp_path, prepared, synth_root):
    other = tmp_path / "other"
    prepare(load_fma_catalog(synth_root), other, tiny_prepare(seed=4, features=tiny_prepare().features))
    assert read_manifest(other).counts == read_manifest(prepared).counts
    assert _tree_bytes(other) != _tree_bytes(prepared)


def test_rerun_on_a_finished_data_set_does_nothing_and_other_settings_are_refused(prepared, synth_root):
    before = _tree_bytes(prepared)
    prepare(load_fma_catalog(synth_root), prepared, tiny_prepare())
    assert _tree_bytes(prepared) == before
    with pytest.raises(ManifestError, match="other inputs or settings"):
        prepare(load_fma_catalog(synth_root), prepared, tiny_prepare(shard_size=5))


def test_refuses_a_non_empty_folder_that_is_not_a_data_set(tmp_path, synth_root):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ManifestError, match="not empty"):
        prepare(load_fma_catalog(synth_root), tmp_path, tiny_prepare())


def _broken_fma_tree(tmp_path: Path, synth_root: Path) -> tuple[Path, dict[int, str]]:
    """The synthetic tree with one bad file of each kind, and the reason each must be skipped with."""
    root = tmp_path / "broken"
    shutil.copytree(synth_root, root)
    catalog = load_fma_catalog(root)
    ids = catalog.tracks["track_id"].tolist()
    paths = dict(zip(catalog.tracks["track_id"], catalog.tracks["path"], strict=True))
    bad = dict(zip(ids[:7], ["missing", "empty", "text", "truncated", "tiny", "silent", "short"], strict=True))
    for tid, kind in bad.items():
        path = Path(paths[tid])
        if kind == "missing":
            path.unlink()
        elif kind == "empty":
            path.write_bytes(b"")
        elif kind == "text":
            path.write_text("<html>not found</html>\n" * 50)
        elif kind == "truncated":
            path.write_bytes(REAL_MP3.read_bytes()[:2500])
        elif kind == "tiny":
            sf.write(path, 0.3 * np.ones((11025, 2), np.float32), 22050, format="MP3")
        elif kind == "silent":
            sf.write(path, np.zeros((22050 * 3, 1), np.float32), 22050, format="MP3")
        else:  # 2 s of a 3 s clip: kept, padded, and listed as padded
            sf.write(path, 0.3 * np.sin(np.arange(44100) / 5.0)[:, None].astype(np.float32), 22050, format="MP3")
    # Two tracks.csv rows that the catalog itself must drop.
    csv = root / "fma_metadata" / "tracks.csv"
    lines = csv.read_text().splitlines()
    lines[3 + 7] = lines[3 + 7].replace(f",{catalog.tracks['genre'].iat[7]},", ",Polka,", 1)
    lines[3 + 8] = lines[3 + 8].replace(f",{catalog.tracks['genre'].iat[8]},", ",,", 1)
    csv.write_text("\n".join(lines) + "\n")
    reasons = {
        **{
            tid: r
            for tid, r in zip(
                ids[:6],
                ["missing file", "empty file", "undecodable audio", "too short", "too short", "silent"],
                strict=True,
            )
        },
        ids[7]: "unknown genre 'Polka'",
        ids[8]: "no genre_top",
    }
    return root, reasons, ids[6]


def test_bad_input_is_skipped_listed_and_counted(tmp_path, synth_root, capsys):
    root, reasons, padded_id = _broken_fma_tree(tmp_path, synth_root)
    manifest = prepare(load_fma_catalog(root), tmp_path / "data", tiny_prepare(progress=True))
    skipped = {s["track_id"]: s for s in manifest.skipped}
    assert set(skipped) == set(reasons)
    for tid, reason in reasons.items():
        assert reason in skipped[tid]["reason"], skipped[tid]
        assert skipped[tid]["path"].endswith(f"{tid:06d}.mp3")
    assert [p["track_id"] for p in manifest.padded] == [padded_id]
    assert manifest.padded[0]["seconds"] == pytest.approx(2.0, abs=0.1)
    assert sum(manifest.clip_count(s) for s in manifest.counts) == 32 - len(reasons)
    assert len(manifest.clips) == 32 - len(reasons) and not {c["track_id"] for c in manifest.clips} & set(reasons)
    assert "skipped 8" in capsys.readouterr().err


def _prepare_command(fma: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "genre",
        "prepare",
        "--fma",
        str(fma),
        "--out",
        str(out),
        "--duration",
        "3",
        "--raw-windows",
        "3",
        "--raw-window-length",
        "2000",
        "--shard-size",
        "4",
        "--seed",
        "3",
        "--workers",
        "1",
        "--quiet",
    ]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_bytes(tmp_path, synth_root):
    out = tmp_path / "data"
    uninterrupted = tmp_path / "reference"
    # The CLI's defaults for the rest of the config equal tiny_prepare's except the pad tolerance.
    subprocess.run(_prepare_command(synth_root, uninterrupted), check=True, capture_output=True)

    process = subprocess.Popen(_prepare_command(synth_root, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((out / PARTIAL_DIR).glob("*-*.json")) and time.monotonic() < deadline:
        assert process.poll() is None, "prepare ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {p.name for p in (out / PARTIAL_DIR).glob("*-*.json")}
    assert finished and not (out / "manifest.json").exists()
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.tfrecord")}

    # Without --quiet, so that it says what it resumes from.
    resume = [a for a in _prepare_command(synth_root, out) if a != "--quiet"]
    result = subprocess.run(resume, check=True, capture_output=True, text=True)
    assert _tree_bytes(out) == _tree_bytes(uninterrupted)
    for path, mtime in mtimes.items():  # finished shards were not written again
        assert path.stat().st_mtime_ns == mtime
    assert re.search(rf"resuming: {len(finished)} of \d+ shards already done", result.stderr), result.stderr[-2000:]


def test_real_fma_sample_prepares_with_missing_audio_reported(tmp_path):
    manifest = prepare(load_fma_catalog(FMA_SAMPLE), tmp_path / "data", tiny_prepare(shard_size=64))
    assert sum(manifest.clip_count(s) for s in manifest.counts) == 1  # only track 2 has audio in the sample
    assert manifest.counts["train"]["Hip-Hop"] == 1
    assert len(manifest.skipped) == 57
    assert {s["reason"] for s in manifest.skipped} == {"missing file"}
    assert json.loads((tmp_path / "data" / "manifest.json").read_text())["synthetic"] is False


def test_a_corrupt_manifest_is_an_error_naming_it(prepared, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    manifest = data / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text[: len(text) // 2])  # cut short, as by a full disk
    with pytest.raises(ManifestError, match=rf"{re.escape(str(manifest))}: not valid JSON"):
        read_manifest(data)
    raw = json.loads(text)
    del raw["shards"]
    manifest.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=rf"{re.escape(str(manifest))}: missing field\(s\) \['shards'\]"):
        read_manifest(data)


def test_a_manifest_of_the_first_format_asks_to_prepare_again(prepared, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    raw = json.loads((data / "manifest.json").read_text())
    del raw["clips"]  # format 1 had no clip table
    raw["format_version"] = 1
    (data / "manifest.json").write_text(json.dumps(raw))
    message = rf"{re.escape(str(data / 'manifest.json'))}: format_version 1 is not the supported 2; prepare it again"
    with pytest.raises(ManifestError, match=message):
        read_manifest(data)


def test_the_progress_bar_counts_clips_with_their_rate_and_eta(tmp_path, synth_root, monkeypatch, capsys, work_clock):
    """Each clip takes 0.5 s on the bar's clock: the bar shows n/total clips, 2.00 clip/s and the time
    left for the rest; with --quiet (progress=False) it shows nothing."""
    import genre.data.prepare as prepare_module
    from tests.conftest import minutes_seconds, progress_lines

    real = prepare_module.process_clip

    def timed(*args):
        work_clock.tick()
        return real(*args)

    monkeypatch.setattr(prepare_module, "process_clip", timed)
    full = load_fma_catalog(synth_root)
    catalog = dataclasses.replace(full, tracks=full.tracks.iloc[:12].reset_index(drop=True))  # 12 clips: quick
    prepare(catalog, tmp_path / "data", tiny_prepare(progress=True))
    lines = progress_lines(capsys.readouterr().err, "prepare")
    total = len(catalog.tracks)
    assert lines and {int(line["total"]) for line in lines} == {total}
    assert int(lines[-1]["n"]) == total and lines[-1]["percent"] == "100" and lines[-1]["skipped"] == "0"
    shown = [line for line in lines if int(line["n"]) > 0]
    assert len(shown) >= total // 2  # it moves while working, not only at the end
    for line in shown:
        n = int(line["n"])
        assert float(line["rate"]) == pytest.approx(2.0)
        assert line["elapsed"] == minutes_seconds(0.5 * n)
        assert line["eta"] == minutes_seconds(0.5 * (total - n))

    prepare(catalog, tmp_path / "quiet", tiny_prepare(progress=False))
    assert progress_lines(capsys.readouterr().err, "prepare") == []
