"""The run directory: everything one run leaves behind, so reports need nothing else.

    RUN/config.json            the resolved config (a net's FitConfig, or "kind": "baseline")
    RUN/data_manifest.json     the manifest of the data it trained on
    RUN/checkpoints/           a net's top-k `.keras` files, and `last/` (resume state);
                               a later phase's in `checkpoints/<phase>/`
    RUN/model.skops            a baseline's fitted pipeline
    RUN/logs/metrics.csv       a net's per-epoch curves (`logs/<phase>/` for a later phase)
    RUN/logs/tensorboard/      the same for TensorBoard
    RUN/metrics.json           validation (and test) metrics of the chosen model; its presence
                               means the run finished
    RUN/trial.json             only in a tuning trial: its study and number
    RUN/fold.json              only in a cross-validation fold's run: the track ids of its roles

A cross-validation run holds one ordinary run per fold, and no metrics.json of its own:

    RUN/folds.json             the plan: k, repeats, seed, artist grouping, every fold's track ids
    RUN/folds/r<R>-f<F>/       one run directory per fold of each repeat (with its fold.json)
    RUN/cv.json                the summary over the folds; its presence means every fold finished
    RUN/tuning/r<R>-f<F>/      nested cross-validation only: the tuning study of each fold

`RunDir` is the one place that knows this layout; the trainer, the baselines, the study, the
report and tuning ask it, never build the paths themselves.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from genre.data.folds import Fold

CONFIG = "config.json"
MANIFEST = "data_manifest.json"
METRICS = "metrics.json"
CHECKPOINTS = "checkpoints"
LAST = "last"
STATE = "state.json"
LOGS = "logs"
CURVES = "metrics.csv"
TRIAL = "trial.json"
FOLD = "fold.json"
CV_PLAN = "folds.json"
CV_FOLDS = "folds"
CV_SUMMARY = "cv.json"
CV_TUNING = "tuning"
BASELINE_KIND = "baseline"


class RunError(ValueError):
    """A run directory is missing, incomplete, or cannot be resumed."""


@dataclass(frozen=True)
class RunDir:
    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -- layout
    @property
    def config_file(self) -> Path:
        return self.path / CONFIG

    @property
    def manifest_file(self) -> Path:
        return self.path / MANIFEST

    @property
    def metrics_file(self) -> Path:
        return self.path / METRICS

    @property
    def fold_file(self) -> Path:
        return self.path / FOLD

    @property
    def cv_plan_file(self) -> Path:
        return self.path / CV_PLAN

    @property
    def cv_file(self) -> Path:
        return self.path / CV_SUMMARY

    def fold_run(self, name: str) -> RunDir:
        """The run directory of one fold (`Fold.name`, e.g. r0-f2) of a cross-validation run."""
        return RunDir(self.path / CV_FOLDS / name)

    def fold_study(self, name: str) -> Path:
        """The tuning study directory of one fold of a nested cross-validation run."""
        return self.path / CV_TUNING / name

    @property
    def is_cross_validation(self) -> bool:
        return self.cv_plan_file.is_file()

    def cross_validation_root(self) -> RunDir | None:
        """The cross-validation run this run is a fold of, if it is one."""
        root = RunDir(self.path.parent.parent)
        return root if self.path.parent.name == CV_FOLDS and root.is_cross_validation else None

    def checkpoints(self, phase: str = "") -> Path:
        return self.path / CHECKPOINTS / phase if phase else self.path / CHECKPOINTS

    def last(self, phase: str = "") -> Path:
        """A net's resume state folder for one phase."""
        return self.checkpoints(phase) / LAST

    def logs(self, phase: str = "") -> Path:
        return self.path / LOGS / phase if phase else self.path / LOGS

    def curves_file(self, phase: str = "") -> Path:
        return self.logs(phase) / CURVES

    # -- state
    @property
    def finished(self) -> bool:
        return self.metrics_file.is_file()

    def resumable(self, phase: str = "") -> bool:
        """A net's phase finished at least one epoch and left its resume state."""
        return (self.last(phase) / STATE).is_file()

    @property
    def is_trial(self) -> bool:
        """A tuning trial's run (the report shows a study's refit, not its trials)."""
        return (self.path / TRIAL).is_file()

    @property
    def kind(self) -> str:
        """Either "baseline" or "net"."""
        return BASELINE_KIND if self.config().get("kind") == BASELINE_KIND else "net"

    def config(self) -> dict:
        return read_json(self.config_file)

    def metrics(self) -> dict:
        return read_json(self.metrics_file)

    def fold(self) -> Fold | None:
        """The cross-validation fold this run trained and is scored on; None for a run on the stored splits."""
        from genre.data.folds import Fold

        return Fold.from_dict(read_json(self.fold_file)) if self.fold_file.is_file() else None

    def best_checkpoint(self) -> Path:
        """The model file a finished run chose (its metrics.json), else the best of a net's first phase
        so far."""
        if self.finished and (chosen := self.metrics().get("checkpoint")):
            return self.path / chosen
        state = self.last() / STATE
        if state.is_file():
            kept = read_json(state)["callbacks"]["checkpoint"]["kept"]
            return self.checkpoints() / kept[0]["file"] if kept else self.last() / "model.keras"
        raise RunError(f"{self.path}: no checkpoint (the run finished no epoch, or ran with fast_dev_run)")

    # -- writing
    def require_new(self) -> None:
        """Refuses a folder that already holds a run (a tuning trial's marker alone does not count)."""
        if self.path.exists() and any(p.name != TRIAL for p in self.path.iterdir()):
            raise RunError(f"{self.path} exists and is not empty; choose a new --run-dir (or --resume a net's run)")

    def start(self, config: dict, data_manifest: Path) -> None:
        """Creates the run: its resolved config and a copy of the manifest of the data it reads."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.config_file, config)
        shutil.copyfile(data_manifest, self.manifest_file)

    def write_fold(self, fold: Fold | None) -> None:
        if fold is not None:
            write_json(self.fold_file, fold.to_dict())

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.metrics_file, metrics)

    def mark_trial(self, study: str, number: int) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json(self.path / TRIAL, {"study": study, "number": number})


def write_json(path: Path, payload: dict) -> None:
    """Written whole or not at all: a kill leaves the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=json_default) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise RunError(f"{path}: not found; is {path.parent} a run directory?")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path}: not valid JSON ({err})") from err


def json_default(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
