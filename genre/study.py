"""The whole comparison on one prepared data set: every classic baseline, every net, then the report.

    OUT/runs/<model>/           one run directory per model (`genre baseline`, `genre fit`)
    OUT/runs/<model>-musicnn_embeddings/   a baseline on the pretrained musicnn's clip embeddings
    OUT/report/                 `genre report` over them

Each model's run is skipped when it already finished, resumed when a net was interrupted after an
epoch, and started afresh otherwise; so running the same study again continues where it stopped.
Every model's settings are checked (weight files and all) before the first model trains, so a
missing file fails the study in its first second, not after an hour of other models. With
`folds`, every model is cross-validated instead (`genre.cross_validation`: each run directory holds
one run per fold and `cv.json`), on the same folds, so the report can pair them; a tuned model,
when tuning is given, is cross-validated nested (tuned anew within each outer fold, on inner folds
of its training and validation clips: `tuning.in_study`). With
`skip_missing_weights` (the demo) such models are left out instead, and the report says so.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genre.baselines import BASELINES
from genre.data.features import DEFAULT_KINDS
from genre.estimators import estimator_for
from genre.models import MODELS, get_model
from genre.run_dir import RunDir

if TYPE_CHECKING:
    from genre.budget import Schedule
    from genre.report import Report

NETS = tuple(MODELS)
EMBEDDINGS = "musicnn_embeddings"  # the clip vectors of the embedding baselines (genre.baselines.vectors)
Log = Callable[[str], None]


@dataclass(frozen=True)
class StudyConfig:
    data: Path  # a prepared data set
    out: Path
    baselines: tuple[str, ...] = tuple(BASELINES)
    # Baselines fitted a second time, on the pretrained musicnn's clip embeddings.
    embedding_baselines: tuple[str, ...] = ("svm",)
    nets: tuple[str, ...] = NETS
    # Per-model settings by plain name, as `--set` takes them; "*" applies to every net.
    net_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    skip_missing_weights: bool = False  # leave out (and report) models whose weight files are absent
    # Tuning studies run after the models (by the `tune` step handed to `run_study`): trials per model,
    # and settings fixed for a model's trials and refit (e.g. a shorter schedule).
    tune_trials: dict[str, int] = field(default_factory=dict)
    tune_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    # Seconds the study may take from its start: the nets' epochs are allotted to fit (genre.budget),
    # each net's configured max_epochs its cap. None: every net trains its configured schedule.
    budget_seconds: float | None = None
    seed: int = 0
    progress: bool = True
    folds: int | None = None  # K-fold cross-validation of every model (None: the stored splits)
    repeats: int = 1  # with folds

    def __post_init__(self) -> None:
        from genre.baselines import get_baseline

        for name in (*self.baselines, *self.embedding_baselines):
            get_baseline(name)
        for name in self.nets:
            get_model(name)

    def feature_kinds(self) -> tuple[str, ...]:
        """What the data set must hold for this study."""
        from genre.baselines.vectors import get_source

        needed = [get_source(EMBEDDINGS).stored_kind] if self.embedding_baselines else []
        needed += [get_model(name).feature_kind for name in self.nets]
        return DEFAULT_KINDS + tuple(dict.fromkeys(k for k in needed if k not in DEFAULT_KINDS))


@dataclass(frozen=True)
class StudyPlan:
    """What will run: each net's checked FitConfig, the embedding baselines, and what was left out and why."""

    net_configs: dict
    embedding_baselines: tuple[str, ...]
    not_run: list[str]


@dataclass(frozen=True)
class StudyResult:
    runs: list[Path]
    not_run: list[str]
    report: Report
    schedule: Schedule | None = None  # the nets' epochs, when the study had a time budget
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage, in order


def plan_study(config: StudyConfig, stored_shape: Callable[[str], tuple[int, ...]]) -> StudyPlan:
    """Every net's FitConfig, checked (settings, weight files) against the data's stored shapes.

    Called before data preparation too (with the shapes prepare will write), so a missing weight
    file stops a study before hours of preparing and training, not after."""
    from genre.data.pipeline import example_shape
    from genre.train.config import apply_overrides
    from genre.train.fit import default_config

    not_run: list[str] = []
    net_configs = {}
    for name in config.nets:
        settings = {"data": str(config.data), "seed": str(config.seed), "progress": str(config.progress).lower()}
        settings |= config.net_settings.get("*", {}) | config.net_settings.get(name, {})
        net_config = apply_overrides(default_config(name), settings, origin=f"the study's {name} settings")
        spec = get_model(name)
        try:
            if spec.preflight is not None:
                shape = example_shape(spec.feature_kind, stored_shape(spec.feature_kind), spec.window_mode)
                spec.preflight(net_config.model_config, shape)
        except FileNotFoundError as err:
            if not config.skip_missing_weights:
                raise
            not_run.append(f"{name}: {err}")
            continue
        net_configs[name] = net_config
    embedding_baselines = config.embedding_baselines
    if embedding_baselines:
        from genre.models.musicnn import MusicnnConfig
        from genre.weights.musicnn import musicnn_weights_path

        try:
            musicnn_weights_path(MusicnnConfig().variant)
        except FileNotFoundError as err:
            if not config.skip_missing_weights:
                raise
            not_run += [f"{name} on {EMBEDDINGS}: {err}" for name in embedding_baselines]
            embedding_baselines = ()
    return StudyPlan(net_configs, embedding_baselines, not_run)


