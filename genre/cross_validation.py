"""K-fold cross-validation of one model: an ordinary run per fold, and a summary over the folds.

For a small collection one test split of a few dozen clips says little; every clip can be tested
once per repeat instead. The folds come from the prepared data set's clip table and a seed (the data
set's, unless given): stratified by genre, grouped by artist when every clip has an artist id
(`genre.data.folds`). Each fold trains through the model's estimator on the fold's roles in place of
the stored splits, in its own run directory (`RunDir.fold_run`), so `genre test`, `genre predict`
and the report read it like any run. The layout is `genre.run_dir`'s: `folds.json` (the plan),
`folds/r<R>-f<F>/`, and `cv.json`, the summary written when every fold has finished.

Nested cross-validation (a tuned model in `genre study --folds`): each outer fold's settings come
from a tuning study of its own (`FoldTuning`, in `RUN/tuning/r<R>-f<F>/`) over inner folds of that
fold's training and validation clips, so the outer test clips score a model whose tuning never saw
them, and the tuned model is paired with the others on the same folds.

Resumable: a rerun with the same plan keeps finished folds, resumes a net's fold that finished an
epoch, and starts any other unfinished fold again; a rerun with another plan (k, repeats, seed, data)
is refused.

The summary (`cv.json`) holds every fold's test accuracy and macro-F1 with its clip count, their mean
and sample standard deviation, and a 95% interval for each mean from the corrected resampled t
(`genre.uncertainty.corrected_fold_interval`): folds share most of their training clips, so the
plain t interval over fold values would be too narrow. It also holds, per repeat, the pooled accuracy
over all of that repeat's test predictions (each clip is tested exactly once per repeat) with its
exact Clopper-Pearson interval: an interval over clips, not over training sets.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from genre.data.folds import Fold, manifest_folds
from genre.data.manifest import Manifest, read_manifest
from genre.estimators import Estimator
from genre.run_dir import RunDir, RunError, read_json, write_json


class FoldTuning(Protocol):
    """Nested cross-validation's inner step: the settings one outer fold trains, tuned within it."""

    plan: dict  # what the tuning is (trials, inner folds): part of the cross-validation's plan

    def settings(self, fold: Fold) -> tuple[Any, dict]:
        """The fold's tuned settings, and the record its metrics carry ("tuning")."""
        ...


@dataclass(frozen=True)
class CVConfig:
    k: int
    repeats: int = 1
    seed: int | None = None  # None: the prepared data set's seed

    def __post_init__(self) -> None:
        if self.k < 3:
            raise ValueError(f"--folds {self.k}: need at least 3 (one fold tests, the next validates, the rest train)")
        if self.repeats < 1:
            raise ValueError(f"--repeats {self.repeats}: need at least 1")


def cv_folds(manifest: Manifest, cv: CVConfig) -> list[Fold]:
    """The folds `cv` cuts a prepared data set into: the same for every model cross-validated on it."""
    return manifest_folds(manifest, k=cv.k, repeats=cv.repeats, seed=manifest.seed if cv.seed is None else cv.seed)


def cross_validate(
    estimator: Estimator,
    config: Any,
    run: Path,
    cv: CVConfig,
    *,
    log: Callable[[str], None] = print,
    tune: FoldTuning | None = None,
) -> dict:
    """Trains and scores `config`'s model on every fold into `run`; returns (and writes) the summary.

    With `tune` (nested cross-validation), each fold trains the settings `tune.settings(fold)` returns
    instead: tuned on that fold's training and validation clips only, so its test clips are read by
    the fold's scoring alone. The fold's metrics then carry the tuning's record ("tuning")."""
    root = RunDir(run)
    data = estimator.data(config)
    manifest = read_manifest(data)
    seed = manifest.seed if cv.seed is None else cv.seed
    folds = cv_folds(manifest, cv)
    plan = {
        "model": config.model,
        "data": str(data),
        "data_identity": manifest.identity,
        "k": cv.k,
        "repeats": cv.repeats,
        "seed": seed,
        "grouped_by_artist": manifest.has_artists,
        "clips": len(manifest.clips),
        "folds": [f.to_dict() for f in folds],
    }
    if tune is not None:
        plan["nested_tuning"] = tune.plan
    _start(root, plan)
    results = []
    for fold in folds:
        fold_run = root.fold_run(fold.name)
        label = _label(fold, cv)
        if fold_run.finished:
            metrics = fold_run.metrics()
            log(f"{label}: kept, finished earlier: {_fold_line(metrics)}")
        else:
            resume = estimator.epochs and fold_run.path.exists() and fold_run.resumable()
            if fold_run.path.exists() and not resume:  # unfinished, with nothing to resume from
                shutil.rmtree(fold_run.path)
            settings, tuning = (config, None) if tune is None else tune.settings(fold)
            log(f"{label}: {'resuming' if resume else 'training'} in {fold_run.path}")
            metrics = estimator.fit(settings, fold_run.path, resume=bool(resume), fold=fold)
            if tuning is not None:
                metrics = {**metrics, "tuning": tuning}
                fold_run.write_metrics(metrics)
            estimator.release()
            log(f"{label}: {_fold_line(metrics)}")
        results.append((fold, metrics))
    summary = summarize(plan, results)
    write_json(root.cv_file, summary)
    log(summary_text(summary))
    return summary


