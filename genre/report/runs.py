"""Reading finished runs for the report: one `RunRecord` per run directory, from its files alone.

A run directory is any folder holding `metrics.json` and `config.json` (`genre fit`, `genre
baseline`, a tuning study's refit). `find_runs` accepts run directories and folders of them.

A finished cross-validation run (`genre.cross_validation`: `cv.json` beside `folds/`) is one record:
its folds are not listed as runs of their own. Its `metrics` are those of the first repeat's test
predictions pooled over the folds (every clip tested once: the confusion matrix and per-genre
figures), with the validation accuracy, training and inference times as means over every fold; its
`cross_validation` is the summary, and `folds` every fold's metrics.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

from genre.data.manifest import Manifest, read_manifest
from genre.run_dir import CONFIG, METRICS, RunDir, RunError, read_json


@dataclass(frozen=True)
class RunRecord:
    path: Path
    kind: str  # "net" or "baseline"
    model: str
    features: str
    backend: str
    metrics: dict
    manifest: Manifest
    tuned: bool = False
    from_scratch: bool = False  # a net whose pretrainable part started from random weights
    curves: dict[str, list[float]] = field(default_factory=dict)  # metrics.csv columns, one value per epoch
    label: str = ""  # unique among the report's runs; set by `label_runs`
    cross_validation: dict | None = None  # a cross-validation run's cv.json
    folds: tuple[dict, ...] = ()  # its folds' metrics, in cv.json's order

    @property
    def genres(self) -> list[str]:
        return list(self.manifest.genres)

    @property
    def data_identity(self) -> str:
        """Equal for runs on the same prepared data, whatever folder it was read from."""
        return self.manifest.identity


def find_runs(paths: list[Path]) -> list[Path]:
    """Each path is a run directory, or a folder searched (recursively) for finished runs."""
    found: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such run directory or folder")
        if RunDir(path).finished or RunDir(path).cv_file.is_file():
            found.append(path)
            continue
        inside = sorted(p.parent for p in path.rglob(METRICS) if (p.parent / CONFIG).is_file())
        # A tuning study keeps each trial as a run; the report shows the study's refit, not every trial.
        inside = [p for p in inside if not RunDir(p).is_trial]
        # A fold's run stands for its cross-validation, shown once when every fold has finished.
        roots = [RunDir(p).cross_validation_root() for p in inside]
        inside = [p if root is None else root.path for p, root in zip(inside, roots, strict=True)]
        inside = [p for p in inside if RunDir(p).finished or RunDir(p).cv_file.is_file()]
        if not inside:
            raise FileNotFoundError(f"{path}: holds no finished run (no {METRICS} beside a {CONFIG})")
        found.extend(inside)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def read_run(path: Path) -> RunRecord:
    if RunDir(path).is_cross_validation:
        return read_cross_validation(path)
    run = RunDir(path)
    path = run.path
    metrics, config = run.metrics(), run.config()
    manifest = read_manifest(run.manifest_file)
    if "val" not in metrics:
        raise RunError(f"{run.metrics_file}: has no validation metrics; did the run finish?")
    if metrics.get("fast_dev_run"):
        raise RunError(f"{path}: a fast_dev_run (one batch); its metrics mean nothing, leave it out of reports")
    return RunRecord(
        path=path,
        kind=run.kind,
        model=metrics["model"],
        features=metrics["features"],
        backend=metrics["backend"],
        metrics=metrics,
        manifest=manifest,
        tuned=bool(metrics.get("tuning")),
        from_scratch=config.get("model_config", {}).get("weights") == "none",
        curves=_read_curves(run.curves_file()),
    )


def read_cross_validation(path: Path) -> RunRecord:
    """A finished cross-validation run as one record (see the module docstring)."""
    import numpy as np

    from genre.evaluate import one_hot, score_split

    root = RunDir(path)
    if not root.cv_file.is_file():
        raise RunError(f"{root.path}: cross-validation not finished (no {root.cv_file.name}); run its command again")
    summary = read_json(root.cv_file)
    folds = [read_run(root.path / f["run"]) for f in summary["folds"]]
    first = folds[0]
    pooled = [
        r.metrics["test"]["predictions"] for r, f in zip(folds, summary["folds"], strict=True) if f["repeat"] == 0
    ]
    labels = np.concatenate([p["label"] for p in pooled])
    predicted = np.concatenate([p["predicted"] for p in pooled])
    ids = np.concatenate([p["track_id"] for p in pooled])
    test = score_split(one_hot(predicted, len(first.genres)), labels, first.genres, ids)
    metrics = {
        **first.metrics,
        "val": {"accuracy": summary["val_accuracy"]["mean"]},
        "test": test,
        "train_seconds": float(np.mean([r.metrics["train_seconds"] for r in folds])),
        "inference_seconds_per_clip": float(np.mean([r.metrics["inference_seconds_per_clip"] for r in folds])),
    }
    return replace(
        first,
        path=root.path,
        metrics=metrics,
        curves={},
        cross_validation=summary,
        folds=tuple(r.metrics for r in folds),
    )


def label_runs(records: list[RunRecord]) -> list[RunRecord]:
    """Short unique names: the model, then what tells equal names apart (features, backend, folder)."""

    def base(r: RunRecord) -> str:
        name = r.model + (f" [{r.features}]" if r.kind == "baseline" and r.features != "handcrafted" else "")
        name += (" (from scratch)" if r.from_scratch else "") + (" (tuned)" if r.tuned else "")
        return name + (f" ({r.cross_validation['k']}-fold CV)" if r.cross_validation else "")

    labels = [base(r) for r in records]
    for extra in (lambda r: r.backend, lambda r: r.path.name):
        counts = {label: labels.count(label) for label in labels}
        labels = [
            f"{label}, {extra(r)}" if counts[label] > 1 else label for label, r in zip(labels, records, strict=True)
        ]
    return [replace(r, label=label) for r, label in zip(records, labels, strict=True)]


def _read_curves(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {column: [float(row[column]) for row in rows if row.get(column) not in (None, "")] for column in rows[0]}
