"""One run over several processes (hosts), here 2 on 127.0.0.1: JAX joins them over gloo, TensorFlow
through its multi-worker strategy.

The end-to-end tests start `genre fit` in subprocesses and carry the `hosts` marker: they run in
`tox -e hosts` only. The cluster's configuration and the sharding of batches over processes are
checked in-process, in every environment.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from subprocess import DEVNULL, PIPE

import numpy as np
import pytest

from genre.cli import main
from genre.train.distributed import ClusterConfig, cluster_from
from tests.train.conftest import resume_state, tiny_fit_config, tiny_set_arguments, wait_for
from tests.train.fit_with_hooks import command as hooked

# A 2-process run follows the 1-process run with the same global batch: the same batches, initial
# weights and dropout masks. Only float32 rounding differs (the all-reduce adds the two processes'
# gradients, one device sums the whole batch): 3e-7 relative was measured on the losses after 3 epochs
# on JAX; on TensorFlow (without dropout, see below) they were equal.
LOSS_RTOL = 1e-5


def test_flags_override_the_environment():
    env = {"JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234", "JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "3"}
    assert cluster_from(env) == ClusterConfig("10.0.0.1:1234", 4, 3)
    assert cluster_from(env, process_id=1, coordinator="h0:9") == ClusterConfig("h0:9", 4, 1)
    assert not cluster_from({}).multi_process
    assert cluster_from({}, detect=True).multi_process


def test_tf_config_names_the_processes():
    workers = ("w0:2222", "w1:2222", "w2:2222")
    spec = {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": 2}}
    cluster = cluster_from({"TF_CONFIG": json.dumps(spec)})
    assert cluster == ClusterConfig("w0:2222", 3, 2, workers=workers)
    assert cluster.worker_addresses() == workers
    # Flags naming another cluster drop TF_CONFIG's list: worker i is then at the coordinator's port + i.
    assert cluster_from({"TF_CONFIG": json.dumps(spec)}, num_processes=2, process_id=1).worker_addresses() == (
        "w0:2222",
        "w0:2223",
    )
    with pytest.raises(ValueError, match="TF_CONFIG is not a cluster spec"):
        cluster_from({"TF_CONFIG": "{not json"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"num_processes": 2, "process_id": 0}, r"needs the coordinator \(HOST:PORT of process 0\)"),
        ({"num_processes": 2, "coordinator": "h:1"}, r"and this process's id \(0\.\.1\)"),
        ({"num_processes": 2, "process_id": 2, "coordinator": "h:1"}, r"process_id must be in \[0, 2\), got 2"),
        ({"num_processes": 2, "process_id": 0, "coordinator": "h"}, r"coordinator must be HOST:PORT, got 'h'"),
        ({"num_processes": 2, "process_id": 0, "coordinator": ":1"}, r"coordinator must be HOST:PORT, got ':1'"),
        ({"num_processes": 2, "process_id": 0, "coordinator": "h:p"}, r"coordinator must be HOST:PORT, got 'h:p'"),
        ({"num_processes": 0}, "num_processes must be at least 1, got 0"),
    ],
)
def test_an_incomplete_cluster_is_an_error_naming_what_is_missing(values, message):
    with pytest.raises(ValueError, match=message):
        ClusterConfig(**values)


def test_an_incomplete_cluster_on_the_command_line_is_a_one_line_error_before_any_work(
    tmp_path, prepared, monkeypatch, capsys
):
    for name in ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID", "TF_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    run = tmp_path / "run"
    args = ["fit", "--model", "conv1d", *tiny_set_arguments(prepared), "--run-dir", str(run)]
    assert main([*args, "--num-processes", "2", "--process-id", "1"]) == 2
    assert capsys.readouterr().err == (
        "genre fit: error: num_processes=2 needs the coordinator (HOST:PORT of process 0) and this process's id "
        "(0..1), or the cluster's detection (--detect-cluster)\n"
    )
    assert not run.exists()


def test_each_process_gets_its_block_of_every_global_batch(prepared):
    """Side by side in process order, the processes' batches are the batches of one process."""
    from genre.data.pipeline import make_epochs

    def batches(**sharding):
        ds, steps = make_epochs(
            prepared, "train", "raw", first_epoch=0, epochs=2, batch_size=8, seed=5, drop_remainder=True, **sharding
        )
        return [x for x, _ in ds.as_numpy_iterator()], steps

    whole, steps = batches()
    parts = [batches(process_index=i, process_count=2) for i in range(2)]
    assert [s for _, s in parts] == [steps, steps] and len(whole) == 2 * steps
    for k, batch in enumerate(whole):
        assert [p[0][k].shape[0] for p in parts] == [4, 4]
        np.testing.assert_array_equal(np.concatenate([parts[0][0][k], parts[1][0][k]]), batch)


