"""One trial: suggested parameters -> a configuration -> a normal run directory -> the validation metric.

The run goes into `STUDY/trials/NNNN` (the trial's number) through `genre`'s own entry points with
`evaluate_test=False`, so no trial ever reads the test split. Nets report their per-epoch
validation accuracy to the pruner and stop when it prunes them (`PruningCallback`).

With K-fold tuning (`Target.folds`) a trial trains its configuration once per fold, in
`STUDY/trials/NNNN/folds/r0-fF`, on the fold's training part, and scores it on the fold's validation
part; its value is the mean of the K validation metrics, each kept in the user attribute
"fold_values". The pruner then sees the running mean after each fold (step F), not epochs: a fold's
single value is too noisy to stop a trial on, and epochs of different folds are not comparable steps.

Trials are budgeted over every worker of the study: a trial that finds `trials` live (running,
waiting or finished) trials numbered before it is surplus, ends at once as failed (user attribute
"surplus"), and trains nothing; the workers keep count in `tuning.study`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import keras
import optuna

from genre.baselines.fit import SettingsExceedData
from genre.run_dir import RunDir
from genre.search_space import Choice, FloatParam, IntParam, Param
from tuning.config import TuneConfig
from tuning.target import Target

TRIALS = "trials"
LIVE = (
    optuna.trial.TrialState.COMPLETE,
    optuna.trial.TrialState.PRUNED,
    optuna.trial.TrialState.RUNNING,
    optuna.trial.TrialState.WAITING,
)
PRUNING_MONITOR = "val_accuracy"  # what Keras logs each epoch; the clip-level metric exists only at the end


class SurplusTrial(Exception):
    """The study already has its budget of trials before this one."""


def trial_dir(study_dir: Path, number: int) -> Path:
    return Path(study_dir) / TRIALS / f"{number:04d}"


def suggest(trial: optuna.Trial, name: str, param: Param):
    if isinstance(param, FloatParam):
        return trial.suggest_float(name, param.low, param.high, log=param.log)
    if isinstance(param, IntParam):
        return trial.suggest_int(name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, Choice):
        return trial.suggest_categorical(name, param.options)
    raise TypeError(f"{name}: not a search space parameter: {param!r}")


class PruningCallback(keras.callbacks.Callback):
    """Reports the monitored value every epoch; when the pruner says so, stops training after the epoch.

    Unlike optuna-integration's `KerasPruningCallback`, which raises `TrialPruned` inside `fit`, it
    stops through `model.stop_training`: Keras then ends the run as usual (logs closed, checkpoints
    kept) and the pruned trial is a whole run directory with its metrics. The objective raises
    `TrialPruned` after the run.
    """

    def __init__(self, trial: optuna.Trial, monitor: str) -> None:
        super().__init__()
        self.trial, self.monitor = trial, monitor
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch, logs=None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise KeyError(f"pruning monitors {self.monitor!r}, not in the epoch logs: {sorted(logs or {})}")
        self.trial.report(float(value), step=epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.model.stop_training = True


@dataclass(frozen=True)
class Objective:
    config: TuneConfig
    target: Target

    def __call__(self, trial: optuna.Trial) -> float:
        ahead = sum(1 for t in trial.study.get_trials(deepcopy=False, states=LIVE) if t.number < trial.number)
        if ahead >= self.config.trials:
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"trial {trial.number}: the study already has {ahead} trials")
        run = trial_dir(self.config.directory, trial.number)
        params = {name: suggest(trial, name, param) for name, param in self.target.space.items()}
        # Which worker trains it and where (a retried trial inherits the old values): set once every
        # parameter is, so a trial with a run directory has all its parameters.
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("run_dir", str(run.relative_to(self.config.directory)))
        settings = self.target.config_for(params, origin=f"trial {trial.number}")
        RunDir(run).mark_trial(trial.study.study_name, trial.number)  # so reports leave it out
        if self.target.folds:
            return self._over_folds(trial, settings, run)
        pruning = PruningCallback(trial, PRUNING_MONITOR) if self.target.estimator.epochs else None
        try:
            metrics = self.target.estimator.fit(
                settings, run, callbacks=[pruning] if pruning else [], evaluate_test=False
            )
        except SettingsExceedData as err:
            # A corner of the space this data set cannot take: not a failure of the trial's code.
            raise optuna.TrialPruned(f"settings exceed the data: {err}") from None
        if pruning is not None and pruning.pruned_at is not None:
            trial.set_user_attr("val", metrics["val"][self.config.metric])
            raise optuna.TrialPruned(f"pruned after epoch {pruning.pruned_at + 1}")
        return float(metrics["val"][self.config.metric])

    def _over_folds(self, trial: optuna.Trial, settings, run: Path) -> float:
        """The mean validation metric over the target's folds (see the module docstring)."""
        values: list[float] = []
        for step, fold in enumerate(self.target.folds):
            fold_run = RunDir(run).fold_run(fold.name)
            fold_run.mark_trial(trial.study.study_name, trial.number)
            try:
                metrics = self.target.estimator.fit(settings, fold_run.path, evaluate_test=False, fold=fold)
            except SettingsExceedData as err:
                raise optuna.TrialPruned(f"settings exceed fold {fold.name}'s data: {err}") from None
            self.target.estimator.release()  # a trial's folds train one after another in this process
            values.append(float(metrics["val"][self.config.metric]))
            trial.set_user_attr("fold_values", values)
            mean = sum(values) / len(values)
            trial.report(mean, step=step)
            if step < len(self.target.folds) - 1 and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {step + 1} of {len(self.target.folds)}")
        return sum(values) / len(values)
