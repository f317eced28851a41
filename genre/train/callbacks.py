"""Callbacks the Trainer adds to Keras's loop, in Keras's shape, each resumable.

They see only `(epoch or batch, logs)` and act on the loop through `model.stop_training`, like
Keras's own. The stateful ones (`TopKCheckpoint`, `EarlyStopping`, `ReduceLROnPlateau`) expose
`reset()`, `state()` and `load_state()`: the Trainer resets them at the start of a new run and
restores them on `--resume`, so a resumed run decides exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras

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
