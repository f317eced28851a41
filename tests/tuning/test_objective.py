"""Trials never read the test split; net trials report every epoch and the pruner stops them."""

from __future__ import annotations

import csv
import json
import shutil
import warnings

import optuna
import pytest

from genre.data.manifest import MANIFEST_NAME, ManifestError
from genre.train.fit import train_and_evaluate
from tests.conftest import missing_shard
from tuning import TuneConfig, run_tuning
from tuning.objective import trial_dir
from tuning.study import open_study
from tuning.target import resolve_target


@pytest.fixture
def without_test_split(prepared, tmp_path):
    """A copy of the prepared data whose test shards are gone: reading them at all is an error."""
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    shutil.rmtree(data / "test")
    assert json.loads((data / MANIFEST_NAME).read_text())["shards"]["test"]  # the manifest still lists them
    return data


def test_net_trials_never_read_the_test_split(net_study, without_test_split):
    config = net_study(data=without_test_split)
    # The copy is broken for anything that reads test.
    with pytest.raises(ManifestError, match=missing_shard(without_test_split / "test")):
        train_and_evaluate(resolve_target(config).base, config.study_dir / "full-run")
    result = run_tuning(config)
    assert result.counts["complete"] == config.trials and result.done
    for number in range(config.trials):
        metrics = json.loads((trial_dir(config.study_dir, number) / "metrics.json").read_text())
        assert "val" in metrics and "test" not in metrics


def test_baseline_trials_never_read_the_test_split(baseline_study, without_test_split):
    from genre.baselines.fit import fit_baseline

    config = baseline_study("knn", data=without_test_split, trials=2)
    with pytest.raises(ManifestError, match=missing_shard(without_test_split / "test")):
        fit_baseline(resolve_target(config).base, config.study_dir / "full-run")
    result = run_tuning(config)
    assert result.counts["complete"] == config.trials
    for number in range(config.trials):
        metrics = json.loads((trial_dir(config.study_dir, number) / "metrics.json").read_text())
        assert "val" in metrics and "test" not in metrics


def test_pruning_stops_a_net_trial_after_its_first_epoch(net_study):
    config = net_study(trials=2, overrides={"max_epochs": "3"}, prune_startup_trials=1, prune_warmup_epochs=0)
    target = resolve_target(config)
    with open_study(config, target, seed=0) as study:
        # An earlier trial that was perfect at every epoch: a real trial below it at its first epoch is
        # worse than the median of finished trials, so the median pruner stops it there.
        first = optuna.trial.create_trial(
            params={}, distributions={}, value=1.0, intermediate_values={e: 1.0 for e in range(3)}
        )
        study.add_trial(first)  # the first of the study's two trials
    result = run_tuning(config)
    with open_study(config, target, seed=0) as study:
        pruned = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.PRUNED]
    assert result.counts["pruned"] == 1 and len(pruned) == 1
    (trial,) = pruned
    assert list(trial.intermediate_values) == [0]
    run = config.study_dir / trial.user_attrs["run_dir"]
    with (run / "logs" / "metrics.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 1  # one epoch of three trained
    metrics = json.loads((run / "metrics.json").read_text())  # still a whole run directory
    assert metrics["epochs"] == 1 and "test" not in metrics


def test_no_pruner_lets_every_epoch_of_a_worse_trial_run(net_study):
    """The same worse-than-the-median trial as above, with --pruner none: it trains all its epochs."""
    config = net_study(trials=2, overrides={"max_epochs": "3"}, pruner="none", prune_startup_trials=1)
    target = resolve_target(config)
    with open_study(config, target, seed=0) as study:
        first = optuna.trial.create_trial(
            params={}, distributions={}, value=1.0, intermediate_values={e: 1.0 for e in range(3)}
        )
        study.add_trial(first)
    result = run_tuning(config)
    assert result.counts["pruned"] == 0 and result.counts["complete"] == 2
    with open_study(config, target, seed=0) as study:
        (trial,) = [t for t in study.get_trials() if "run_dir" in t.user_attrs]
    with (config.study_dir / trial.user_attrs["run_dir"] / "logs" / "metrics.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 3


def test_the_objective_is_the_metric_asked_for(baseline_study, tmp_path):
    values = {}
    for metric in ("accuracy", "macro_f1"):
        result = run_tuning(baseline_study("knn", trials=2, metric=metric, study_dir=tmp_path / metric))
        best = json.loads((result.best_run_dir / "metrics.json").read_text())["val"]
        assert result.best_value == pytest.approx(best[metric])
        values[metric] = best
    assert values["macro_f1"]["macro_f1"] != values["macro_f1"]["accuracy"]  # the check can tell them apart


def test_hyperband_prunes_on_the_epoch_budget_and_runs_baselines_whole(baseline_study):
    from tuning.study import pruner

    hyperband = pruner(TuneConfig(model="conv1d", pruner="hyperband"), 7)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    result = run_tuning(baseline_study("knn", trials=3, pruner="hyperband"))
    assert result.counts["complete"] == 3 and result.counts["pruned"] == 0  # no epochs: nothing to prune


def test_hyperband_prunes_a_worse_net_trial_before_its_last_epoch(net_study):
    """Four earlier trials perfect at every epoch, reported through the pruner as real trials are; then
    one real trial that can barely learn (learning rate 1e-6). With 3 epochs Hyperband has two brackets;
    trial 4 falls in the first (trials go to brackets by a hash of study name and number, so this is
    fixed), whose first rung is epoch 2: there it is below the perfect trial of its bracket, and stops."""
    config = net_study(trials=5, overrides={"max_epochs": "3", "learning_rate": "1e-6"}, pruner="hyperband")
    target = resolve_target(config)
    with open_study(config, target, seed=0) as study, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)  # these trials need none
        for _ in range(4):
            perfect = study.ask()
            for epoch in range(3):
                perfect.report(1.0, step=epoch)
                assert not perfect.should_prune()
            study.tell(perfect, 1.0)
    result = run_tuning(config)
    assert result.counts["pruned"] == 1 and result.counts["complete"] == 4
    with open_study(config, target, seed=0) as study:
        (trial,) = [t for t in study.get_trials() if t.state == optuna.trial.TrialState.PRUNED]
    assert trial.number == 4 and list(trial.intermediate_values) == [0, 1]
    run = config.study_dir / trial.user_attrs["run_dir"]
    with (run / "logs" / "metrics.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2  # two epochs of three trained
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2  # still a whole run directory
