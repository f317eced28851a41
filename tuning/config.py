"""`TuneConfig`: everything one `genre tune` command decides, as one frozen dataclass.

Every worker of a study runs with the same `TuneConfig` (the same command line); it names the
study, where it is stored, what is tuned and how, and where the trials' run directories go.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genre.data.folds import Fold  # at run time: the CLI reads every field's type

SAMPLERS = ("tpe", "random", "cmaes")
PRUNERS = ("median", "hyperband", "none")
METRICS = ("accuracy", "macro_f1")


@dataclass(frozen=True)
class TuneConfig:
    """model: a net (conv1d, mobilenet, melcnn) or a classic baseline (logreg, knn, nb, svm, hgb).
    trials: finished trials (complete or pruned) the study reaches, counted over every worker.
    timeout: seconds this worker starts new trials for (None: no limit).
    storage: an Optuna storage URL; None: an SQLite file in the study directory.
    n_jobs: worker processes this command runs (each joins the same study).
    config: a TOML file of settings (plain names, as `genre fit --config` takes); its optional
        `[search_space]` table narrows, widens or fixes the model's declared search space.
    overrides: settings as `--set` gives them, applied after `config` and `data`; a setting given
        here is fixed: it leaves the search space.
    seed: seeds the sampler (the trials' own training seed is the `seed` setting, the same in every
        trial, so trials differ by their parameters only and the best one re-trains to its value).
    heartbeat_interval, grace_period: seconds; a trial whose worker sent no heartbeat for
        `grace_period` (default 2x the interval) is marked failed and re-queued, up to `max_retry` times.
    prune_startup_trials, prune_warmup_epochs: the median pruner prunes nothing before that many
        finished trials, nor before that many epochs of a trial.
    refit: when the study is done, re-train the best configuration and evaluate it on the test split.
    folds: K-fold tuning: a trial's value is the mean validation metric over K folds of the clips
        outside the stored test split (`tuning.target.tuning_folds`); None: the stored validation split.
    fold_seed: with folds, the folds' seed (None: the prepared data set's).
    within: with folds, an outer fold of a nested cross-validation: the K folds are cut from its
        training and validation clips, so no trial reads its test clips (`genre study --folds` with
        tuning); None: from the clips outside the stored test split.
    """

    model: str = field(metadata={"help": "a net or a classic baseline: the models of genre fit and genre baseline"})
    data: Path | None = field(default=None, metadata={"help": "a prepared data set (genre prepare)"})
    trials: int = field(default=20, metadata={"help": "finished trials in total, over every worker"})
    timeout: float | None = field(default=None, metadata={"help": "seconds this worker starts new trials for"})
    study: str | None = field(
        default=None, metadata={"help": "study name (default: tune-<model>); workers with the same name join it"}
    )
    storage: str | None = field(
        default=None, metadata={"help": "Optuna storage URL, e.g. postgresql://... (default: SQLite in the study dir)"}
    )
    sampler: str = field(default="tpe", metadata={"choices": SAMPLERS})
    pruner: str = field(default="median", metadata={"choices": PRUNERS})
    n_jobs: int = field(default=1, metadata={"help": "worker processes on this machine"})
    study_dir: Path | None = field(
        default=None, metadata={"flag": "--run-dir", "help": "the study directory (default: runs/<study>)"}
    )
    metric: str = field(default="accuracy", metadata={"choices": METRICS, "help": "validation metric"})
    seed: int = field(default=0, metadata={"help": "the sampler's seed"})
    config: Path | None = field(
        default=None, metadata={"help": "TOML settings; its [search_space] table changes the space"}
    )
    overrides: dict[str, Any] = field(default_factory=dict, metadata={"cli": False})  # --set
    refit: bool = field(default=False, metadata={"help": "re-train the best config, evaluate it on test"})
    figures: bool = field(default=True, metadata={"help": "write no study figures"})
    progress: bool = field(default=True, metadata={"flag": "--quiet", "help": "no progress bar"})
    heartbeat_interval: int = field(
        default=30, metadata={"flag": "--heartbeat", "help": "seconds between a trial's heartbeats"}
    )
    grace_period: int | None = field(
        default=None, metadata={"help": "seconds without a heartbeat before a trial is failed (default: 2 intervals)"}
    )
    max_retry: int = field(default=3, metadata={"help": "times a failed trial is re-queued"})
    prune_startup_trials: int = field(default=5, metadata={"help": "median pruner: finished trials first"})
    prune_warmup_epochs: int = field(default=1, metadata={"help": "median pruner: epochs before pruning"})
    max_failures: int = field(
        default=5, metadata={"help": "consecutive failed trials of one worker before it gives up"}
    )
    folds: int | None = field(
        default=None,
        metadata={"help": "a trial's value: the mean validation metric over K folds of the non-test clips"},
    )
    fold_seed: int | None = field(
        default=None, metadata={"help": "with --folds: the folds' seed (default: the data's)"}
    )
    within: Fold | None = field(default=None, metadata={"cli": False})

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("sampler", self.sampler, SAMPLERS),
            ("pruner", self.pruner, PRUNERS),
            ("metric", self.metric, METRICS),
        ):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; valid values are {list(valid)}")
        if self.trials < 1:
            raise ValueError(f"trials must be at least 1, got {self.trials}")
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs must be at least 1, got {self.n_jobs}")
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {self.timeout}")
        if self.folds is not None and self.folds < 3:
            raise ValueError(
                f"--folds {self.folds}: need at least 3 (one fold validates, one is held out, the rest train)"
            )
        if self.fold_seed is not None and self.folds is None:
            raise ValueError("--fold-seed goes with --folds K")
        if self.within is not None and self.folds is None:
            raise ValueError(f"an outer fold ({self.within.name}) to tune within goes with folds K")
        if self.heartbeat_interval < 1:
            raise ValueError(f"heartbeat_interval must be at least 1 second, got {self.heartbeat_interval}")

    @property
    def study_name(self) -> str:
        return self.study or f"tune-{self.model}"

    @property
    def directory(self) -> Path:
        """The study directory: trials, best config, figures, refit run; the SQLite file by default."""
        return Path(self.study_dir) if self.study_dir is not None else Path("runs") / self.study_name

    @property
    def storage_url(self) -> str:
        """The storage as SQLAlchemy takes it: a plain `postgresql://` URL uses psycopg 3, our driver
        (SQLAlchemy's default for it, psycopg2, is not a dependency)."""
        if self.storage is None:
            return f"sqlite:///{(self.directory / 'study.db').resolve()}"
        if self.storage.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + self.storage.split("://", 1)[1]
        return self.storage

    @property
    def shared_storage(self) -> bool:
        """A database server, which workers on other machines may join."""
        return not self.storage_url.startswith("sqlite")