def test_a_batch_that_does_not_split_over_the_processes_is_an_error(prepared):
    from genre.data.pipeline import make_epochs

    with pytest.raises(ValueError, match="batch_size 9 over 2 processes"):
        make_epochs(prepared, "train", "raw", first_epoch=0, epochs=1, batch_size=9, process_count=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A learning rate that moves the weights within 3 epochs, so a wrong batch shows in every loss.
SETTINGS = {"max_epochs": 3, "deterministic": "true", "learning_rate": 0.01}


def _backend() -> str:
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def _settings() -> dict:
    """SETTINGS, without dropout on TensorFlow: its workers each draw the masks for their own rows (as one
    process's devices do), so the 1-process run they are compared with must have none."""
    return SETTINGS | ({"dropout": 0} if _backend() == "tensorflow" else {})


def _fit(prepared: Path, run: Path, **settings) -> list[str]:
    """The arguments of `genre fit` of the tiny conv1d at `_settings()` (3 steps an epoch at their batch of 16)."""
    return ["fit", "--model", "conv1d", *tiny_set_arguments(prepared, **_settings() | settings), "--run-dir", str(run)]


def _genre(*args: str) -> list[str]:
    return [sys.executable, "-m", "genre", *args]


def _cluster_env(**extra: str) -> dict:
    """The processes' environment: this one's, less its cluster settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_", "TF_CONFIG"))}
    return env | {"KERAS_BACKEND": _backend(), "PYTHONPATH": os.pathsep.join(sys.path), **extra}


@contextlib.contextmanager
def _two_processes(command: Callable[[int], list[str]], env: dict, **popen):
    """Starts `command(i)` as process i of a 2-process run on 127.0.0.1, for i = 0 and 1: on JAX with the
    flags, on TensorFlow with both workers' free ports in TF_CONFIG. Kills whatever is left of them on
    the way out: a process left waiting for its peer would otherwise outlive the test."""
    if _backend() == "jax":
        cluster = ["--num-processes=2", f"--coordinator=127.0.0.1:{_free_port()}"]
        flags = [[*cluster, f"--process-id={i}"] for i in range(2)]
        envs = [env, env]
    else:
        workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
        flags = [[], []]
        envs = [
            env | {"TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}
            for i in range(2)
        ]
    pair = [subprocess.Popen([*command(i), *flags[i]], env=envs[i], text=True, **popen) for i in range(2)]
    try:
        yield pair
    finally:
        for p in pair:
            p.kill()


def _outputs(pair: list[subprocess.Popen], code: int = 0) -> list[tuple[str, str]]:
    """Each process's (stdout, stderr), once it exited with `code`."""
    outputs = [p.communicate(timeout=300) for p in pair]
    for process, (_, err) in zip(pair, outputs, strict=True):
        assert process.returncode == code, err[-3000:]
    return outputs


def _curves(run: Path) -> list[dict]:
    with open(run / "logs" / "metrics.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _assert_same_curves(ours: list[dict], theirs: list[dict]) -> None:
    assert [a["epoch"] for a in ours] == [b["epoch"] for b in theirs] == [0, 1, 2]
    for a, b in zip(theirs, ours, strict=True):
        for key in ("loss", "val_loss"):
            assert b[key] == pytest.approx(a[key], rel=LOSS_RTOL), (key, a, b)
        for key in ("accuracy", "val_accuracy"):
            assert b[key] == pytest.approx(a[key], abs=1e-6), (key, a, b)


def _assert_same_scores(run: Path, reference: Path) -> None:
    ours, theirs = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    for split in ("val", "test"):
        assert ours[split]["accuracy"] == theirs[split]["accuracy"]
        assert ours[split]["macro_f1"] == pytest.approx(theirs[split]["macro_f1"], abs=1e-9)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, prepared):
    """A folder with `two`, a 2-process run at SETTINGS, and `one`, the 1-process run of the same settings,
    trained here while the 2 processes run; and the processes' (stdout, stderr)."""
    from genre.train.fit import train_and_evaluate

    root = tmp_path_factory.mktemp("uninterrupted")
    with _two_processes(
        lambda i: _genre(*_fit(prepared, root / "two")), _cluster_env(), stdout=PIPE, stderr=PIPE
    ) as pair:
        train_and_evaluate(tiny_fit_config(prepared, **_settings()), root / "one")
        outputs = _outputs(pair)
    return root, outputs


@pytest.mark.hosts
@pytest.mark.slow
def test_two_processes_train_as_one_with_the_same_global_batch(uninterrupted):
    root, outputs = uninterrupted
    _assert_same_curves(_curves(root / "two"), _curves(root / "one"))
    _assert_same_scores(root / "two", root / "one")
    # Process 0 alone wrote the run directory and printed the summary; process 1's copy is gone.
    assert sorted(p.name for p in (root / "two").iterdir()) == sorted(p.name for p in (root / "one").iterdir())
    summary = f"run {root / 'two'}: conv1d on {_backend()}, 3 epochs"
    assert summary in outputs[0][0] and "run " not in outputs[1][0]
    assert sorted(root.iterdir()) == [root / "one", root / "two"]


@pytest.mark.hosts
@pytest.mark.slow
def test_both_processes_killed_inside_an_epoch_resume_on_two_at_the_saved_step(tmp_path, prepared, uninterrupted):
    """SIGKILL to every process between two saves inside an epoch; `--resume` on 2 processes trains only
    the steps not saved and ends with the curves and scores of the 2-process run never stopped."""
    run, scratch = tmp_path / "run", tmp_path / "scratch"
    scratch.mkdir()
    env = _cluster_env(TMPDIR=str(scratch))  # where a killed process 1 leaves its copy of the run
    # A save every 2 steps of the run (3 an epoch): the last before the pause, after epoch 1's second
    # step, is after its first. Keras's progress is on, to see that process 1 prints none of it.
    fit = _fit(prepared, run, checkpoint_every_n_steps=2, progress="true")
    paused = [tmp_path / f"paused-{i}" for i in range(2)]
    hooks = [["--pause-at", "1:1", "--marker", str(marker)] for marker in paused]
    with _two_processes(lambda i: hooked(*hooks[i], genre_args=fit), env, stdout=DEVNULL, stderr=DEVNULL) as pair:
        for marker in paused:
            wait_for(marker, *pair)
        for p in pair:
            p.send_signal(signal.SIGKILL)
            p.wait()
    state = resume_state(run)
    assert (state["epoch"], state["step"]) == (1, 1)
    assert [row["epoch"] for row in _curves(run)] == [0]

    counts = [tmp_path / f"count-{i}" for i in range(2)]
    resume = ["fit", "--model", "conv1d", "--run-dir", str(run), "--resume"]
    command = lambda i: hooked("--count", str(counts[i]), genre_args=resume)  # noqa: E731
    with _two_processes(command, env, stdout=PIPE, stderr=PIPE) as pair:
        outputs = _outputs(pair)
    # Each epoch once, as the run never stopped logged it: restarting epoch 1 at its first batch, or at
    # the saved step on the wrong batches, would move every loss from there on.
    _assert_same_curves(_curves(run), _curves(uninterrupted[0] / "two"))
    _assert_same_scores(run, uninterrupted[0] / "two")
    assert [int(count.read_text()) for count in counts] == [(3 - 1) + 3] * 2  # the steps not saved, no more
    # Process 0 alone printed Keras's progress and the summary (gloo prints a line of its own in each).
    summary = f"run {run}: conv1d on {_backend()}, 3 epochs"
    assert "Epoch 3/3" in outputs[0][0] and summary in outputs[0][0], outputs[0][0]
    assert not any(word in outputs[1][0] for word in ("Epoch", "loss", "run ")), outputs[1][0]


@pytest.mark.hosts
@pytest.mark.slow
def test_a_sigterm_to_one_process_stops_every_process_at_the_same_step(tmp_path, prepared):
    """A preempted host gets the signal, its peers do not: all must still save the same step and exit,
    none left waiting in a collective for a process that has gone."""
    run, paused, release = tmp_path / "run", tmp_path / "paused", tmp_path / "release"
    fit = _fit(prepared, run, batch_size=4)
    # Process 1 waits after step 3 of the second epoch, where the test signals it alone.
    hooks = [[], ["--pause-at", "1:2", "--marker", str(paused), "--release", str(release)]]
    command = lambda i: hooked(*hooks[i], genre_args=fit)  # noqa: E731
    with _two_processes(command, _cluster_env(), stdout=DEVNULL, stderr=PIPE) as pair:
        wait_for(paused, *pair)
        pair[1].send_signal(signal.SIGTERM)
        release.write_text("go")
        errors = [err for _, err in _outputs(pair, code=75)]
    state = resume_state(run)
    assert (state["epoch"], state["step"]) == (1, 3)
    assert "SIGTERM received: training stopped at epoch 2, after step 3 of" in errors[1]
    assert "another process of the run was stopped: training stopped at epoch 2, after step 3 of" in errors[0]


@pytest.mark.parametrize("resume", [False, True])
def test_only_process_zero_writes_the_run_directory(tmp_path, resume):
    from genre.train.distributed import Processes
    from genre.train.fit import _own_run

    run = tmp_path / "run"
    if resume:
        run.mkdir()
        (run / "config.json").write_text("{}")
    with _own_run(run, Processes(0, 2), resume) as own:
        assert own == run
    with _own_run(run, Processes(1, 2), resume) as own:
        assert not own.is_relative_to(tmp_path) and own.name == run.name
        assert own.exists() == resume  # a resumed run starts from a copy of process 0's
        own.mkdir(exist_ok=True)
        assert sorted(p.name for p in own.iterdir()) == (["config.json"] if resume else [])
        (own / "metrics.json").write_text("{}")
    assert not own.exists() and not (run / "metrics.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == (["run"] if resume else [])


def test_resuming_on_a_host_that_cannot_see_the_run_is_an_error(tmp_path):
    from genre.train.distributed import Processes
    from genre.train.fit import _own_run

    with (
        pytest.raises(ValueError, match=r"process 1 cannot see process 0's run directory"),
        _own_run(tmp_path / "run", Processes(1, 2), resume=True),
    ):
        pass
