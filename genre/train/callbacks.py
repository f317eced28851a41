"""Callbacks the Trainer adds to Keras's loop, in Keras's shape, each resumable.

They see only `(epoch or batch, logs)` and act on the loop through `model.stop_training`, like
Keras's own. The stateful ones (`TopKCheckpoint`, `EarlyStopping`, `ReduceLROnPlateau`) expose
`reset()`, `state()` and `load_state()`: the Trainer resets them at the start of a new run and
restores them on `--resume`, so a resumed run decides exactly as an uninterrupted one.
`BatchNormUpdate` recomputes the batch norms' moving statistics before each validation, so what
is validated and checkpointed is the net the weights describe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path

import keras
import numpy as np

MODES = ("max", "min")


class StatefulCallback(keras.callbacks.Callback):
    def reset(self) -> None:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def load_state(self, state: dict) -> None:
        raise NotImplementedError


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown monitor mode {mode!r}; valid modes are {list(MODES)}")


def _improves(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if mode == "max" else value < best - min_delta


def _monitored(logs: dict | None, monitor: str) -> float:
    logs = logs or {}
    if monitor not in logs:
        raise KeyError(f"monitored metric {monitor!r} is not in the epoch logs; available: {sorted(logs)}")
    return float(logs[monitor])


class NanGuard(keras.callbacks.Callback):
    """Stops at the first non-finite loss and remembers where, for the Trainer's error message."""

    def __init__(self) -> None:
        super().__init__()
        self.tripped: str | None = None

    def on_train_begin(self, logs=None) -> None:
        self.tripped = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.tripped is None:
            self.tripped = f"loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}"
            self.model.stop_training = True


class TopKCheckpoint(StatefulCallback):
    """Keeps the k best models by a monitored metric as `.keras` files (k=0: none)."""

    def __init__(self, directory: Path, monitor: str, mode: str, k: int, save) -> None:
        super().__init__()
        _check_mode(mode)
        self.directory, self.monitor, self.mode, self.k, self._save = Path(directory), monitor, mode, k, save
        self.kept: list[dict] = []  # {"epoch", "score", "file"}, best first

    def reset(self) -> None:
        self.kept = []

    def state(self) -> dict:
        return {"kept": self.kept}

    def load_state(self, state: dict) -> None:
        self.kept = list(state["kept"])

    @property
    def best(self) -> dict | None:
        return self.kept[0] if self.kept else None

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self.k <= 0:
            return
        score = _monitored(logs, self.monitor)
        if not math.isfinite(score):
            return
        worst = self.kept[-1]["score"] if len(self.kept) >= self.k else None
        if worst is not None and not _improves(score, worst, self.mode):
            return
        name = f"epoch={epoch + 1:03d}-{self.monitor}={score:.4f}.keras"
        self._save(self.model, self.directory / name)
        self.kept.append({"epoch": epoch + 1, "score": score, "file": name})
        # Best first; ties keep the earlier epoch first.
        self.kept.sort(key=lambda e: (-e["score"] if self.mode == "max" else e["score"], e["epoch"]))
        for dropped in self.kept[self.k :]:
            (self.directory / dropped["file"]).unlink(missing_ok=True)
        self.kept = self.kept[: self.k]


