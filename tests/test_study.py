"""The whole study in one command: `genre demo --quick` end to end, and `genre.study`'s resume and checks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from genre.baselines import BASELINES
from genre.cli import main
from genre.data.folds import Fold
from genre.study import NETS, StudyConfig, run_study
from tests.train.conftest import TINY


@pytest.mark.slow
def test_demo_quick_runs_the_whole_study(tmp_path, capsys, monkeypatch):
    from genre.models.mobilenet import imagenet_weights_path

    monkeypatch.setenv("GENRE_CACHE", str(tmp_path / "empty-cache"))  # no musicnn weights: left out, and said
    # An ImageNet base in Keras's cache is for the full demo: the quick one's small images have none.
    (tmp_path / "keras-home").mkdir()
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path / "keras-home"))
    imagenet_weights_path(0.35).parent.mkdir(parents=True)
    imagenet_weights_path(0.35).write_bytes(b"never read by the quick demo")
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--quiet", "--no-fetch-weights"]) == 0
    printed = capsys.readouterr().out
    assert "GENERATED DATA" in printed
    # The last line: wall time and each stage's (no budget with --quick).
    t = r"[\d.]+ (s|min)"
    stages = rf"weights {t}, synth {t}, prepare {t}, baselines {t}, .*conv1d {t}, .*tuning {t}, report {t}"
    assert re.search(rf"^demo: {t} \({stages}\)$", printed, re.M)
    assert "not run: musicnn: " in printed and "not run: svm on musicnn_embeddings: " in printed
    assert "genre weights fetch musicnn" in (out / "report" / "report.md").read_text()
    for name in (*BASELINES, *(n for n in NETS if n != "musicnn")):
        metrics = json.loads((out / "runs" / name / "metrics.json").read_text())
        assert metrics["model"] == name and 0 <= metrics["test"]["accuracy"] <= 1
        assert f"| {name} |" in printed or f"| {name} (from scratch) |" in printed
    for tuned in ("svm", "melcnn"):  # the short tuning studies' refits join the report
        assert f"| {tuned} (tuned) |" in printed or f"| {tuned} (tuned), " in printed
        assert json.loads((out / "runs" / f"tune-{tuned}" / "refit" / "metrics.json").read_text())["tuning"]
    assert (out / "report" / "index.html").is_file() and (out / "report" / "figures" / "per-genre-f1.png").is_file()
    # Again: every step finds its work done; nothing is retrained.
    stamps = {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.json")}
    assert main(["demo", "--quick", "--out", str(out), "--quiet", "--no-fetch-weights"]) == 0
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_the_demo_fetches_missing_weights_once_and_goes_on_without_them(tmp_path, monkeypatch):
    import genre.weights.musicnn as weights
    from genre.demo import fetch_missing_weights

    fetched, lines = [], []

    def offline(cache_dir=None, wheel=None):
        fetched.append(cache_dir)
        raise FileNotFoundError("could not download musicnn==0.1.0 (no network)")

    monkeypatch.setattr(weights, "fetch_musicnn", offline)
    assert fetch_missing_weights(lines.append, tmp_path) is False
    assert fetched == [tmp_path] and "fetching musicnn" in lines[0] and "going on without musicnn" in lines[1]

    monkeypatch.setattr(weights, "musicnn_weights_path", lambda variant, cache_dir=None: tmp_path / "w.h5")
    lines.clear()
    assert fetch_missing_weights(lines.append, tmp_path) is True  # cached: nothing fetched, nothing said
    assert fetched == [tmp_path] and lines == []


def test_study_resumes_an_interrupted_net(prepared, tmp_path):
    tiny = {"*": {**TINY, "max_epochs": "2"}}
    config = StudyConfig(
        data=prepared, out=tmp_path, baselines=("nb",), embedding_baselines=(), nets=("conv1d",), net_settings=tiny
    )
    first = run_study(config, log=lambda line: None)
    assert [r.label for r in first.report.records] in (["nb", "conv1d"], ["conv1d", "nb"])
    # As if killed after its last epoch, before scoring: the rerun resumes the net, keeps the baseline.
    (tmp_path / "runs" / "conv1d" / "metrics.json").unlink()
    baseline_stamp = (tmp_path / "runs" / "nb" / "metrics.json").stat().st_mtime_ns
    lines = []
    run_study(config, log=lines.append)
    assert any("conv1d: resuming" in line for line in lines)
    assert (tmp_path / "runs" / "nb" / "metrics.json").stat().st_mtime_ns == baseline_stamp
    assert (tmp_path / "runs" / "conv1d" / "metrics.json").is_file()


@pytest.mark.slow
def test_study_with_folds_cross_validates_every_model_on_the_same_folds(prepared, tmp_path):
    config = StudyConfig(
        data=prepared, out=tmp_path, baselines=("nb", "logreg"), embedding_baselines=(), nets=(), folds=3
    )
    lines = []
    result = run_study(config, log=lines.append)
    plans = [json.loads((tmp_path / "runs" / name / "folds.json").read_text()) for name in ("nb", "logreg")]
    assert plans[0]["folds"] == plans[1]["folds"] and plans[0]["k"] == 3
    assert sorted(r.label for r in result.report.records) == ["logreg (3-fold CV)", "nb (3-fold CV)"]
    # Tested on the same clips, the two are paired by McNemar's test rather than left uncompared.
    assert "(p=" in result.report.markdown and "not compared" not in result.report.markdown
    assert "[1/2] nb: 3-fold cross-validation" in lines
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "runs").glob("*/folds/*/metrics.json")}
    assert len(stamps) == 6
    run_study(config, log=lambda line: None)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_study_checks_weight_files_before_preparing_anything(synth_root, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))  # no ImageNet file there
    out = tmp_path / "study"
    assert main(["study", "--fma", str(synth_root), "--out", str(out), "--quiet"]) == 2
    assert "ImageNet weights" in capsys.readouterr().err
    assert not (out / "data").exists()


@pytest.mark.parametrize("option", ["--nets=conv1d,resnet", "--baselines=svm,forest"])
def test_study_rejects_unknown_models(synth_root, tmp_path, capsys, option):
    out = tmp_path / "study"
    assert main(["study", "--fma", str(synth_root), "--out", str(out), option, "--weights", "none"]) == 2
    assert "unknown" in capsys.readouterr().err
    assert not out.exists()


def test_study_fits_baselines_on_musicnn_embeddings(musicnn_prepared, musicnn_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("GENRE_CACHE", str(musicnn_cache))
    config = StudyConfig(data=musicnn_prepared, out=tmp_path, baselines=("nb",), embedding_baselines=("svm",), nets=())
    assert config.feature_kinds()[-1] == "musicnn"
    result = run_study(config, log=lambda line: None)
    assert sorted(r.label for r in result.report.records) == ["nb", "svm [musicnn_embeddings]"]
    assert (
        json.loads((tmp_path / "runs" / "svm-musicnn_embeddings" / "metrics.json").read_text())["features"]
        == "musicnn_embeddings"
    )
    assert result.not_run == []


def test_the_demo_uses_a_cached_imagenet_base_and_fetches_it_once_otherwise(tmp_path, monkeypatch):
    import genre.weights.mobilenet as weights
    from genre.demo import DEMO_MOBILENET_ALPHA, DEMO_MOBILENET_ROWS, DEMO_NETS, _with_mobilenet, fetch_imagenet_base
    from genre.models.mobilenet import imagenet_weights_path

    home = tmp_path / "keras-home"
    home.mkdir()
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(home))
    asked, lines = [], []

    def offline(alpha, rows=224, file=None, **kwargs):
        asked.append((alpha, rows))
        raise FileNotFoundError("could not download (no network)")

    monkeypatch.setattr(weights, "fetch_mobilenet", offline)
    assert fetch_imagenet_base(lines.append) is False
    assert asked == [(DEMO_MOBILENET_ALPHA, DEMO_MOBILENET_ROWS)] and "trains from scratch" in lines[-1]
    assert _with_mobilenet(DEMO_NETS, lines.append)["mobilenet"]["weights"] == "none"
    assert "trained from scratch" in lines[-1]

    path = imagenet_weights_path(DEMO_MOBILENET_ALPHA, DEMO_MOBILENET_ROWS)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"cached")
    lines.clear()
    assert fetch_imagenet_base(lines.append) is True and lines == []
    assert asked == [(DEMO_MOBILENET_ALPHA, DEMO_MOBILENET_ROWS)]
    settings = _with_mobilenet(DEMO_NETS, lines.append)["mobilenet"]
    assert settings["weights"] == "imagenet" and settings["alpha"] == str(DEMO_MOBILENET_ALPHA)
    assert str(path) in lines[-1] and DEMO_NETS["mobilenet"].get("weights") is None  # the table is not changed


# The study of `test_a_study_killed_mid_net_resumes_it_and_keeps_finished_runs`, as a command of its own.
STUDY_SCRIPT = """
import json, sys
from pathlib import Path
from genre.study import StudyConfig, run_study

