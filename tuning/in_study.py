"""Short tuning studies as a step of `genre demo` and `genre study` (`genre.study.run_study`'s `tune`).

Each listed model gets a study of a few trials in `OUT/runs/tune-<model>/`, with the study's own
settings for that model fixed (schedule, sizes) and the rest of its search space searched; the best
configuration is re-trained (`refit/`), scored once on test, and joins the report as "(tuned)".

In a cross-validated study (`StudyConfig.folds`) the tuned model is cross-validated too, nested:
`OUT/runs/tune-<model>/` is a cross-validation run on the same outer folds as every other model,
and each outer fold's settings come from a study of its own (`RUN/tuning/r<R>-f<F>/`) whose trials
are scored by their mean validation accuracy over that many inner folds of the outer fold's
training and validation clips. The best trial is re-trained on the outer fold's training clips
and scored on its test clips, which no trial has read; so the tuned row is paired with the others
clip for clip. Studies resume like any `genre tune`, so a rerun of the study reuses finished trials
and refits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genre.baselines import BASELINES
from genre.data.folds import Fold
from genre.evaluate import with_interval
from genre.run_dir import RunDir
from genre.study import Log, StudyConfig
from tuning.config import TuneConfig
from tuning.run import run_tuning, tuning_record
from tuning.target import resolve_target


def tune_in_study(study: StudyConfig, log: Log) -> list[Path]:
    """`genre.study.run_study`'s `tune` step: `study.tune_trials[model]` trials for each model, the
    refit runs returned. `study.tune_settings[model]` fixes more of that model's settings for its
    trials and refit (e.g. a shorter schedule than the study's own)."""
    import optuna

    # One line per study below says what happened; Optuna's line per trial would bury it.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return _tune_each(study, log)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _tune_each(study: StudyConfig, log: Log) -> list[Path]:
    runs = []
    for model in study.tune_trials:
        if model not in BASELINES and model not in study.nets:
            continue  # a net the study left out (e.g. its weights are missing) is not tuned either
        config = study_tuning(study, model)
        run = _nested(config, study, log) if study.folds else _refit(config, log)
        if run is not None:
            runs.append(run)
    return runs


def study_tuning(study: StudyConfig, model: str) -> TuneConfig:
    """The tuning of `model` in `study`: its trials, the study's fixed settings, refit on the stored splits."""
    fixed = {"seed": str(study.seed)}
    if model not in BASELINES:
        fixed |= {"progress": "false"} | study.net_settings.get("*", {}) | study.net_settings.get(model, {})
    fixed |= study.tune_settings.get(model, {})
    n = study.tune_trials[model]
    return TuneConfig(
        model=model,
        data=study.data,
        trials=n,
        study_dir=Path(study.out) / "runs" / f"tune-{model}",
        overrides=fixed,
        refit=True,
        prune_startup_trials=max(1, n // 2),
        seed=study.seed,
        progress=study.progress,
    )


def _refit(config: TuneConfig, log: Log) -> Path | None:
    result = run_tuning(config)
    if result.refit_run_dir is None:
        log(f"tuning {config.model}: no finished trial to refit ({result.counts}); left out of the report")
        return None
    log(
        f"tuned {config.model}: {config.trials} trials ({result.counts['pruned']} pruned), best validation accuracy "
        f"{result.best_value:.1%}, refit test accuracy {with_interval(result.refit_metrics['test'], 'accuracy')}"
    )
    return result.refit_run_dir


class NoTunedSettings(RuntimeError):
    """An outer fold's study finished no trial, so it has no settings to score."""


@dataclass(frozen=True)
class NestedTuning:
    """`genre.cross_validation.FoldTuning` for a study's model: one tuning study per outer fold."""

    config: TuneConfig  # the model's tuning in the study (`study_tuning`); each fold's is derived from it
    run: Path  # the cross-validation run
    folds: int  # inner folds
    log: Log

    @property
    def plan(self) -> dict:
        return {"trials": self.config.trials, "inner_folds": self.folds, "metric": self.config.metric}

    def fold_config(self, fold: Fold) -> TuneConfig:
        return replace(
            self.config, study_dir=RunDir(self.run).fold_study(fold.name), refit=False, folds=self.folds, within=fold
        )

    def settings(self, fold: Fold) -> tuple[Any, dict]:
        config = self.fold_config(fold)
        result = run_tuning(config)
        if result.best_trial is None:
            raise NoTunedSettings(f"fold {fold.name}'s study finished no trial ({result.counts})")
        settings = resolve_target(config).config_for(result.best_params, origin=f"best trial {result.best_trial}")
        self.log(
            f"tuned {config.model} within fold {fold.name}: {config.trials} trials ({result.counts['pruned']} "
            f"pruned), best mean validation accuracy {result.best_value:.1%} over {self.folds} inner folds"
        )
        tuning = tuning_record(config, result.storage, result.counts, result.best_trial, result.best_value)
        return settings, {**tuning, "best_params": result.best_params, "outer_fold": fold.name}


def _nested(config: TuneConfig, study: StudyConfig, log: Log) -> Path | None:
    """The model's nested cross-validation on the study's folds (see the module docstring)."""
    from genre.cross_validation import CVConfig, cross_validate

    target = resolve_target(config)
    tuning = NestedTuning(config, config.directory, study.folds, log)
    cv = CVConfig(k=study.folds, repeats=study.repeats)
    try:
        summary = cross_validate(target.estimator, target.base, config.directory, cv, log=log, tune=tuning)
    except NoTunedSettings as err:
        log(f"tuning {config.model}: {err}; left out of the report")
        return None
    log(
        f"tuned {config.model}: nested {study.folds}-fold cross-validation, {config.trials} trials in each "
        f"fold, test accuracy {summary['test_accuracy']['mean']:.1%} ± {summary['test_accuracy']['std']:.1%}"
    )
    return config.directory
