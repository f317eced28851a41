"""`run_tuning`: a whole `genre tune` as one library call, and the `TuningResult` it leaves on disk.

Runs this command's workers until the study is done, then (once it holds finished trials) writes
`best.toml` and the figures into the study directory, and with `refit` re-trains the best
configuration in `STUDY/refit` (epochs selected on validation, as any run), evaluating it once on the
test split. `study.json` records the result, so a report can be built from the study directory alone.
Running the same command again resumes an interrupted study, or, when it is done, only exports
(and refits, if asked and not done yet).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna

from genre.run_dir import RunDir
from tuning.config import TuneConfig
from tuning.export import BEST_CONFIG, FIGURES, write_best_config, write_figures
from tuning.objective import trial_dir
from tuning.study import counts, open_study, run_workers, worker_seed
from tuning.target import Target, resolve_target

REFIT = "refit"
RESULT = "study.json"


@dataclass(frozen=True)
class TuningResult:
    study: str
    storage: str
    model: str
    metric: str
    directory: Path
    counts: dict[str, int]  # trials by state: complete, pruned, failed, running, waiting, surplus
    done: bool  # the study holds its `trials` finished trials
    best_value: float | None = None  # the best trial's validation metric
    best_params: dict = field(default_factory=dict)
    best_trial: int | None = None
    best_run_dir: Path | None = None  # the best trial's run directory
    best_config: Path | None = None  # best.toml: `genre fit --config` / `genre baseline --config`
    figures: list[Path] = field(default_factory=list)
    refit_run_dir: Path | None = None
    refit_metrics: dict | None = None  # the refit run's metrics.json: "val" and "test"

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))


def run_tuning(config: TuneConfig) -> TuningResult:
    """Tunes `config.model` with this command's workers, then exports; see the module docstring."""
    run_workers(config)
    target = resolve_target(config)
    with open_study(config, target, worker_seed(config, 0)) as study:
        tally = counts(study)
        result = TuningResult(
            study=config.study_name,
            storage=_redacted(config.storage_url),
            model=config.model,
            metric=config.metric,
            directory=config.directory,
            counts=tally,
            done=tally["complete"] + tally["pruned"] >= config.trials,
        )
        if tally["complete"]:
            result = _export(config, target, study, result)
    (config.directory / RESULT).write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    return result


def _export(config: TuneConfig, target: Target, study: optuna.Study, result: TuningResult) -> TuningResult:
    best = study.best_trial
    best_settings = target.config_for(best.params, origin=f"best trial {best.number}")
    command = target.estimator.command
    header = (
        f"Best of study {config.study_name!r}: trial {best.number}, validation {config.metric} {best.value:.4f}.\n"
        f"genre {command} --model {config.model} --config {BEST_CONFIG}"
    )
    path = write_best_config(config.directory / BEST_CONFIG, best_settings, header)
    figures = write_figures(study, config.directory / FIGURES) if config.figures else []
    refit_dir, refit_metrics = None, None
    if config.refit and result.done:
        refit_dir = config.directory / REFIT
        tuning = tuning_record(config, result.storage, result.counts, best.number, best.value)
        refit_metrics = refit(target, best_settings, refit_dir, tuning)
    run_dir = best.user_attrs.get("run_dir")
    return TuningResult(
        **{
            **asdict(result),
            "best_value": best.value,
            "best_params": dict(best.params),
            "best_trial": best.number,
            "best_run_dir": config.directory / run_dir if run_dir else trial_dir(config.directory, best.number),
            "best_config": path,
            "figures": figures,
            "refit_run_dir": refit_dir,
            "refit_metrics": refit_metrics,
        }
    )


def tuning_record(config: TuneConfig, storage: str, counts: dict, best_trial: int, best_value: float) -> dict:
    """What a run trained with a study's best settings says of the study (its metrics' "tuning" entry,
    which marks the run as tuned in reports)."""
    return {
        "study": config.study_name,
        "storage": storage,
        "best_trial": best_trial,
        "best_value": best_value,
        "metric": config.metric,
        "trials": counts["complete"] + counts["pruned"],
        "folds": config.folds,  # best_value is then a mean over that many folds
    }


def refit(target: Target, settings, run_dir: Path, tuning: dict) -> dict:
    """Re-trains `settings` in `run_dir` and evaluates it on validation and test; a finished refit of
    the same settings is reused, an unfinished or different one is replaced. Its metrics.json gets a
    "tuning" entry (the study, the best trial and its value), which marks the run as tuned in reports."""
    run = RunDir(run_dir)
    wanted = json.loads(json.dumps(settings.to_dict()))
    if run.finished and run.config_file.is_file() and run.config() == wanted:
        metrics = run.metrics()  # the same settings trained already
    else:
        if run.path.exists():
            shutil.rmtree(run.path)
        metrics = target.estimator.fit(settings, run.path, evaluate_test=True)
    metrics = {**metrics, "tuning": tuning}
    run.write_metrics(metrics)
    return metrics


def _redacted(url: str) -> str:
    """The storage URL without its password, fit for a report."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