data, out, settings = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
config = StudyConfig(data=Path(data), out=out, baselines=("nb",), embedding_baselines=(), nets=("conv1d",),
                     net_settings={"*": settings})
run_study(config)
"""


@pytest.mark.slow
def test_a_study_killed_mid_net_resumes_it_and_keeps_finished_runs(prepared, tmp_path):
    """A real kill: SIGKILL while the net trains (after its second epoch's resume state), then the same
    command. The net continues from its saved epoch, not from 0; the finished baseline is not refitted."""
    import csv
    import os
    import signal
    import subprocess
    import sys
    import time

    epochs = 6
    settings = {**TINY, "max_epochs": str(epochs), "early_stopping_patience": "none"}
    command = [sys.executable, "-c", STUDY_SCRIPT, str(prepared), str(tmp_path), json.dumps(settings)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    net = tmp_path / "runs" / "conv1d"
    state = net / "checkpoints" / "last" / "state.json"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 300
        while not (state.is_file() and json.loads(state.read_text())["epoch"] >= 2):
            assert process.poll() is None, "the study ended before it could be killed"
            assert time.monotonic() < deadline, "the net never finished two epochs"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    baseline = tmp_path / "runs" / "nb" / "metrics.json"
    assert baseline.is_file() and not (net / "metrics.json").exists()
    saved_state = json.loads(state.read_text())
    saved = saved_state["epoch"]
    assert 2 <= saved < epochs
    # A mark only the saved state carries: a resumed net's clock continues from it, a retrained one's does not.
    state.write_text(json.dumps({**saved_state, "train_seconds": saved_state["train_seconds"] + 1000.0}))
    stamp = baseline.stat().st_mtime_ns
    with (net / "logs" / "metrics.csv").open() as f:
        before = list(csv.DictReader(f))

    again = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert baseline.stat().st_mtime_ns == stamp  # not refitted
    with (net / "logs" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    # The killed process's rows stay; the rerun logs only the epochs from the saved one on.
    assert rows[: len(before)] == before
    assert [int(r["epoch"]) for r in rows[len(before) :]] == list(range(saved, epochs))
    metrics = json.loads((net / "metrics.json").read_text())
    assert metrics["epochs"] == epochs and metrics["train_seconds"] > 1000
    assert "conv1d: resuming" in again.stdout and (tmp_path / "report" / "report.md").is_file()


@pytest.fixture(scope="module")
def six_per_genre(tmp_path_factory) -> Path:
    """Six one-track artists a genre: enough for 3 inner folds within each of 3 artist-grouped outer folds."""
    from dataclasses import replace

    from genre.data.fma import load_fma_catalog
    from genre.data.prepare import prepare
    from genre.synth.dataset import write_synthetic_fma
    from tests.conftest import TINY_SYNTH, tiny_features, tiny_prepare

    root = tmp_path_factory.mktemp("six") / "fma"
    write_synthetic_fma(root, replace(TINY_SYNTH, tracks_per_genre=6))
    out = root.parent / "data"
    prepare(load_fma_catalog(root), out, tiny_prepare(features=tiny_features(kinds=("handcrafted",))))
    return out


@pytest.mark.slow
def test_a_cross_validated_studys_tuned_model_is_tuned_within_each_outer_fold_and_paired_on_every_clip(
    six_per_genre, tmp_path
):
    import numpy as np
    import optuna

    from genre.report.page import COLUMNS
    from genre.run_dir import RunDir
    from tuning.in_study import tune_in_study

    config = StudyConfig(
        data=six_per_genre,
        out=tmp_path,
        baselines=("nb",),
        embedding_baselines=(),
        nets=(),
        folds=3,
        tune_trials={"knn": 2},
        tune_settings={"knn": {"pca_components": "0"}},
        progress=False,
    )
    lines = []
    result = run_study(config, log=lines.append, tune=tune_in_study)
    nested = RunDir(tmp_path / "runs" / "tune-knn")
    outer = [Fold.from_dict(f) for f in json.loads(nested.cv_plan_file.read_text())["folds"]]
    plain = json.loads((tmp_path / "runs" / "nb" / "folds.json").read_text())["folds"]
    assert [f.to_dict() for f in outer] == plain  # the same outer folds as every other model
    for fold in outer:
        study = optuna.load_study(study_name="tune-knn", storage=f"sqlite:///{nested.fold_study(fold.name)}/study.db")
        assert study.user_attrs["folds"] == 3 and len(study.trials) == 2
        assert all(len(t.user_attrs["fold_values"]) == 3 for t in study.trials)
        # No trial of the fold's own study read its test clips: not to train, not to validate.
        trial_folds = sorted(nested.fold_study(fold.name).glob("trials/*/folds/*/fold.json"))
        assert len(trial_folds) == 2 * 3
        for path in trial_folds:
            roles = json.loads(path.read_text())
            seen = set(roles["train"]) | set(roles["validation"]) | set(roles["test"])
            assert not seen & set(fold.test.tolist())
            assert seen == set(np.concatenate([fold.train, fold.validation]).tolist())
        metrics = nested.fold_run(fold.name).metrics()
        trained = nested.fold_run(fold.name).config()["model_config"]
        assert {name: trained[name] for name in study.best_params} == study.best_params  # its own study's best
        assert metrics["tuning"]["outer_fold"] == fold.name
        assert metrics["tuning"]["best_value"] == pytest.approx(study.best_value)
        assert sorted(metrics["test"]["predictions"]["track_id"]) == fold.test.tolist()
    assert json.loads(nested.cv_file.read_text())["nested_tuning"] == {
        "trials": 2,
        "inner_folds": 3,
        "metric": "accuracy",
    }
    assert any(re.match(r"tuned knn: nested 3-fold cross-validation, 2 trials in each fold", line) for line in lines)

    assert sorted(r.label for r in result.report.records) == ["knn (tuned) (3-fold CV)", "nb (3-fold CV)"]
    clips = sorted(c["track_id"] for c in result.report.records[0].manifest.clips)
    for record in result.report.records:  # each tested out of fold on every clip of the data set
        assert sorted(record.metrics["test"]["predictions"]["track_id"]) == clips
    rows = [line.strip("|").split(" | ") for line in result.report.markdown.splitlines()]
    cells = [row[COLUMNS.index("vs best (McNemar)")].strip() for row in rows if len(row) == len(COLUMNS)][2:]
    assert sorted(cells)[0] == "best", cells
    # Paired on all those clips: a cell names its shared clips only when they are fewer.
    assert re.fullmatch(r"(tie|better|worse) \(p=[\d.e-]+\)", sorted(cells)[1]), cells


def test_a_study_too_small_to_tune_on_its_folds_stops_before_any_model_trains(prepared, tmp_path):
    config = StudyConfig(
        data=prepared, out=tmp_path, baselines=("nb",), embedding_baselines=(), nets=(), folds=4, tune_trials={"nb": 2}
    )
    with pytest.raises(ValueError, match=r"--folds 4 over fold r0-f0's training and validation clips: .*too few"):
        run_study(config, log=lambda line: None, tune=lambda study, log: [])
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("quick", [False, True])
def test_the_demos_net_settings_pass_the_studys_own_check(tmp_path, quick):
    from genre.demo import DEMO_NETS, QUICK_NETS, DemoConfig
    from genre.study import NETS, StudyConfig, plan_study

    settings = QUICK_NETS if quick else DEMO_NETS
    config = StudyConfig(data=tmp_path, out=tmp_path, net_settings=settings, skip_missing_weights=True)
    # As a study checks its nets before it prepares data: every value converted, every config validated.
    plan = plan_study(config, DemoConfig(quick=quick).features().shape)
    assert set(plan.net_configs) | {line.split(":")[0] for line in plan.not_run} >= set(NETS)
