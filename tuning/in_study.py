"""Short tuning studies as a step of `genre demo` and `genre study` (`genre.study.run_study`'s `tune`).

Each listed model gets a study of a few trials in `OUT/runs/tune-<model>/`, with the study's own
settings for that model fixed (schedule, sizes) and the rest of its search space searched; the best
configuration is re-trained (`refit/`), scored once on test, and joins the report as "(tuned)".
In a cross-validated study (`StudyConfig.folds`) each trial's value is the mean validation accuracy
over that many folds of the clips outside the test split (`TuneConfig.folds`); the refit is still
trained on the stored training split and scored on the stored test split, which no trial has read.
Studies resume like any `genre tune`, so a rerun of the study reuses finished trials and refits.
"""

from __future__ import annotations

from pathlib import Path

from genre.baselines import BASELINES
from genre.evaluate import with_interval
from genre.study import Log, StudyConfig
from tuning.config import TuneConfig
from tuning.run import run_tuning


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
    for model, n in study.tune_trials.items():
        if model not in BASELINES and model not in study.nets:
            continue  # a net the study left out (e.g. its weights are missing) is not tuned either
        fixed = {"seed": str(study.seed)}
        if model not in BASELINES:
            fixed |= {"progress": "false"} | study.net_settings.get("*", {}) | study.net_settings.get(model, {})
        fixed |= study.tune_settings.get(model, {})
        config = TuneConfig(
            model=model,
            data=study.data,
            trials=n,
            study_dir=Path(study.out) / "runs" / f"tune-{model}",
            overrides=fixed,
            refit=True,
            prune_startup_trials=max(1, n // 2),
            seed=study.seed,
            progress=study.progress,
            folds=study.folds,
        )
        result = run_tuning(config)
        if result.refit_run_dir is None:
            log(f"tuning {model}: no finished trial to refit ({result.counts}); left out of the report")
            continue
        over = f" (mean over {study.folds} folds)" if study.folds else ""
        log(
            f"tuned {model}: {n} trials ({result.counts['pruned']} pruned), best validation accuracy "
            f"{result.best_value:.1%}{over}, refit test accuracy "
            f"{with_interval(result.refit_metrics['test'], 'accuracy')}"
        )
        runs.append(result.refit_run_dir)
    return runs
