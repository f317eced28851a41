"""A study end to end: best config, figures, refit (a net); an interrupted SQLite study resumed (a baseline)."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import os
import signal
import subprocess
import sys
import time
import warnings

import optuna
import pytest

from genre.cli import main
from genre.train.config import read_toml
from tests.conftest import minutes_seconds, progress_lines
from tests.tuning.conftest import tune_arguments
from tuning import run_tuning
from tuning.study import DONE, open_study, storage
from tuning.target import resolve_target


def test_the_best_config_retrains_to_the_same_validation_metric(net_study, tmp_path, capsys):
    config = net_study(trials=3, refit=True, figures=True, overrides={"deterministic": "true"})
    result = run_tuning(config)
    assert result.done and result.counts["complete"] + result.counts["pruned"] == config.trials
    assert result.refit_metrics["val"]["accuracy"] == pytest.approx(result.best_value, abs=1e-9)
    assert "test" in result.refit_metrics
    assert {p.name for p in result.figures} >= {"optimization_history.png", "intermediate_values.png"}
    assert all(p.stat().st_size > 0 for p in result.figures)
    recorded = json.loads((config.study_dir / "study.json").read_text())
    assert recorded["best_value"] == result.best_value and recorded["refit_metrics"]["test"]

    best = read_toml(result.best_config)
    for name, value in result.best_params.items():
        assert best[name] == pytest.approx(value) if isinstance(value, float) else str(best[name]) == str(value)
    # `genre fit --config best.toml` is the same run again.
    run = tmp_path / "fit-best"
    assert main(["fit", "--model", "conv1d", "--config", str(result.best_config), "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val"]["accuracy"] == pytest.approx(result.best_value, abs=1e-9)

    # The same command on a finished study runs no trial and reuses the refit.
    trials_before = len(list((config.study_dir / "trials").iterdir()))
    again = run_tuning(config)
    assert len(list((config.study_dir / "trials").iterdir())) == trials_before
    assert again.refit_metrics == result.refit_metrics


def running_trial(config, worker: int | None = None, timeout: float = 180.0):
    """The first trial training in `config`'s study (run by process `worker`, if given), once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if not config.shared_storage and not (config.directory / "study.db").is_file():
            continue
        with closing_storage(config) as rdb:
            try:
                study = optuna.load_study(study_name=config.study_name, storage=rdb)
            except KeyError:  # the study is not created yet
                continue
            for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
                # "worker" is set once every parameter is: the trial is training, not still being suggested.
                owner = trial.user_attrs.get("worker")
                if owner and (worker is None or owner.endswith(f":{worker}")):
                    return trial
    raise AssertionError(f"no trial started within {timeout} s")


@contextlib.contextmanager
def closing_storage(config):
    rdb = storage(config)  # retries while a worker is still creating the tables
    try:
        yield rdb
    finally:
        rdb.engine.dispose()


@pytest.mark.slow
def test_a_study_killed_mid_trial_resumes_with_the_same_command(baseline_study):
    config = baseline_study("hgb", trials=3)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "genre", *tune_arguments(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        killed = running_trial(config)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=60)
    assert worker.returncode == -signal.SIGKILL

    result = run_tuning(config)  # the same command again
    with open_study(config, resolve_target(config), seed=0) as study:
        assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
        assert len(retried_from(study, killed.number)) == 1
    assert result.done and result.counts["complete"] == config.trials


