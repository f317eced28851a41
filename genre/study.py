"""The whole comparison on one prepared data set: every classic baseline, every net, then the report.

    OUT/runs/<model>/   one run directory per model (`genre baseline`, `genre fit`)
    OUT/report/         `genre report` over them

Each model's run is skipped when it already finished, resumed when a net was interrupted after an
epoch, and started afresh otherwise; so running the same study again continues where it stopped.
Every net's settings are checked (weight files and all) before the first model trains, so a
missing file fails the study in its first second, not after an hour of other models.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from genre.baselines import BASELINES

if TYPE_CHECKING:
    from genre.report import Report

NETS = ("conv1d", "melcnn", "mobilenet")


@dataclass(frozen=True)
class StudyConfig:
    data: Path  # a prepared data set
    out: Path
    baselines: tuple[str, ...] = tuple(BASELINES)
    nets: tuple[str, ...] = NETS
    # Per-model settings by plain name, as `--set` takes them; "*" applies to every net.
    net_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    seed: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        from genre.baselines import get_baseline
        from genre.models import get_model

        for name in self.baselines:
            get_baseline(name)
        for name in self.nets:
            get_model(name)


@dataclass(frozen=True)
class StudyResult:
    runs: list[Path]
    report: Report


def run_study(config: StudyConfig, log: Callable[[str], None] = print) -> StudyResult:
    from genre.baselines.fit import default_baseline_config, fit_baseline
    from genre.data.manifest import read_manifest
    from genre.report import build_report
    from genre.train.config import apply_overrides
    from genre.train.fit import train_and_evaluate

    runs_dir = Path(config.out) / "runs"
    net_configs = net_configs_checked(config, read_manifest(config.data).shape)
    jobs = len(config.baselines) + len(config.nets)
    runs = []
    for i, name in enumerate(config.baselines, start=1):
        run = runs_dir / name
        if not _finished(run):
            shutil.rmtree(run, ignore_errors=True)  # a baseline refits in seconds; nothing to resume
            settings = {"data": str(config.data), "seed": str(config.seed)}
            fit_baseline(apply_overrides(default_baseline_config(name), settings), run)
        log(_line(i, jobs, run))
        runs.append(run)
    for i, (name, net_config) in enumerate(net_configs.items(), start=len(config.baselines) + 1):
        run = runs_dir / name
        if not _finished(run):
            resume = (run / "checkpoints" / "last" / "state.json").is_file()
            if not resume:
                shutil.rmtree(run, ignore_errors=True)
            log(f"[{i}/{jobs}] {name}: {'resuming' if resume else 'training'} ...")
            train_and_evaluate(net_config, run, resume=resume)
        log(_line(i, jobs, run))
        runs.append(run)
    report = build_report(runs, Path(config.out) / "report")
    return StudyResult(runs=runs, report=report)


def net_configs_checked(config: StudyConfig, stored_shape: Callable[[str], tuple[int, ...]]) -> dict:
    """Every net's FitConfig, each checked (settings, weight files) against the data's stored shapes.

    Called before data preparation too (with the shapes prepare will write), so a missing weight
    file stops a study before hours of preparing and training, not after."""
    from genre.data.pipeline import example_shape
    from genre.models import get_model
    from genre.train.config import apply_overrides
    from genre.train.fit import default_config

    out = {}
    for name in config.nets:
        settings = {"data": str(config.data), "seed": str(config.seed), "progress": str(config.progress).lower()}
        settings |= config.net_settings.get("*", {}) | config.net_settings.get(name, {})
        out[name] = apply_overrides(default_config(name), settings, origin=f"the study's {name} settings")
        spec = get_model(name)
        if spec.preflight is not None:
            spec.preflight(
                out[name].model_config, example_shape(spec.feature_kind, stored_shape(spec.feature_kind), spec.windows)
            )
    return out


def _finished(run: Path) -> bool:
    return (run / "metrics.json").is_file()


def _line(i: int, jobs: int, run: Path) -> str:
    from genre.train import run_dir as rd

    m = rd.read_json(run / rd.METRICS)
    return (
        f"[{i}/{jobs}] {m['model']}: validation accuracy {m['val']['accuracy']:.1%}, "
        f"test accuracy {m['test']['accuracy']:.1%} ({m['train_seconds']:.1f} s training)"
    )
