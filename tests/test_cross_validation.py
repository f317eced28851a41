"""Cross-validation runs (genre.cross_validation): every clip tested once per repeat, seeded folds,
resumption, the summary's figures, and the fit/baseline commands with --folds."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from genre.baselines.fit import default_baseline_config, evaluate_baseline
from genre.cli import main
from genre.cross_validation import CVConfig, cross_validate
from genre.data.manifest import read_manifest
from genre.estimators import estimator_for
from genre.run_dir import RunDir, RunError
from genre.train.config import apply_overrides


def _logreg(prepared):
    return apply_overrides(default_baseline_config("logreg"), {"data": str(prepared)})


@pytest.fixture(scope="module")
def cv_run(prepared, tmp_path_factory):
    run = tmp_path_factory.mktemp("cv") / "logreg"
    lines: list[str] = []
    summary = cross_validate(
        estimator_for("logreg"), _logreg(prepared), run, CVConfig(k=3, repeats=2), log=lines.append
    )
    return run, summary, lines


def test_every_clip_is_tested_exactly_once_per_repeat(cv_run, prepared):
    run, summary, _ = cv_run
    clips = sorted(c["track_id"] for c in read_manifest(prepared).clips)
    for repeat in (0, 1):
        tested = []
        for fold in range(3):
            fold_run = RunDir(run).fold_run(f"r{repeat}-f{fold}")
            tested += fold_run.metrics()["test"]["predictions"]["track_id"]
            assert sorted(fold_run.metrics()["test"]["predictions"]["track_id"]) == fold_run.fold().test.tolist()
        assert sorted(tested) == clips  # once each: no clip missing, none twice
        assert summary["pooled_test_accuracy"][repeat]["clips"] == len(clips)
    assert summary["grouped_by_artist"] is True and summary["seed"] == read_manifest(prepared).seed


def test_the_summary_matches_the_per_fold_metrics(cv_run):
    run, summary, lines = cv_run
    assert json.loads(RunDir(run).cv_file.read_text()) == summary
    metrics = [RunDir(run).fold_run(f"r{r}-f{f}").metrics() for r in (0, 1) for f in range(3)]
    accuracy = [m["test"]["accuracy"] for m in metrics]
    f1 = [m["test"]["macro_f1"] for m in metrics]
    assert summary["test_accuracy"]["values"] == accuracy
    assert summary["test_accuracy"]["mean"] == pytest.approx(np.mean(accuracy))
    assert summary["test_accuracy"]["std"] == pytest.approx(np.std(accuracy, ddof=1))
    assert summary["test_macro_f1"]["mean"] == pytest.approx(np.mean(f1))
    assert summary["test_macro_f1"]["std"] == pytest.approx(np.std(f1, ddof=1))
    assert [f["test_clips"] for f in summary["folds"]] == [m["test"]["clips"] for m in metrics]
    low, high = summary["test_accuracy"]["interval"]
    assert low <= summary["test_accuracy"]["mean"] <= high
    for repeat in (0, 1):
        ms = metrics[3 * repeat : 3 * repeat + 3]
        correct = sum(round(m["test"]["accuracy"] * m["test"]["clips"]) for m in ms)
        assert summary["pooled_test_accuracy"][repeat]["accuracy"] == pytest.approx(correct / 32)
    assert [line.split(":")[0] for line in lines if line.endswith(" clips)") and "fold" in line][:2] == [
        "fold 1/3 of repeat 1/2",
        "fold 2/3 of repeat 1/2",
    ]


def test_a_fold_run_is_scored_again_on_its_own_test_clips(cv_run):
    run, _, _ = cv_run
    fold_run = RunDir(run).fold_run("r1-f2")
    again = evaluate_baseline(fold_run.path, "test")
    assert again["predictions"] == fold_run.metrics()["test"]["predictions"]


def test_same_seed_same_folds_and_another_seed_other_folds(cv_run, prepared, tmp_path):
    run, _, _ = cv_run
    first = json.loads(RunDir(run).cv_plan_file.read_text())["folds"][:3]  # repeat 0
    config = _logreg(prepared)
    for seed, same in ((read_manifest(prepared).seed, True), (99, False)):
        other = tmp_path / f"seed-{seed}"
        cross_validate(estimator_for("logreg"), config, other, CVConfig(k=3, seed=seed), log=lambda _: None)
        assert (json.loads(RunDir(other).cv_plan_file.read_text())["folds"] == first) is same


def test_a_rerun_keeps_finished_folds_and_redoes_the_unfinished_one(cv_run, prepared, tmp_path):
    run = tmp_path / "cv"
    shutil.copytree(cv_run[0], run)
    unfinished = RunDir(run).fold_run("r0-f1")
    unfinished.metrics_file.unlink()  # as if killed while scoring
    RunDir(run).cv_file.unlink()
    kept = {p: p.stat().st_mtime_ns for p in (run / "folds").glob("*/model.skops") if p.parent.name != "r0-f1"}
    lines: list[str] = []
    summary = cross_validate(
        estimator_for("logreg"), _logreg(prepared), run, CVConfig(k=3, repeats=2), log=lines.append
    )
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    assert len(kept) == 5 and sum("kept, finished earlier" in line for line in lines) == 5
    assert unfinished.finished and any(line.startswith("fold 2/3 of repeat 1/2: training") for line in lines)
    assert summary == cv_run[1] | {"data": str(prepared)}
    with pytest.raises(RunError, match="holds a cross-validation with another plan"):
        cross_validate(estimator_for("logreg"), _logreg(prepared), run, CVConfig(k=4), log=lambda _: None)


def test_baseline_command_with_folds_prints_each_fold_and_the_summary(prepared, tmp_path, capsys):
    run = tmp_path / "knn"
    args = ["baseline", "--model", "knn", "--data", str(prepared), "--run-dir", str(run), "--folds", "3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert re.search(r"^fold 3/3: test accuracy [\d.]+% \[", out, re.M), out
    assert "3-fold cross-validation of knn (1 repeat, seed 3, artist-grouped, 32 clips)" in out
    assert re.search(r"repeat 1: pooled test accuracy [\d.]+% \[[\d.]+, [\d.]+\] \(32 clips", out), out
    assert len(re.findall(r"^fold 1/3: test accuracy", out, re.M)) == 1
    assert main(args) == 0
    assert "fold 1/3: kept" in capsys.readouterr().out
    assert main(["test", "--run", str(run)]) == 2
    assert f"{run} is a cross-validation, not one run; name one of its folds, e.g. {run}/folds/r0-f0" in (
        capsys.readouterr().err
    )
    assert main(["baseline", "--model", "knn", "--data", str(prepared), "--repeats", "2"]) == 2
    assert "--repeats and --fold-seed go with --folds K" in capsys.readouterr().err


@pytest.mark.slow
def test_fit_command_with_folds_trains_a_net_on_every_fold(prepared, tmp_path, capsys):
    from genre.train.fit import evaluate_run
    from tests.train.conftest import tiny_set_arguments

    run = tmp_path / "conv1d"
    settings = tiny_set_arguments(prepared, max_epochs=1, bn_update_batches=0)
    assert main(["fit", "--model", "conv1d", *settings, "--run-dir", str(run), "--folds", "3", "--fold-seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "3-fold cross-validation of conv1d (1 repeat, seed 4, artist-grouped, 32 clips)" in out
    summary = json.loads(RunDir(run).cv_file.read_text())
    tested = [
        t for f in range(3) for t in RunDir(run).fold_run(f"r0-f{f}").metrics()["test"]["predictions"]["track_id"]
    ]
    assert sorted(tested) == sorted(c["track_id"] for c in read_manifest(prepared).clips)
    assert summary["pooled_test_accuracy"][0]["clips"] == 32
    fold_run = RunDir(run).fold_run("r0-f1")
    again = evaluate_run(fold_run.path, "test")
    assert sorted(again["predictions"]["track_id"]) == fold_run.fold().test.tolist()
    # Killed after its last epoch, before scoring: the rerun resumes that fold on its own clips.
    fold_run.metrics_file.unlink()
    assert main(["fit", "--model", "conv1d", *settings, "--run-dir", str(run), "--folds", "3", "--fold-seed", "4"]) == 0
    assert "fold 2/3: resuming in" in capsys.readouterr().out
    assert sorted(fold_run.metrics()["test"]["predictions"]["track_id"]) == fold_run.fold().test.tolist()


@pytest.mark.slow
def test_a_baseline_on_musicnn_embeddings_cross_validates_on_every_clip(
    musicnn_prepared, musicnn_cache, tmp_path, monkeypatch
):
    from genre.baselines.fit import load_features
    from genre.data.pipeline import track_ids
    from genre.models.musicnn_embeddings import musicnn_embeddings

    monkeypatch.setenv("GENRE_CACHE", str(musicnn_cache))
    config = apply_overrides(
        default_baseline_config("svm"), {"data": str(musicnn_prepared), "features": "musicnn_embeddings"}
    )
    run = tmp_path / "svm-musicnn_embeddings"
    summary = cross_validate(estimator_for("svm"), config, run, CVConfig(k=3), log=lambda _: None)
    manifest = read_manifest(musicnn_prepared)
    genre_of = {c["track_id"]: manifest.genres.index(c["genre"]) for c in manifest.clips}
    # Each clip's embedding, from the per-split (cached) embeddings the stored splits use.
    embedding_of = {}
    for split in manifest.shards:
        x, _ = musicnn_embeddings(musicnn_prepared, split, config.run.embedding_layer, cache_dir=musicnn_cache)
        embedding_of |= dict(zip(track_ids(musicnn_prepared, split).tolist(), x, strict=True))
    tested = []
    for f in range(3):
        fold_run = RunDir(run).fold_run(f"r0-f{f}")
        fold = fold_run.fold()
        p = fold_run.metrics()["test"]["predictions"]
        assert sorted(p["track_id"]) == fold.test.tolist()
        assert p["label"] == [genre_of[t] for t in p["track_id"]]  # each prediction beside its own clip's genre
        tested += p["track_id"]
        x, y = load_features(musicnn_prepared, "train", "musicnn_embeddings", config.run.embedding_layer, fold)
        ids = track_ids(musicnn_prepared, "train", fold).tolist()
        assert sorted(ids) == fold.train.tolist()
        np.testing.assert_array_equal(x, np.stack([embedding_of[t] for t in ids]))
        assert y.tolist() == [genre_of[t] for t in ids]
    assert sorted(tested) == sorted(genre_of) and summary["pooled_test_accuracy"][0]["clips"] == len(genre_of)
    assert summary["model"] == "svm" and fold_run.metrics()["features"] == "musicnn_embeddings"


def test_every_fold_releases_what_its_fit_left_before_the_next_fold_trains(prepared, tmp_path):
    """One process trains fold after fold: each fold's models must be freed before the next is built,
    or a K-fold run of a net holds K nets at once."""
    calls: list[str] = []
    logreg = estimator_for("logreg")

    class Recording:
        def __getattr__(self, name):
            return getattr(logreg, name)

        def fit(self, *args, **kwargs):
            calls.append("fit")
            return logreg.fit(*args, **kwargs)

        def release(self):
            calls.append("release")

    cross_validate(Recording(), _logreg(prepared), tmp_path / "run", CVConfig(k=3), log=lambda line: None)
    assert calls == ["fit", "release"] * 3
