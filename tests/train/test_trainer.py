"""The Trainer's loop policy: checkpoints, exact resume after SIGKILL, early and NaN stops, debug limits."""

from __future__ import annotations

import csv
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from genre.run_dir import RunDir
from genre.train import TrainingDiverged
from genre.train.checkpoint import embedded_config
from genre.train.fit import train_and_evaluate
from tests.train.conftest import tiny_set_arguments


def _rows(run, phase=""):
    with open(run / "logs" / phase / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_metrics_json_and_run_directory(tmp_path, tiny_config):
    run = tmp_path / "run"
    metrics = train_and_evaluate(tiny_config(max_epochs=2), run)
    assert metrics["model"] == "conv1d" and metrics["backend"] == keras.backend.backend()
    assert metrics["epochs"] == 2 and metrics["train_seconds"] > 0
    for split in ("val", "test"):
        assert 0 <= metrics[split]["accuracy"] <= 1 and 0 <= metrics[split]["macro_f1"] <= 1
        assert metrics[split]["windows_per_clip"] == 3
    assert len(metrics["test"]["confusion"]) == 8 and set(metrics["test"]["per_genre"]) >= {"Rock", "Folk"}
    assert json.loads((run / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    assert json.loads((run / "config.json").read_text())["model_config"]["filters"] == [4, 4]
    assert (run / "data_manifest.json").is_file()
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["0", "1"] and {"loss", "val_accuracy", "learning_rate"} <= set(rows[0])


def test_keeps_the_top_k_checkpoints(tmp_path, tiny_config):
    run = tmp_path / "run"
    train_and_evaluate(
        tiny_config(max_epochs=5, save_top_k=2, monitor="val_loss", monitor_mode="min", early_stopping_patience="none"),
        run,
    )
    kept = sorted(p.name for p in (run / "checkpoints").glob("*.keras"))
    losses = sorted((float(r["val_loss"]), int(r["epoch"]) + 1) for r in _rows(run))[:2]
    assert kept == sorted(f"epoch={e:03d}-val_loss={v:.4f}.keras" for v, e in losses)
    assert RunDir(run).best_checkpoint().name == f"epoch={losses[0][1]:03d}-val_loss={losses[0][0]:.4f}.keras"
    embedded = embedded_config(RunDir(run).best_checkpoint())
    assert embedded["model"] == "conv1d"


def test_early_stopping_stops_when_the_monitor_stalls(tmp_path, tiny_config):
    # A learning rate this small cannot move val_accuracy: patience 1 ends the run after 2 epochs.
    metrics = train_and_evaluate(
        tiny_config(max_epochs=10, learning_rate=1e-12, early_stopping_patience=1), tmp_path / "run"
    )
    assert metrics["stopped_early"] is True and metrics["epochs"] == 2


@pytest.mark.parametrize("schedule", ["constant", "cosine", "plateau"])
def test_learning_rate_schedules(tmp_path, tiny_config, schedule):
    # A rate this small leaves val_accuracy unchanged, so the plateau schedule sees no improvement.
    config = tiny_config(
        max_epochs=4,
        limit_train_batches=2,
        learning_rate=1e-8,
        schedule=schedule,
        plateau_patience=1,
        plateau_factor=0.5,
        min_learning_rate=1e-12,
        early_stopping_patience="none",
    )
    train_and_evaluate(config, tmp_path / "run")
    rates = [float(r["learning_rate"]) for r in _rows(tmp_path / "run")]
    assert len(rates) == 4
    if schedule == "constant":
        assert rates == pytest.approx([1e-8] * 4, rel=1e-6)
    elif schedule == "cosine":  # decays every step, from the configured rate
        assert rates[0] < 1e-8 and all(a > b for a, b in itertools.pairwise(rates)), rates
    else:
        # Each row is the rate its epoch trained with: epoch 0 sets the best, epoch 1 does not improve
        # on it (patience 1), so epochs 2 and 3 train at half the rate before.
        ratios = [b / a for a, b in itertools.pairwise(rates)]
        assert rates[0] == pytest.approx(1e-8, rel=1e-6) and ratios == pytest.approx([1, 0.5, 0.5], rel=1e-6), rates


class _PoisonWeights(keras.callbacks.Callback):
    """Turns one kernel to NaN when the second epoch begins, as a diverging step would."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            kernel = next(v for v in self.model.trainable_variables if "kernel" in v.path)
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_state(tmp_path, tiny_config):
    run = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at epoch 2, batch 1") as err:
        train_and_evaluate(tiny_config(max_epochs=4), run, callbacks=[_PoisonWeights()])
    last = run / "checkpoints" / "last"
    assert str(last) in str(err.value) and "(epoch 1)" in str(err.value)
    assert json.loads((last / "state.json").read_text())["epoch"] == 1
    with np.load(last / "variables.npz") as arrays:
        assert all(np.isfinite(arrays[k]).all() for k in arrays.files if arrays[k].dtype.kind == "f")
    assert not (run / "metrics.json").exists()


class _CountBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches, self.epochs = 0, 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


def test_debug_limits_and_user_callbacks(tmp_path, tiny_config):
    counter = _CountBatches()
    train_and_evaluate(
        tiny_config(max_epochs=2, limit_train_batches=1, limit_val_batches=1), tmp_path / "a", callbacks=[counter]
    )
    assert (counter.batches, counter.epochs) == (2, 2)

    counter = _CountBatches()
    metrics = train_and_evaluate(tiny_config(max_epochs=5, fast_dev_run=True), tmp_path / "b", callbacks=[counter])
    assert (counter.batches, counter.epochs) == (1, 1)
    assert metrics["fast_dev_run"] is True and metrics["checkpoint"] is None
    assert not list((tmp_path / "b" / "checkpoints").glob("*.keras"))


def test_training_drops_a_last_partial_batch_so_every_step_has_one_shape(tmp_path, tiny_config, prepared):
    from genre.data.manifest import read_manifest

    manifest = read_manifest(prepared)
    windows = manifest.shape("raw")[0] * manifest.clip_count("train")  # conv1d trains on each window
    size = next(b for b in range(16, 1, -1) if windows % b)  # a batch size that leaves a partial batch
    counter = _CountBatches()
    metrics = train_and_evaluate(tiny_config(max_epochs=1, batch_size=size), tmp_path / "run", callbacks=[counter])
    assert counter.batches == windows // size
    assert metrics["val"]["clips"] == manifest.clip_count("validation")  # validation keeps every clip


def test_refuses_to_overwrite_a_run(tmp_path, tiny_config):
    run = tmp_path / "run"
    train_and_evaluate(tiny_config(fast_dev_run=True), run)
    with pytest.raises(ValueError, match="--resume"):
        train_and_evaluate(tiny_config(fast_dev_run=True), run)


def _fit_command(prepared, run, *extra):
    args = tiny_set_arguments(prepared, max_epochs=4, deterministic="true", early_stopping_patience="none", dropout=0.3)
    return [sys.executable, "-m", "genre", "fit", "--model", "conv1d", *args, "--run-dir", str(run), *extra]


@pytest.mark.slow
def test_resume_after_sigkill_continues_from_the_saved_epoch(tmp_path, prepared):
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    reference = tmp_path / "reference"
    subprocess.run(_fit_command(prepared, reference), check=True, capture_output=True, env=env)

    run = tmp_path / "killed"
    process = subprocess.Popen(
        _fit_command(prepared, run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    state = run / "checkpoints" / "last" / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if state.is_file() and json.loads(state.read_text())["epoch"] >= 2:
            break
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "metrics.json").exists()
    saved = json.loads(state.read_text())["epoch"]
    before = _rows(run)
    # The CSV row of an epoch is written just before its resume state, so the kill may leave one more row.
    assert [int(r["epoch"]) for r in before] == list(range(len(before))) and len(before) - saved in (0, 1)

    resume = [sys.executable, "-m", "genre", "fit", "--model", "conv1d", "--run-dir", str(run), "--resume"]
    subprocess.run(resume, check=True, capture_output=True, env=env)
    ours, theirs = _rows(run), _rows(reference)
    # The rows of the saved epochs are kept as they were (a row past the state is dropped and written
    # again); the resumed process logs only the epochs from the saved one on: retraining from epoch 0
    # would log epochs 0 and 1 twice.
    assert ours[:saved] == before[:saved]
    assert [int(r["epoch"]) for r in ours] == list(range(4))
    # Every epoch, before and after the kill, equals the uninterrupted run's.
    for a in ours:
        b = theirs[int(a["epoch"])]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
            assert math.isclose(float(a[key]), float(b[key]), rel_tol=1e-6, abs_tol=1e-7), (key, a, b)
    final, expected = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    assert final["val"] == expected["val"] and final["test"] == expected["test"] and final["epochs"] == 4


@pytest.mark.slow
def test_a_resumed_run_logs_each_epoch_once(tmp_path, tiny_config):
    """A kill after an epoch's CSV row was written but before the resume state after that epoch was
    leaves a row past the state; the resumed run drops it and logs that epoch once, as it trains it again."""
    run, killed = tmp_path / "run", tmp_path / "killed"

    class CopyAtTheSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:  # the state after epoch 0 is saved, and its row logged
                shutil.copytree(run, killed)

    config = tiny_config(max_epochs=2, deterministic="true")
    train_and_evaluate(config, run, callbacks=[CopyAtTheSecondEpoch()])
    (first,) = _rows(killed)
    with open(killed / "logs" / "metrics.csv", "a", newline="") as f:  # the row such a kill leaves of epoch 1
        csv.DictWriter(f, fieldnames=list(first)).writerow({**first, "epoch": "1", "loss": "99.0"})
    train_and_evaluate(config, killed, resume=True)
    ours, theirs = _rows(killed), _rows(run)
    assert [r["epoch"] for r in ours] == ["0", "1"] and ours[0] == first
    assert math.isclose(float(ours[1]["loss"]), float(theirs[1]["loss"]), rel_tol=1e-6), (ours, theirs)


@pytest.mark.slow
def test_mobilenet_fine_tunes_its_top_blocks_in_a_second_phase(tmp_path, prepared):
    from genre.models import load_model
    from genre.train.config import apply_overrides
    from genre.train.fit import default_config

    settings = {
        "data": str(prepared),
        "alpha": "0.35",
        "weights": "none",
        "freeze_base": "true",
        "dense_units": "0",
        "max_epochs": "1",
        "fine_tune_epochs": "1",
        "fine_tune_blocks": "1",
        "fine_tune_learning_rate": "0.01",
        "batch_size": "8",
        "limit_train_batches": "1",
        "limit_val_batches": "1",
        "progress": "false",
        "tensorboard": "false",
    }
    run = tmp_path / "run"
    metrics = train_and_evaluate(apply_overrides(default_config("mobilenet"), settings), run)
    assert metrics["epochs"] == 2
    rows = _rows(run, "finetune")
    assert [r["epoch"] for r in rows] == ["1"] and float(rows[0]["learning_rate"]) == pytest.approx(0.01)
    head = load_model(next((run / "checkpoints").glob("epoch=001-*.keras"))).get_layer("mobilenetv2_base")
    tuned = load_model(run / "checkpoints" / "finetune" / "last" / "model.keras").get_layer("mobilenetv2_base")
    for name, moved in (("block_16_project", True), ("block_10_project", False), ("Conv1", False)):
        before, after = head.get_layer(name).get_weights()[0], tuned.get_layer(name).get_weights()[0]
        assert (not np.array_equal(before, after)) is moved, name


class _JaxReplicas(keras.callbacks.Callback):
    """Records over how many devices the model's variables are sharded while it trains (JAX)."""

    def on_train_batch_end(self, batch, logs=None):
        self.replicas = len(self.model.trainable_variables[0].value.sharding.device_set)


class _TensorFlowReplicas(keras.callbacks.Callback):
    """Records over how many replicas the distribution strategy trains (TensorFlow)."""

    def on_train_batch_end(self, batch, logs=None):
        import tensorflow as tf

        self.replicas = tf.distribute.get_strategy().num_replicas_in_sync


def _train_on_two_devices(tmp_path, tiny_config, probe):
    metrics = train_and_evaluate(tiny_config(max_epochs=2, devices=2), tmp_path / "run", callbacks=[probe])
    assert probe.replicas == 2
    assert metrics["epochs"] == 2 and 0 <= metrics["test"]["accuracy"] <= 1
    assert all(math.isfinite(float(r["loss"])) for r in _rows(tmp_path / "run"))


@pytest.mark.devices
@pytest.mark.requires_jax_backend
def test_data_parallel_training_on_two_devices_with_jax(tmp_path, tiny_config):
    _train_on_two_devices(tmp_path, tiny_config, _JaxReplicas())


@pytest.mark.devices
@pytest.mark.requires_tensorflow_backend
def test_data_parallel_training_on_two_devices_with_tensorflow(tmp_path, tiny_config):
    _train_on_two_devices(tmp_path, tiny_config, _TensorFlowReplicas())


@pytest.mark.devices
def test_batch_size_must_split_evenly_over_devices(tmp_path, tiny_config):
    with pytest.raises(ValueError, match=r"batch_size 15 must be divisible by devices=2"):
        train_and_evaluate(tiny_config(devices=2, batch_size=15), tmp_path / "run")


def test_devices_must_be_positive_and_present(tmp_path, tiny_config):
    with pytest.raises(ValueError, match="devices must be"):
        tiny_config(devices=0)
    with pytest.raises(ValueError, match="this machine has"):
        train_and_evaluate(tiny_config(devices=64), tmp_path / "run")


@pytest.mark.parametrize(
    ("kind", "auto", "mixed"),
    [
        ("cpu", "float32", "mixed_bfloat16"),
        ("gpu", "mixed_float16", "mixed_float16"),
        ("tpu", "mixed_bfloat16", "mixed_bfloat16"),
    ],
)
def test_precision_follows_the_accelerator(monkeypatch, kind, auto, mixed):
    from genre.train import trainer

    # Whatever this machine has: the accelerator is what the policy is decided from.
    monkeypatch.setattr(trainer, "accelerator", lambda: kind)
    assert (trainer.resolve_precision("32"), trainer.resolve_precision("auto"), trainer.resolve_precision("mixed")) == (
        "float32",
        auto,
        mixed,
    )


def test_precision_switch_and_gradient_clipping(tmp_path, tiny_config):
    from genre.models import load_model

    metrics = train_and_evaluate(tiny_config(max_epochs=1, precision="mixed", clipnorm=1.0), tmp_path / "run")
    model = load_model(tmp_path / "run" / metrics["checkpoint"])
    conv = next(layer for layer in model.layers if "conv" in layer.name)
    assert conv.dtype_policy.compute_dtype in ("bfloat16", "float16")
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"  # probabilities stay float32
    assert model.optimizer.clipnorm == 1.0
    assert keras.config.dtype_policy().name == "float32"  # the policy was restored after the build


def test_a_corrupt_shard_stops_a_run_before_training(tmp_path, prepared, tiny_config):
    import shutil

    from genre.data import ManifestError, read_manifest

    copy = tmp_path / "data"
    shutil.copytree(prepared, copy)
    shard = copy / read_manifest(copy).shards["test"]["raw"][0]["file"]
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(ManifestError, match=str(shard)):
        train_and_evaluate(tiny_config(data=copy), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def trained_run(prepared, tmp_path_factory):
    """A finished two-epoch run (one kept checkpoint and `last/`), trained once for the corruption tests."""
    from genre.train.config import apply_overrides
    from genre.train.fit import default_config
    from tests.train.conftest import TINY

    run = tmp_path_factory.mktemp("trained") / "run"
    config = apply_overrides(default_config("conv1d"), {**TINY, "data": str(prepared), "max_epochs": "2"})
    train_and_evaluate(config, run)
    return run


def _best(run):
    return next((run / "checkpoints").glob("*.keras"))


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path):
    path.write_bytes(bytes(range(256)) * 8)


@pytest.mark.parametrize(
    ("target", "damage", "message"),
    [
        (_best, _garbage, "not a .keras archive (damaged or truncated)"),
        (_best, _truncate, "not a .keras archive (damaged or truncated)"),
        (lambda run: run / "checkpoints" / "last" / "variables.npz", _garbage, "damaged resume state"),
        (lambda run: run / "checkpoints" / "last" / "variables.npz", _truncate, "damaged resume state"),
        (lambda run: run / "checkpoints" / "last" / "state.json", _truncate, "not valid JSON"),
    ],
    ids=["keras-garbage", "keras-truncated", "variables-garbage", "variables-truncated", "state-truncated"],
)
def test_resume_with_a_damaged_checkpoint_names_the_file_and_changes_nothing(
    trained_run, tmp_path, capsys, target, damage, message
):
    """Killed after training, before scoring (no metrics.json), with one file of the run damaged:
    `genre fit --resume` stops with one line naming that file, and leaves every file as it was."""
    from genre.cli import main

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "metrics.json").unlink()
    broken = target(run)
    damage(broken)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert main(["fit", "--model", "conv1d", "--run-dir", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{broken}: {message}" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_resume_of_an_intact_run_killed_before_scoring_scores_it(trained_run, tmp_path):
    """The control for the test above: the same copy, undamaged, resumes and scores as the first run did."""
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    expected = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").unlink()
    from genre.cli import main

    assert main(["fit", "--model", "conv1d", "--run-dir", str(run), "--resume"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val"] == expected["val"] and metrics["test"] == expected["test"]


def test_fit_shows_keras_progress_per_epoch_unless_quiet(tmp_path, tiny_config, capsys):
    """progress=true: Keras's bar, one "Epoch k/N" and a last "steps/steps ... ms/step" line an epoch,
    counting the batches the epoch really has (here limited to 2); progress=false: nothing of it."""
    import re

    train_and_evaluate(tiny_config(max_epochs=2, limit_train_batches=2, progress="true"), tmp_path / "loud")
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # Keras's colours
    assert re.findall(r"^Epoch (\d+)/2$", out, re.MULTILINE) == ["1", "2"]
    end_of_epoch = r"(\d+)/(\d+) \S+ (\d+)s (\d+)(m?s)/step - accuracy: [\d.]+ - loss: [\d.]+ - val_accuracy"
    finished = re.findall(end_of_epoch, out)
    assert [(n, total) for n, total, *_ in finished] == [("2", "2"), ("2", "2")]

    train_and_evaluate(tiny_config(max_epochs=2, limit_train_batches=2, progress="false"), tmp_path / "quiet")
    out = capsys.readouterr().out
    assert "Epoch 1/2" not in out and "/step" not in out