class EarlyStopping(StatefulCallback):
    def __init__(self, monitor: str, mode: str, patience: int, min_delta: float = 0.0) -> None:
        super().__init__()
        _check_mode(mode)
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.reset()

    def reset(self) -> None:
        self.best: float | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def state(self) -> dict:
        return {"best": self.best, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state(self, state: dict) -> None:
        self.best, self.wait, self.stopped_epoch = state["best"], state["wait"], state["stopped_epoch"]

    def on_epoch_end(self, epoch, logs=None) -> None:
        value = _monitored(logs, self.monitor)
        if _improves(value, self.best, self.mode, self.min_delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True


class ReduceLROnPlateau(StatefulCallback):
    def __init__(self, monitor: str, mode: str, factor: float, patience: int, min_lr: float) -> None:
        super().__init__()
        _check_mode(mode)
        if not 0 < factor < 1:
            raise ValueError(f"plateau factor must be in (0, 1), got {factor}")
        self.monitor, self.mode, self.factor, self.patience, self.min_lr = monitor, mode, factor, patience, min_lr
        self.reset()

    def reset(self) -> None:
        self.best: float | None = None
        self.wait = 0

    def state(self) -> dict:
        return {"best": self.best, "wait": self.wait}

    def load_state(self, state: dict) -> None:
        self.best, self.wait = state["best"], state["wait"]

    def on_epoch_end(self, epoch, logs=None) -> None:
        value = _monitored(logs, self.monitor)
        if _improves(value, self.best, self.mode):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
            self.model.optimizer.learning_rate = max(lr * self.factor, self.min_lr)
            self.wait = 0


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the learning rate in force to the epoch logs, so CSV and TensorBoard record it."""

    def on_epoch_end(self, epoch, logs=None) -> None:
        if logs is not None:
            optimizer = self.model.optimizer
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def batch_norms(model) -> list:
    """Every BatchNormalization layer of `model`, nested models included, in a fixed order."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(batch_norms(layer))
    return found


def trainable_batch_norms(model) -> tuple:
    """The batch norms whose statistics training updates: Keras updates a batch norm only when it is
    trainable, so frozen ones (a pretrained base's) keep theirs."""
    return tuple(n for n in batch_norms(model) if n.trainable)


def update_batch_norm(model, batches: Iterable) -> int:
    """Sets every training-mode batch norm's moving mean and variance to the average of its batch
    moments over `batches`; returns the batches used. See `BatchNormRecompute`."""
    return BatchNormRecompute(model)(batches)


class BatchNormRecompute:
    """Recomputes `model`'s batch-norm moving statistics from batches (inputs, or (inputs, labels, ...)).

    Like SWA's `bn_update` and "precise BN" (Wu & Johnson, 2021): the forward pass runs in training
    mode, as the weights were learned, so each layer sees the batch-normalised output of the layers
    below it and never the moving statistics being replaced. With momentum 0 a forward pass leaves
    one batch's moments in the moving variables; they are averaged here (float64) and assigned.
    Batch norms in inference mode keep their values: frozen ones (Keras updates a batch norm only
    when it is trainable) are left out, and with none left no forward pass runs at all (a frozen
    pretrained base under a dense head: musicnn's pass costs as much as a training epoch's forward
    passes); those in a base called with training=False get the average of identical values. The
    forward pass is compiled once per set of trainable batch norms (eager MobileNetV2 is 2-3x slower
    than a training step); on JAX it is stateless, so it leaves the seed generators alone.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.norms: tuple = ()
        self._forward = None

    def __call__(self, batches: Iterable) -> int:
        # Read at each call: a second training phase may unfreeze layers.
        norms = trainable_batch_norms(self.model)
        if not norms:
            return 0
        if norms != self.norms:
            self.norms, self._forward = norms, None
        stats = [(n.moving_mean, n.moving_variance) for n in self.norms]
        originals = [tuple(keras.ops.convert_to_numpy(v) for v in pair) for pair in stats]
        sums = [(np.zeros(m.shape), np.zeros(v.shape)) for m, v in originals]
        momenta = [n.momentum for n in self.norms]
        count = 0
        try:
            for layer in self.norms:
                layer.momentum = 0.0  # read when the forward pass is traced
            for batch in batches:
                x = batch[0] if isinstance(batch, tuple | list) else batch
                moments = self._moments(np.asarray(x))  # tf.data gives TensorFlow tensors; JAX takes NumPy
                for (mean, var), (m, v) in zip(sums, moments, strict=True):
                    mean += m
                    var += v
                count += 1
        finally:
            for layer, momentum in zip(self.norms, momenta, strict=True):
                layer.momentum = momentum
        for (mean, var), (old_mean, old_var), (mean_var, var_var) in zip(sums, originals, stats, strict=True):
            mean_var.assign((mean / count if count else old_mean).astype(old_mean.dtype))
            var_var.assign((var / count if count else old_var).astype(old_var.dtype))
        return count

    def _moments(self, x) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each batch norm's (moving mean, moving variance) after one training-mode pass over `x`."""
        if keras.backend.backend() == "jax":
            return self._moments_jax(x)
        if self._forward is None:
            if keras.backend.backend() == "tensorflow":
                import tensorflow as tf

                self._forward = tf.function(lambda inputs: self.model(inputs, training=True), reduce_retracing=True)
            else:
                self._forward = lambda inputs: self.model(inputs, training=True)
        self._forward(x)
        return [tuple(keras.ops.convert_to_numpy(v) for v in (n.moving_mean, n.moving_variance)) for n in self.norms]

    def _moments_jax(self, x):
        import jax

        model = self.model
        if self._forward is None:
            position = {id(v): i for i, v in enumerate(model.non_trainable_variables)}
            wanted = [position[id(v)] for n in self.norms for v in (n.moving_mean, n.moving_variance)]

            def forward(trainable, non_trainable, inputs):
                _, updated = model.stateless_call(trainable, non_trainable, inputs, training=True)
                return [updated[i] for i in wanted]

            self._forward = jax.jit(forward)
        flat = self._forward(
            [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables], x
        )
        flat = [np.asarray(v) for v in flat]
        return list(zip(flat[0::2], flat[1::2], strict=True))


class BatchNormUpdate(keras.callbacks.Callback):
    """Before each epoch's validation (or at its end, if none ran), recomputes the batch norms'
    moving statistics from training batches (`update_batch_norm`), so validation, model selection,
    checkpoints and the resume state all see statistics that match the weights.

    Why: the moving averages lag the weights. Training normalises with each batch's own moments and
    the weights move fast early on, so an exponential average over the last tens of steps describes
    an older net; small sets train few steps an epoch (64 clips: 2), and a deep net compounds the lag
    over its layers. MobileNetV2 from scratch then predicted one genre for every clip, training
    clips included, while it fit them in training mode. `batches()` gives a fresh iterable of the
    same training batches each call, so a resumed run recomputes exactly as an uninterrupted one.
    """

    def __init__(self, batches: Callable[[], Iterable]) -> None:
        super().__init__()
        self._batches = batches
        self._pending = False
        self._recompute: BatchNormRecompute | None = None

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._pending = True

    def on_test_begin(self, logs=None) -> None:
        self._update()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self._update()

    def _update(self) -> None:
        if self._pending:
            self._pending = False
            if self._recompute is None or self._recompute.model is not self.model:
                self._recompute = BatchNormRecompute(self.model)
            self._recompute(self._batches())