def run_study(
    config: StudyConfig, log: Log = print, tune: Callable[[StudyConfig, Log], list[Path]] | None = None
) -> StudyResult:
    """Runs every model of the study, then `tune` (a tuning step, returning its refit runs; `genre`
    never imports `tuning`, so the caller hands it in) if given, then the report over all of them."""
    from genre.data.manifest import read_manifest
    from genre.report import build_report

    started = time.monotonic()
    runs_dir = Path(config.out) / "runs"
    plan = plan_study(config, read_manifest(config.data).shape)
    if config.folds is not None and config.tune_trials:
        _check_nested_folds(config)
    for reason in plan.not_run:
        log(f"not run: {reason}")
    baselines = [(name, "handcrafted", name) for name in config.baselines]
    baselines += [(name, EMBEDDINGS, f"{name}-{EMBEDDINGS}") for name in plan.embedding_baselines]
    seconds: dict[str, float] = {}
    planner = None
    if config.folds is None:
        runs, planner = _run_on_stored_splits(config, plan, baselines, runs_dir, log, seconds)
    else:
        runs = _cross_validate_all(config, plan, baselines, runs_dir, log)
        seconds["cross-validation"] = time.monotonic() - started
    not_run = list(plan.not_run)
    if tune is not None and config.tune_trials:
        began = time.monotonic()
        if planner is not None:
            config, left_out = with_tuning_epochs(config, planner, tuple(plan.net_configs), log)
            not_run += left_out
        runs += tune(dataclasses.replace(config, nets=tuple(plan.net_configs)), log)  # only the nets that ran
        seconds["tuning"] = time.monotonic() - began
    schedule = planner.schedule() if planner is not None else None
    began = time.monotonic()
    report = build_report(runs, Path(config.out) / "report", not_run=not_run, schedule=schedule)
    seconds["report"] = time.monotonic() - began
    return StudyResult(runs=runs, not_run=not_run, report=report, schedule=schedule, seconds=seconds)


def _check_nested_folds(config: StudyConfig) -> None:
    """Cuts the inner folds of every outer fold, so too few clips fail the study now, not after every model."""
    from genre.cross_validation import CVConfig, cv_folds
    from genre.data.folds import tuning_folds
    from genre.data.manifest import read_manifest

    for fold in cv_folds(read_manifest(config.data), CVConfig(k=config.folds, repeats=config.repeats)):
        tuning_folds(config.data, config.folds, within=fold)


def _run_on_stored_splits(config: StudyConfig, plan: StudyPlan, baselines, runs_dir: Path, log: Log, seconds: dict):
    """Every model of the study trained on the stored train split, each kept, resumed or started
    afresh; with a budget, each net's epochs allotted just before it trains. Returns the runs and the
    budget's planner (None without a budget); `seconds` gets each stage's wall time."""
    from genre.baselines.fit import default_baseline_config, fit_baseline
    from genre.train.config import apply_overrides
    from genre.train.fit import train_and_evaluate

    started = time.monotonic()
    jobs = len(baselines) + len(plan.net_configs)
    runs = []
    for i, (name, features, folder) in enumerate(baselines, start=1):
        run = runs_dir / folder
        if not RunDir(run).finished:
            shutil.rmtree(run, ignore_errors=True)  # a baseline refits in seconds; nothing to resume
            settings = {"data": str(config.data), "seed": str(config.seed), "features": features}
            fit_baseline(apply_overrides(default_baseline_config(name), settings), run)
        log(_line(i, jobs, run))
        runs.append(run)
    seconds["baselines"] = time.monotonic() - started
    planner = None
    if config.budget_seconds is not None and plan.net_configs:
        began = time.monotonic()
        planner = budget_planner(config, plan, runs, config.budget_seconds - (time.monotonic() - started), log)
        seconds["timing first steps"] = time.monotonic() - began
    for i, (name, net_config) in enumerate(plan.net_configs.items(), start=len(baselines) + 1):
        run = runs_dir / name
        if not RunDir(run).finished:
            resume = RunDir(run).resumable()
            if not resume:
                shutil.rmtree(run, ignore_errors=True)
            epochs = ""
            if planner is not None:
                net_config = with_max_epochs(net_config, planner.epochs(name))
                epochs = f" {net_config.trainer.max_epochs} epochs"
            log(f"[{i}/{jobs}] {name}: {'resuming' if resume else 'training'}{epochs} ...")
            began = time.monotonic()
            train_and_evaluate(net_config, run, resume=resume)  # a resumed run keeps its own config
            seconds[name] = time.monotonic() - began
            if planner is not None:
                planner.finished(name, seconds[name])
            estimator_for(name).release()
        log(_line(i, jobs, run))
        runs.append(run)
    return runs, planner