def _start(root: RunDir, plan: dict) -> None:
    """Writes the plan in a new run folder, or checks that an existing one holds the same plan."""
    if root.is_cross_validation:
        if read_json(root.cv_plan_file) != plan:
            raise RunError(
                f"{root.path} holds a cross-validation with another plan (model, data, k, repeats or seed); "
                "choose a new --run-dir, or rerun with the settings it was started with"
            )
        return
    root.require_new()
    root.path.mkdir(parents=True, exist_ok=True)
    write_json(root.cv_plan_file, plan)


def _label(fold: Fold, cv: CVConfig) -> str:
    label = f"fold {fold.fold + 1}/{cv.k}"
    return label + (f" of repeat {fold.repeat + 1}/{cv.repeats}" if cv.repeats > 1 else "")


def _fold_line(metrics: dict) -> str:
    from genre.evaluate import with_interval

    m = metrics["test"]
    return (
        f"test accuracy {with_interval(m, 'accuracy')}, macro-F1 {with_interval(m, 'macro_f1', False)} "
        f"({m['clips']} clips)"
    )


def summarize(plan: dict, results: list[tuple[Fold, dict]]) -> dict:
    """`cv.json` from the plan and every fold's metrics (see the module docstring)."""
    from genre.uncertainty import CORRECTED_T, EXACT, accuracy_interval, corrected_fold_interval, fold_summary

    per_fold = []
    for fold, metrics in results:
        test, val = metrics["test"], metrics["val"]
        per_fold.append(
            {
                "repeat": fold.repeat,
                "fold": fold.fold,
                "run": f"folds/{fold.name}",
                "train_clips": len(fold.train),
                "val_accuracy": val["accuracy"],
                "test_accuracy": test["accuracy"],
                "test_macro_f1": test["macro_f1"],
                "test_clips": test["clips"],
            }
        )
    ratio = np.mean([f["test_clips"] for f in per_fold]) / np.mean([f["train_clips"] for f in per_fold])
    summary = {
        "model": plan["model"],
        "data": plan["data"],
        "k": plan["k"],
        "repeats": plan["repeats"],
        "seed": plan["seed"],
        "grouped_by_artist": plan["grouped_by_artist"],
        "clips": plan["clips"],
        "folds": per_fold,
        "interval_method": {"level": 0.95, "mean": CORRECTED_T, "pooled_accuracy": EXACT},
    }
    if "nested_tuning" in plan:
        summary["nested_tuning"] = plan["nested_tuning"]
    for name in ("test_accuracy", "test_macro_f1", "val_accuracy"):
        values = [f[name] for f in per_fold]
        summary[name] = {**fold_summary(values).to_dict(), "interval": list(corrected_fold_interval(values, ratio))}
    pooled = []
    for repeat in range(plan["repeats"]):
        predictions = [m["test"]["predictions"] for f, m in results if f.repeat == repeat]
        labels = np.concatenate([p["label"] for p in predictions])
        predicted = np.concatenate([p["predicted"] for p in predictions])
        correct = int(np.sum(labels == predicted))
        pooled.append(
            {
                "repeat": repeat,
                "accuracy": correct / len(labels),
                "interval": list(accuracy_interval(correct, len(labels))),
                "clips": len(labels),
            }
        )
    summary["pooled_test_accuracy"] = pooled
    return summary


def mean_text(s: dict, percent: bool) -> str:
    """A summary's {mean, std, interval} as "mean ± sd [low, high]", in percent or as a fraction."""
    low, high = s["interval"]
    if percent:
        return f"{100 * s['mean']:.1f}% ± {100 * s['std']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"
    return f"{s['mean']:.3f} ± {s['std']:.3f} [{low:.3f}, {high:.3f}]"


def summary_text(summary: dict) -> str:
    repeats = summary["repeats"]
    grouping = "artist-grouped" if summary["grouped_by_artist"] else "clip-level"
    lines = [
        f"{summary['k']}-fold cross-validation of {summary['model']} ({repeats} repeat{'s' * (repeats > 1)}, "
        f"seed {summary['seed']}, {grouping}, {summary['clips']} clips): mean ± sd over "
        f"{len(summary['folds'])} folds [95% interval of the mean, corrected resampled t]",
        f"test accuracy {mean_text(summary['test_accuracy'], True)}, "
        f"macro-F1 {mean_text(summary['test_macro_f1'], False)}",
    ]
    for p in summary["pooled_test_accuracy"]:
        low, high = p["interval"]
        lines.append(
            f"repeat {p['repeat'] + 1}: pooled test accuracy {100 * p['accuracy']:.1f}% [{100 * low:.1f}, "
            f"{100 * high:.1f}] ({p['clips']} clips, each tested once)"
        )
    return "\n".join(lines)
