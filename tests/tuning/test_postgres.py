"""Many workers on one PostgreSQL study: a real server, a fresh database per test (see conftest)."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest

from tests.tuning.conftest import tune_arguments
from tests.tuning.test_study import closing_storage, retried_from, running_trial
from tuning.study import DONE

pytestmark = pytest.mark.slow  # worker processes on a real server: tens of seconds each


def start_worker(config) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "genre", *tune_arguments(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(worker: subprocess.Popen, timeout: float = 300) -> None:
    _, err = worker.communicate(timeout=timeout)
    assert worker.returncode == 0, err[-3000:]


def assert_complete_without_loss(config, study: optuna.Study, killed: tuple[int, ...] = ()) -> None:
    trials = study.get_trials()
    done = [t for t in trials if t.state in DONE]
    assert len(done) == config.trials
    # Nothing left hanging; nothing failed but trials over the budget (workers racing for the last one)
    # and the trials of killed workers.
    assert not [t for t in trials if t.state in (optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.WAITING)]
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL and not t.user_attrs.get("surplus")]
    assert [t.number for t in failed] == list(killed), [(t.number, t.system_attrs.get("fail_reason")) for t in failed]
    run_dirs = [t.user_attrs["run_dir"] for t in done]
    assert len(set(run_dirs)) == len(run_dirs)  # every finished trial trained once, in its own run directory
    assert all((config.study_dir / r / "metrics.json").is_file() for r in run_dirs)


def trained_by(config, worker: subprocess.Popen, timeout: float = 180.0) -> None:
    """Waits until `worker` has started training a trial (running or finished) of `config`'s study."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with closing_storage(config) as storage:
            try:
                trials = optuna.load_study(study_name=config.study_name, storage=storage).get_trials(deepcopy=False)
            except KeyError:  # the study is not created yet
                trials = []
        if any(t.user_attrs.get("worker", "").endswith(f":{worker.pid}") for t in trials):
            return
        assert worker.poll() is None, worker.communicate()[1][-3000:]
        time.sleep(0.1)
    raise AssertionError(f"worker {worker.pid} trained no trial in {timeout} s")


def test_two_workers_share_one_study(baseline_study, postgres_url):
    config = baseline_study("knn", trials=8, storage=postgres_url)
    # The first worker starts trials for one second only (--timeout), and the second starts once the
    # first is training: each is sure to run trials, however the two processes' start-up times fall.
    first = start_worker(dataclasses.replace(config, timeout=1.0))
    trained_by(config, first)
    workers = [first, start_worker(config)]
    for worker in workers:
        finish(worker)
    with closing_storage(config) as storage:
        study = optuna.load_study(study_name=config.study_name, storage=storage)
        assert_complete_without_loss(config, study)
        pids = {int(t.user_attrs["worker"].rsplit(":", 1)[1]) for t in study.get_trials(states=DONE)}
    assert pids == {w.pid for w in workers}  # both workers ran trials of the one study


def test_a_worker_killed_mid_trial_loses_no_trial(baseline_study, postgres_url):
    config = baseline_study("hgb", trials=4, storage=postgres_url)
    victim, survivor = start_worker(config), start_worker(config)
    try:
        killed = running_trial(config, worker=victim.pid)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=60)
    finish(survivor)
    with closing_storage(config) as storage:
        study = optuna.load_study(study_name=config.study_name, storage=storage)
        assert study.trials[killed.number].state == optuna.trial.TrialState.FAIL
        assert_complete_without_loss(config, study, killed=(killed.number,))
        assert len(retried_from(study, killed.number)) == 1