def retried_from(study, number: int) -> list:
    """The finished trials that re-ran trial `number` (with its parameters)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # experimental API
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback
        killed = study.trials[number]
        out = [t for t in study.get_trials(states=DONE) if retry.retried_trial_number(t) == number]
    assert all(t.params == killed.params for t in out), (killed.params, [(t.number, t.params) for t in out])
    return out


def test_genre_tune_then_genre_baseline_with_the_best_config(baseline_study, tmp_path, capsys):
    from tests.tuning.conftest import tune_arguments

    config = baseline_study("knn", trials=3)
    assert main([*tune_arguments(config), "--refit"]) == 0
    out = capsys.readouterr().out
    assert "3 complete" in out and "best config" in out and "refit" in out
    recorded = json.loads((config.study_dir / "study.json").read_text())
    run = tmp_path / "knn-best"
    assert main(["baseline", "--model", "knn", "--config", recorded["best_config"], "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val"]["accuracy"] == recorded["best_value"]
    assert (
        json.loads((config.study_dir / "refit" / "metrics.json").read_text())["tuning"]["best_trial"]
        == (recorded["best_trial"])
    )


def test_several_worker_processes_share_the_embedded_study(baseline_study):
    config = baseline_study("knn", trials=6, n_jobs=2)
    result = run_tuning(config)
    assert result.done and result.counts["complete"] == config.trials
    assert result.counts["running"] == result.counts["waiting"] == result.counts["failed"] == 0


@pytest.mark.parametrize("sampler", ["tpe", "random", "cmaes"])
def test_every_sampler_finishes_a_study_reproducibly(baseline_study, tmp_path, sampler):
    first = run_tuning(baseline_study("knn", trials=3, sampler=sampler))
    again = run_tuning(baseline_study("knn", trials=3, sampler=sampler, study_dir=tmp_path / "again"))
    assert first.done and first.counts["complete"] == 3
    assert (first.best_params, first.best_value) == (again.best_params, again.best_value)  # one worker, one seed


def test_settings_the_data_cannot_take_end_their_trials_as_pruned(baseline_study, tmp_path, caplog):
    """More PCA components than training clips is a corner of the space this data cannot take: the trial
    is pruned with that reason in one line, not failed with a traceback."""
    space = tmp_path / "too-many-components.toml"
    space.write_text("[search_space]\nn_neighbors = {low = 1, high = 5}\npca_components = [400, 500]\n")
    with caplog.at_level("WARNING"):
        result = run_tuning(baseline_study("knn", trials=2, config=space, overrides={}))
    assert result.counts["pruned"] == 2 and result.counts["failed"] == 0 and result.counts["complete"] == 0
    assert "Traceback" not in caplog.text


def test_a_trial_is_failed_only_after_two_missed_heartbeats_then_retried(baseline_study):
    """A worker that died leaves its trial RUNNING with a last heartbeat: the trial stays RUNNING while
    that heartbeat is younger than two intervals, is marked FAIL once it is older, and is queued again
    with the same parameters. (SQLite's clock has whole seconds: the FAIL comes within a second after.)"""
    config = baseline_study("knn", heartbeat_interval=2)
    grace = 2 * config.heartbeat_interval
    with closing_storage(config) as rdb:
        study = optuna.create_study(study_name=config.study_name, storage=rdb, direction="maximize")
        with warnings.catch_warnings():
            # Optuna warns that heartbeats go with `optimize`: this trial stands for one a killed worker's left.
            warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
            trial = study.ask()
        trial.suggest_int("n_neighbors", 1, 5)
        sent = time.monotonic()
        rdb.record_heartbeat(trial._trial_id)  # its last heartbeat: the worker dies here

        def state_after_check() -> tuple[optuna.trial.TrialState, float]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # what every worker does before each trial
            return study.trials[trial.number].state, time.monotonic() - sent

        checked_running = 0
        while True:
            state, age = state_after_check()
            if state != optuna.trial.TrialState.RUNNING:
                break
            assert age < grace + 3, f"still running {age:.1f} s after its last heartbeat"
            checked_running += age > config.heartbeat_interval + 1  # more than one interval missed
            time.sleep(0.2)
        assert state == optuna.trial.TrialState.FAIL
        assert age > grace, f"failed {age:.1f} s after its last heartbeat, before two intervals ({grace} s)"
        assert checked_running, "never checked between one and two missed intervals"
        (retry,) = [t for t in study.trials if t.state == optuna.trial.TrialState.WAITING]
        assert retry.params == {"n_neighbors": trial.params["n_neighbors"]}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == trial.number


def test_a_study_file_that_is_not_a_database_is_named_in_one_line(baseline_study, capsys):
    config = baseline_study("knn", trials=1)
    config.study_dir.mkdir(parents=True)
    db = config.study_dir / "study.db"
    garbage = bytes(range(256)) * 16
    db.write_bytes(garbage)
    assert main(tune_arguments(config)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{db}: not a readable Optuna study database" in err
    assert db.read_bytes() == garbage  # left as it was
    assert not (config.study_dir / "trials").exists()


def test_timeout_alone_stops_the_study_and_keeps_the_trials_it_finished(baseline_study, capsys):
    """`genre tune --timeout S` without --trials: no trial starts after S seconds; the study is not done
    (20 trials by default) and the same command resumes it with the finished trials kept."""
    config = baseline_study("hgb", timeout=2.0)  # hgb trials take about a second: a few fit in 2 s
    args = tune_arguments(config)
    del args[args.index("--trials") : args.index("--trials") + 2]
    assert main(args) == 0
    assert "not done (20 wanted), run again to resume" in capsys.readouterr().out
    recorded = json.loads((config.study_dir / "study.json").read_text())
    assert recorded["done"] is False and 1 <= recorded["counts"]["complete"] < 20
    with closing_storage(config) as rdb:
        trials = optuna.load_study(study_name=config.study_name, storage=rdb).trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    # The clock starts before the first trial: no trial starts more than `timeout` after it.
    starts = sorted(t.datetime_start for t in trials)
    assert starts[-1] - starts[0] < datetime.timedelta(seconds=config.timeout)
    kept = {t.number: (config.study_dir / t.user_attrs["run_dir"] / "metrics.json") for t in trials}
    stamps = {n: path.stat().st_mtime_ns for n, path in kept.items()}

    assert main(args) == 0  # the same command: more trials, the finished ones untouched
    again = json.loads((config.study_dir / "study.json").read_text())
    assert again["counts"]["complete"] > recorded["counts"]["complete"]
    assert {n: path.stat().st_mtime_ns for n, path in kept.items()} == stamps


def test_the_progress_bar_counts_trials_with_their_rate_eta_and_best(baseline_study, capsys, work_clock, monkeypatch):
    """Each trial takes 0.5 s on the bar's clock: the bar shows n/total trials, 2.00 trial/s, the time
    left for the rest and the best value so far; with --quiet (progress=False) it shows nothing."""
    import tuning.study as study_module

    advance = study_module._advance

    def timed(bar, study):
        work_clock.tick()
        advance(bar, study)

    monkeypatch.setattr(study_module, "_advance", timed)
    config = baseline_study("knn", trials=4, progress=True)
    result = run_tuning(config)
    lines = [line for line in progress_lines(capsys.readouterr().err, "tune knn") if int(line["n"]) > 0]
    assert list(dict.fromkeys(int(line["n"]) for line in lines)) == [1, 2, 3, 4]  # closing redraws the last
    for line in lines:
        n = int(line["n"])
        assert line["total"] == "4" and line["unit"] == "trial" and float(line["rate"]) == pytest.approx(2.0)
        assert line["eta"] == minutes_seconds(0.5 * (4 - n))
    assert float(lines[-1]["best"]) == pytest.approx(result.best_value, abs=1e-4)

    run_tuning(dataclasses.replace(config, study_dir=config.study_dir.parent / "quiet", progress=False))
    assert progress_lines(capsys.readouterr().err, "tune knn") == []
