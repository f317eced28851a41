"""The whole comparison on one prepared data set: every classic baseline, every net, then the report.

    OUT/runs/<model>/           one run directory per model (`genre baseline`, `genre fit`)
    OUT/runs/<model>-musicnn_embeddings/   a baseline on the pretrained musicnn's clip embeddings
    OUT/report/                 `genre report` over them

Each model's run is skipped when it already finished, resumed when a net was interrupted after an
epoch, and started afresh otherwise; so running the same study again continues where it stopped.
Every model's settings are checked (weight files and all) before the first model trains, so a
missing file fails the study in its first second, not after an hour of other models. With
`folds`, every model is cross-validated instead (`genre.cross_validation`: each run directory holds
one run per fold and `cv.json`), on the same folds, so the report can pair them; tuning, when given,
still works on the stored splits. With
`skip_missing_weights` (the demo) such models are left out instead, and the report says so.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genre.baselines import BASELINES
from genre.data.features import DEFAULT_KINDS
from genre.models import MODELS, get_model
from genre.run_dir import RunDir

if TYPE_CHECKING:
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

    runs_dir = Path(config.out) / "runs"
    plan = plan_study(config, read_manifest(config.data).shape)
    for reason in plan.not_run:
        log(f"not run: {reason}")
    baselines = [(name, "handcrafted", name) for name in config.baselines]
    baselines += [(name, EMBEDDINGS, f"{name}-{EMBEDDINGS}") for name in plan.embedding_baselines]
    if config.folds is None:
        runs = _run_on_stored_splits(config, plan, baselines, runs_dir, log)
    else:
        runs = _cross_validate_all(config, plan, baselines, runs_dir, log)
    if tune is not None:
        runs += tune(dataclasses.replace(config, nets=tuple(plan.net_configs)), log)  # only the nets that ran
    report = build_report(runs, Path(config.out) / "report", not_run=plan.not_run)
    return StudyResult(runs=runs, not_run=plan.not_run, report=report)


def _run_on_stored_splits(config: StudyConfig, plan: StudyPlan, baselines, runs_dir: Path, log: Log) -> list[Path]:
    """Every model of the study trained on the stored train split, each kept, resumed or started afresh."""
    from genre.baselines.fit import default_baseline_config, fit_baseline
    from genre.train.config import apply_overrides
    from genre.train.fit import train_and_evaluate

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
    for i, (name, net_config) in enumerate(plan.net_configs.items(), start=len(baselines) + 1):
        run = runs_dir / name
        if not RunDir(run).finished:
            resume = RunDir(run).resumable()
            if not resume:
                shutil.rmtree(run, ignore_errors=True)
            log(f"[{i}/{jobs}] {name}: {'resuming' if resume else 'training'} ...")
            train_and_evaluate(net_config, run, resume=resume)
        log(_line(i, jobs, run))
        runs.append(run)
    return runs


def _cross_validate_all(config: StudyConfig, plan: StudyPlan, baselines, runs_dir: Path, log: Log) -> list[Path]:
    """Every model of the study cross-validated on the same folds (the data set's seed), each resumable."""
    from genre.baselines.fit import default_baseline_config
    from genre.cross_validation import CVConfig, cross_validate
    from genre.estimators import estimator_for
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
