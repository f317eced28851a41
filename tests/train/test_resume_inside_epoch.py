"""Exact resume from inside an epoch (`checkpoint_every_n_steps`), after a real SIGKILL and a SIGTERM.

A tiny conv1d on the session's data set at batch size 4: 12 steps an epoch, 3 epochs, deterministic,
with dropout and a cosine schedule, so weights, optimizer, seed generators, the learning rate's step
count, the data position and the epoch's metric accumulators all have to come back for the curves of
the resumed run to equal those of a run never stopped.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.train.conftest import resume_state, tiny_set_arguments, wait_for
from tests.train.fit_with_hooks import command as hooked

EPOCHS, STEPS = 3, 12
SETTINGS = {
    "batch_size": 4,
    "max_epochs": EPOCHS,
    "deterministic": "true",
    "early_stopping_patience": "none",
    "dropout": 0.3,
    "schedule": "cosine",
    "bn_update_batches": 0,
}
CURVES = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
ENV = {**os.environ, "PYTHONHASHSEED": "0"}


def _fit(prepared, run, **settings) -> list[str]:
    args = tiny_set_arguments(prepared, **{**SETTINGS, **settings})
    return ["fit", "--model", "conv1d", *args, "--run-dir", str(run)]


def _rows(run) -> list[dict]:
    with open(run / "logs" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _tensorboard_steps(run, folder: str, tag: str) -> list[int]:
    import tensorflow as tf

    files = sorted(str(f) for f in (run / "logs" / "tensorboard" / folder).glob("events.out.tfevents.*"))
    events = map(tf.compat.v1.Event.FromString, tf.data.TFRecordDataset(files).as_numpy_iterator())
    return sorted(e.step for e in events for value in e.summary.value if value.tag == tag)


def _assert_same_curves_and_scores(run, reference) -> None:
    ours, theirs = _rows(run), _rows(reference)
    assert [int(r["epoch"]) for r in ours] == list(range(EPOCHS))
    for a, b in zip(ours, theirs, strict=True):
        for key in CURVES:
            assert math.isclose(float(a[key]), float(b[key]), rel_tol=1e-6, abs_tol=1e-7), (key, a, b)
    final, expected = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    assert final["val"] == expected["val"] and final["test"] == expected["test"] and final["epochs"] == EPOCHS


@pytest.fixture(scope="module")
def reference(tmp_path_factory, prepared):
    """A run never stopped, saving at epoch ends only."""
    run = tmp_path_factory.mktemp("reference") / "run"
    subprocess.run([sys.executable, "-m", "genre", *_fit(prepared, run)], check=True, capture_output=True, env=ENV)
    return run


@pytest.mark.slow
def test_sigkill_inside_an_epoch_resumes_at_the_saved_step(tmp_path, prepared, reference):
    run, paused, count = tmp_path / "killed", tmp_path / "paused", tmp_path / "count"
    # Saves every 5 steps over the run: steps 15 and 20 fall in epoch 1 (its steps 3 and 8). Paused after
    # epoch 1's ninth step, the state on disk is its eighth: one trained step is lost with the process.
    process = subprocess.Popen(
        hooked("--pause-at", "1:8", "--marker", str(paused),
                genre_args=_fit(prepared, run, checkpoint_every_n_steps=5, tensorboard="true")),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
    )  # fmt: skip
    wait_for(paused, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    state = resume_state(run)
    assert (state["epoch"], state["step"]) == (1, 8)
    assert [int(r["epoch"]) for r in _rows(run)] == [0]
    assert (run / "checkpoints" / "last" / "model.keras").is_file()  # the model of the last finished epoch

    resume = ["fit", "--model", "conv1d", "--run-dir", str(run), "--resume"]
    done = subprocess.run(hooked("--count", str(count), genre_args=resume), capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    # TensorBoard's points, over the event files of both processes: each epoch once, each validation at
    # the step count of the optimizer.
    assert _tensorboard_steps(run, "train", "epoch_loss") == list(range(EPOCHS))
    assert _tensorboard_steps(run, "validation", "evaluation_loss_vs_iterations") == [STEPS, 2 * STEPS, 3 * STEPS]
    # Only the steps not saved are trained again: the rest of epoch 1, then epoch 2.
    assert int(count.read_text()) == (STEPS - 8) + STEPS
    _assert_same_curves_and_scores(run, reference)


@pytest.mark.slow
def test_sigterm_saves_at_the_next_step_exits_75_and_requeues_on_slurm(tmp_path, prepared, reference):
    run, paused, release, calls = tmp_path / "stopped", tmp_path / "paused", tmp_path / "release", tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scontrol.chmod(0o755)
    env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{ENV['PATH']}", "SLURM_JOB_ID": "4242"}
    # No periodic saving: the state after epoch 0 is all there is until SIGTERM asks for one.
    process = subprocess.Popen(
        hooked("--pause-at", "1:4", "--marker", str(paused), "--release", str(release),
                genre_args=[*_fit(prepared, run), "--requeue"]),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    wait_for(paused, process)
    process.send_signal(signal.SIGTERM)
    release.write_text("go")
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 75, stderr[-3000:]
    assert time.monotonic() - sent < 30  # it stops at the step after the signal, not at the epoch's end
    state = resume_state(run)
    assert (state["epoch"], state["step"]) == (1, 5)  # saved after the step the signal arrived in
    assert "SIGTERM received: training stopped at epoch 2, after step 5 of 12" in stderr
    assert "requeued SLURM job 4242" in stderr
    assert calls.read_text().split() == ["requeue", "4242"]
    assert not (run / "metrics.json").exists()

    resume = [sys.executable, "-m", "genre", "fit", "--model", "conv1d", "--run-dir", str(run), "--resume"]
    subprocess.run(resume, check=True, capture_output=True, env=ENV)
    _assert_same_curves_and_scores(run, reference)


def test_checkpoint_every_n_minutes_saves_between_steps(tmp_path, tiny_config):
    import keras

    from genre.train.fit import train_and_evaluate

    run, seen = tmp_path / "run", []

    class LookAtTheState(keras.callbacks.Callback):
        # A user callback runs before the Trainer's own: it sees the state the previous step left.
        def on_train_batch_end(self, batch, logs=None):
            if (run / "checkpoints" / "last" / "state.json").is_file():
                seen.append((resume_state(run)["epoch"], resume_state(run)["step"]))

    config = tiny_config(max_epochs=2, batch_size=4, checkpoint_every_n_minutes=1e-9)  # due after every step
    train_and_evaluate(config, run, callbacks=[LookAtTheState()])
    assert seen == [(0, k) for k in range(1, STEPS)] + [(1, k) for k in range(STEPS)]