# Kept back from the nets' share of a budget: the report, and per trial of a baseline's tuning study
# (its fit, plus reading the vectors).
REPORT_SECONDS = 20.0
BASELINE_TRIAL_SECONDS = 1.0


def budget_planner(config: StudyConfig, plan: StudyPlan, baseline_runs: list[Path], left: float, log: Log):
    """A `genre.budget.Planner` over the plan's nets and their tuning studies, within `left` seconds
    less what the report and the baselines' tuning need. Each net's first steps are timed here,
    unless an earlier run of this study stored its cost in `OUT/schedule.json`."""
    from genre.budget import MIN_EPOCHS, SCHEDULE_NAME, Job, Planner, measure_cost, stored_costs

    path = Path(config.out) / SCHEDULE_NAME
    fitted = {RunDir(r).metrics()["model"]: RunDir(r).metrics()["train_seconds"] for r in baseline_runs}
    left -= REPORT_SECONDS + sum(
        n * (BASELINE_TRIAL_SECONDS + fitted.get(model, 0.0))
        for model, n in config.tune_trials.items()
        if model in BASELINES
    )
    measuring = time.monotonic()
    costs = stored_costs(path)
    for name, net_config in plan.net_configs.items():
        if name not in costs:
            costs[name] = measure_cost(net_config)
            estimator_for(name).release()
    left -= time.monotonic() - measuring
    jobs = []
    for name, net_config in plan.net_configs.items():
        cap = net_config.trainer.max_epochs
        jobs.append(Job(name, costs[name], min(MIN_EPOCHS, cap), cap))
        if name in config.tune_trials:
            cap = int(config.tune_settings.get(name, {}).get("max_epochs", cap))
            runs = config.tune_trials[name] + 1  # its trials and the refit
            jobs.append(Job(f"tune-{name}", costs[name], min(MIN_EPOCHS, cap), cap, runs=runs, optional=True))
    planner = Planner(jobs, config.budget_seconds, left, path)
    timed = ", ".join(f"{j.name} {j.cost.epoch:.1f} s" for j in jobs if j.runs == 1)
    log(
        f"schedule: {left / 60:.1f} min of the {config.budget_seconds / 60:.1f} min budget left for the nets; "
        f"an epoch takes {timed}"
    )
    return planner


def with_max_epochs(net_config, epochs: int):
    return dataclasses.replace(net_config, trainer=dataclasses.replace(net_config.trainer, max_epochs=epochs))


def with_tuning_epochs(config: StudyConfig, planner, nets: tuple[str, ...], log: Log) -> tuple[StudyConfig, list[str]]:
    """`config` with each tuned net's trials set to the epochs the planner allots them now, without
    the tuning studies it leaves out; and why each was left out."""
    settings, trials, left_out = dict(config.tune_settings), dict(config.tune_trials), []
    for name in nets:
        if name in config.tune_trials:
            if epochs := planner.epochs(f"tune-{name}"):
                settings[name] = {**settings.get(name, {}), "max_epochs": str(epochs)}
            else:
                del trials[name]
                left_out.append(f"{name}'s tuning study: {planner.allotted[f'tune-{name}'].reason}")
                log(f"not run: {left_out[-1]}")
    return dataclasses.replace(config, tune_settings=settings, tune_trials=trials), left_out


def _cross_validate_all(config: StudyConfig, plan: StudyPlan, baselines, runs_dir: Path, log: Log) -> list[Path]:
    """Every model of the study cross-validated on the same folds (the data set's seed), each resumable."""
    from genre.baselines.fit import default_baseline_config
    from genre.cross_validation import CVConfig, cross_validate
    from genre.train.config import apply_overrides

    cv = CVConfig(k=config.folds, repeats=config.repeats)
    jobs = [
        (
            folder,
            apply_overrides(
                default_baseline_config(name),
                {"data": str(config.data), "seed": str(config.seed), "features": features},
            ),
        )
        for name, features, folder in baselines
    ]
    jobs += list(plan.net_configs.items())
    runs = []
    for i, (folder, model_config) in enumerate(jobs, start=1):
        run = runs_dir / folder
        log(f"[{i}/{len(jobs)}] {folder}: {config.folds}-fold cross-validation")
        cross_validate(estimator_for(model_config.model), model_config, run, cv, log=log)
        runs.append(run)
    return runs


def _line(i: int, jobs: int, run: Path) -> str:
    from genre.evaluate import with_interval

    m = RunDir(run).metrics()
    return (
        f"[{i}/{jobs}] {m['model']} ({m['features']}): validation accuracy {m['val']['accuracy']:.1%}, "
        f"test accuracy {with_interval(m['test'], 'accuracy')} of {m['test']['clips']} clips "
        f"({m['train_seconds']:.1f} s training)"
    )
