"""K-fold tuning (`genre tune --folds K`): a trial's value is its mean validation metric over the folds,
each fold trains on its training part only, and no trial reads a fold's held-out clips or the test split."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

import genre.data
from genre.data.manifest import read_manifest
from genre.run_dir import RunDir
from tuning import TuneConfig, run_tuning
from tuning.objective import trial_dir
from tuning.study import open_study
from tuning.target import resolve_target


def _trials(config: TuneConfig) -> list[optuna.trial.FrozenTrial]:
    target = resolve_target(config)
    with open_study(config, target, seed=0) as study:
        return study.get_trials()


def test_a_trials_value_is_the_mean_of_its_folds_validation_scores(baseline_study, prepared):
    config = baseline_study("knn", trials=2, folds=3)
    result = run_tuning(config)
    assert result.counts["complete"] == 2
    folds = resolve_target(config).folds
    for trial in _trials(config):
        runs = [RunDir(trial_dir(config.study_dir, trial.number)).fold_run(f.name) for f in folds]
        scores = [r.metrics()["val"]["accuracy"] for r in runs]
        assert trial.user_attrs["fold_values"] == scores
        assert trial.value == pytest.approx(np.mean(scores))
        for run, fold in zip(runs, folds, strict=True):
            assert run.fold().to_dict() == fold.to_dict() and "test" not in run.metrics()
            assert sorted(run.metrics()["val"]["predictions"]["track_id"]) == fold.validation.tolist()
            assert run.is_trial  # a report leaves a trial's folds out
    assert result.best_value == max(t.value for t in _trials(config))


def test_the_folds_leave_the_test_split_out_and_every_other_clip_validates_once(baseline_study, prepared):
    folds = resolve_target(baseline_study("knn", folds=3)).folds
    clips = read_manifest(prepared).clips
    outside_test = sorted(c["track_id"] for c in clips if c["split"] != "test")
    assert len(folds) == 3 and sorted(np.concatenate([f.validation for f in folds]).tolist()) == outside_test
    for fold in folds:
        roles = np.concatenate([fold.train, fold.validation, fold.test])
        assert sorted(roles.tolist()) == outside_test


def test_no_trial_reads_a_folds_held_out_clips_nor_the_test_split(baseline_study, prepared, monkeypatch):
    yielded: list[tuple[str, str, list[int]]] = []
    load_arrays = genre.data.load_arrays

    def recording(data_dir, split, kind="handcrafted", *, verify=True, fold=None):
        x, y, ids = load_arrays(data_dir, split, kind, verify=verify, fold=fold)
        yielded.append((fold.name if fold else "", split, ids.tolist()))
        return x, y, ids

    monkeypatch.setattr(genre.data, "load_arrays", recording)
    config = baseline_study("knn", trials=2, folds=3)
    run_tuning(config)
    folds = {f.name: f for f in resolve_target(config).folds}
    test_split = {c["track_id"] for c in read_manifest(prepared).clips if c["split"] == "test"}
    assert {(name, role) for name, role, _ in yielded} == {(n, r) for n in folds for r in ("train", "validation")}
    for name, role, ids in yielded:
        fold = folds[name]
        assert sorted(ids) == getattr(fold, role).tolist()  # the fold's own part, whole
        assert not set(ids) & (set(fold.test.tolist()) | test_split)


def test_pruning_sees_the_running_mean_after_each_fold(baseline_study):
    config = baseline_study("knn", trials=2, folds=3, prune_startup_trials=1, prune_warmup_epochs=0)
    target = resolve_target(config)
    assert target.max_epochs == 3  # the pruner's steps are folds
    with open_study(config, target, seed=0) as study:
        # An earlier trial above any real one after every fold: the median pruner stops the next after its first.
        study.add_trial(
            optuna.trial.create_trial(params={}, distributions={}, value=2.0, intermediate_values={0: 2, 1: 2, 2: 2})
        )
    result = run_tuning(config)
    assert result.counts["pruned"] == 1
    (pruned,) = [t for t in _trials(config) if t.state == optuna.trial.TrialState.PRUNED]
    assert list(pruned.intermediate_values.values()) == pruned.user_attrs["fold_values"]
    assert len(pruned.user_attrs["fold_values"]) == 1
    run = RunDir(trial_dir(config.study_dir, pruned.number))
    assert run.fold_run("r0-f0").finished and not run.fold_run("r0-f1").path.exists()


def test_a_study_tuned_on_folds_is_not_joined_without_them(baseline_study):
    run_tuning(baseline_study("knn", trials=1, folds=3))
    with pytest.raises(ValueError, match="tunes folds 3, not None; pass another --study"):
        run_tuning(baseline_study("knn", trials=2))
    with pytest.raises(ValueError, match="--fold-seed goes with --folds K"):
        TuneConfig(model="knn", fold_seed=3)


def test_too_few_clips_for_the_folds_is_a_one_line_error_naming_the_data(baseline_study, prepared):
    with pytest.raises(ValueError, match=rf"^{prepared}: --folds 4 over the clips outside the test split: .*too few"):
        resolve_target(baseline_study("knn", folds=4))


def test_tune_command_takes_folds_and_refits_on_the_stored_splits(baseline_study, prepared, capsys):
    from genre.cli import main
    from tests.tuning.conftest import tune_arguments

    config = baseline_study("knn", trials=1)
    assert main([*tune_arguments(config), "--folds", "3", "--fold-seed", "5", "--refit", "--quiet"]) == 0
    (trial,) = _trials(TuneConfig(**{**config.__dict__, "folds": 3, "fold_seed": 5}))
    assert len(trial.user_attrs["fold_values"]) == 3
    assert json.loads((config.study_dir / "study.json").read_text())["best_value"] == pytest.approx(trial.value)
    # The refit trains on the stored train split and is scored once on the stored test split.
    refit = RunDir(config.study_dir / "refit").metrics()
    assert refit["tuning"]["folds"] == 3 and refit["tuning"]["best_value"] == pytest.approx(trial.value)
    test_split = sorted(c["track_id"] for c in read_manifest(prepared).clips if c["split"] == "test")
    assert sorted(refit["test"]["predictions"]["track_id"]) == test_split


@pytest.mark.slow
def test_a_net_trial_trains_on_each_folds_training_part_only(net_study, monkeypatch):
    import genre.data.pipeline as pipeline

    asked: list[tuple[str, str]] = []
    fold_track_ids = pipeline.fold_track_ids

    def recording(manifest, fold, role):
        asked.append((fold.name, role))
        return fold_track_ids(manifest, fold, role)

    monkeypatch.setattr(pipeline, "fold_track_ids", recording)
    config = net_study(trials=1, folds=3, pruner="none")
    result = run_tuning(config)
    assert result.counts["complete"] == 1
    folds = resolve_target(config).folds
    (trial,) = _trials(config)
    runs = [RunDir(trial_dir(config.study_dir, 0)).fold_run(f.name) for f in folds]
    assert trial.value == pytest.approx(np.mean([r.metrics()["val"]["accuracy"] for r in runs]))
    for run, fold in zip(runs, folds, strict=True):
        assert sorted(run.metrics()["val"]["predictions"]["track_id"]) == fold.validation.tolist()
        assert "test" not in run.metrics() and run.metrics()["epochs"] == 2
    # Every dataset a fold's run built was of its training or validation part, never its held-out one.
    assert {role for _, role in asked} == {"train", "validation"}
    assert {name for name, _ in asked} == {f.name for f in folds}
