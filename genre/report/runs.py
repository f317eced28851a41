"""Reading finished runs for the report: one `RunRecord` per run directory, from its files alone.

A run directory is any folder holding `metrics.json` and `config.json` (`genre fit`, `genre
baseline`, a tuning study's refit). `find_runs` accepts run directories and folders of them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from genre.data.manifest import Manifest, read_manifest
from genre.run_dir import CONFIG, METRICS, RunDir, RunError


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
        if RunDir(path).finished:
            found.append(path)
            continue
        inside = sorted(p.parent for p in path.rglob(METRICS) if (p.parent / CONFIG).is_file())
        # A tuning study keeps each trial as a run; the report shows the study's refit, not every trial.
        inside = [p for p in inside if not RunDir(p).is_trial]
        if not inside:
            raise FileNotFoundError(f"{path}: holds no finished run (no {METRICS} beside a {CONFIG})")
        found.extend(inside)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def read_run(path: Path) -> RunRecord:
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


def label_runs(records: list[RunRecord]) -> list[RunRecord]:
    """Short unique names: the model, then what tells equal names apart (features, backend, folder)."""
    from dataclasses import replace

    def base(r: RunRecord) -> str:
        name = r.model + (f" [{r.features}]" if r.kind == "baseline" and r.features != "handcrafted" else "")
        return name + (" (from scratch)" if r.from_scratch else "") + (" (tuned)" if r.tuned else "")

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
