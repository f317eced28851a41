"""One protocol for everything `genre` trains: a net (Keras) or a classic baseline (scikit-learn).

Call order: `default_config(name)` (then settings by plain name through `apply_overrides`), `fit(config,
run)` once per run directory, then `evaluate(run, split)` and `predict(run, paths)` from the run
directory alone, in any process. `fit` with `evaluate_test=False` never opens the test split; `fit` with
a cross-validation `fold` trains, validates and tests on the fold's roles instead of the stored splits. Callers
(the CLI, the study, tuning) pick an estimator with `estimator_for(name)` or `estimator_of_run(run)` and
never branch on what kind of model it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genre.run_dir import RunDir
from genre.search_space import SearchSpace

if TYPE_CHECKING:
    from genre.data.folds import Fold


class Estimator(Protocol):
    kind: str  # "net" or "baseline", as `RunDir.kind` reads it back
    command: str  # the `genre` command that trains it
    epochs: bool  # trains in epochs and reports each to its callbacks (pruning needs that)

    def names(self) -> tuple[str, ...]: ...

    def default_config(self, name: str) -> Any: ...

    def search_space(self, name: str) -> SearchSpace: ...

    def max_epochs(self, config: Any) -> int | None: ...

    def data(self, config: Any) -> Path: ...

    def fit(
        self,
        config: Any,
        run: Path,
        *,
        callbacks: Sequence = (),
        evaluate_test: bool = True,
        resume: bool = False,
        fold: Fold | None = None,
    ) -> dict: ...

    def evaluate(self, run: Path, split: str = "test") -> dict: ...

    def predict(self, run: Path, paths: list[Path], top: int = 3) -> list[dict]: ...

    def release(self) -> None:
        """Frees what the last `fit` left in this process, so a process fitting model after model (a
        study, the folds of a cross-validation, tuning trials) peaks at its largest, not at their sum."""
        ...


class NetEstimator:
    kind, command, epochs = "net", "fit", True

    def names(self) -> tuple[str, ...]:
        from genre.models import MODELS

        return tuple(MODELS)

    def default_config(self, name):
        from genre.train.fit import default_config

        return default_config(name)

    def search_space(self, name):
        from genre.models import get_model

        return dict(get_model(name).search_space)

    def max_epochs(self, config):
        return config.trainer.max_epochs

    def data(self, config):
        return Path(config.data.data)

    def fit(self, config, run, *, callbacks=(), evaluate_test=True, resume=False, fold=None):
        from genre.train.fit import train_and_evaluate

        return train_and_evaluate(
            config, run, resume=resume, callbacks=callbacks, evaluate_test=evaluate_test, fold=fold
        )

    def evaluate(self, run, split="test"):
        from genre.train.fit import evaluate_run

        return evaluate_run(run, split)

    def predict(self, run, paths, top=3):
        from genre.train.fit import predict_paths

        return predict_paths(run, paths, top)

    def release(self):
        # Keras's graph state, compiled functions and buffers of the last models built; then glibc's
        # free lists, which otherwise keep what was freed (measured on TensorFlow: without the trim,
        # clearing the session left the process as large as not clearing it; scripts/bench_release.py).
        import gc

        import keras

        keras.backend.clear_session()
        gc.collect()
        _return_freed_memory()


class BaselineEstimator:
    kind, command, epochs = "baseline", "baseline", False

    def names(self) -> tuple[str, ...]:
        from genre.baselines import BASELINES

        return tuple(BASELINES)

    def default_config(self, name):
        from genre.baselines.fit import default_baseline_config

        return default_baseline_config(name)

    def search_space(self, name):
        from genre.baselines import get_baseline

        return dict(get_baseline(name).search_space)

    def max_epochs(self, config):
        return None

    def data(self, config):
        return Path(config.run.data)

    def fit(self, config, run, *, callbacks=(), evaluate_test=True, resume=False, fold=None):
        # A baseline fits in one call: there are no epochs to report to callbacks, nor to resume.
        from genre.baselines.fit import fit_baseline

        return fit_baseline(config, run, evaluate_test=evaluate_test, fold=fold)

    def evaluate(self, run, split="test"):
        from genre.baselines.fit import evaluate_baseline

        return evaluate_baseline(run, split)

    def predict(self, run, paths, top=3):
        from genre.baselines.fit import predict_baseline

        return predict_baseline(run, paths, top)

    def release(self):
        pass  # a fitted pipeline is freed with its last reference


def _return_freed_memory() -> None:
    """Hands the C allocator's freed pages back to the system (glibc's `malloc_trim`; elsewhere nothing)."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to hand back this way
        ctypes.CDLL("libc.so.6").malloc_trim(0)


ESTIMATORS: tuple[Estimator, ...] = (NetEstimator(), BaselineEstimator())


def model_names() -> tuple[str, ...]:
    """Every model `genre` can train: the nets, then the baselines."""
    return tuple(name for e in ESTIMATORS for name in e.names())


def estimator_for(name: str) -> Estimator:
    """The estimator that trains the model called `name`, or a ValueError listing the valid names."""
    for e in ESTIMATORS:
        if name in e.names():
            return e
    raise ValueError(f"unknown model {name!r}; valid models are {sorted(model_names())}")


def estimator_of_run(run: Path) -> Estimator:
    """The estimator that wrote a run directory (a cross-validation's folds are each one; it is not)."""
    if RunDir(run).is_cross_validation:
        from genre.run_dir import RunError

        example = RunDir(run).fold_run("r0-f0").path
        raise RunError(f"{run} is a cross-validation, not one run; name one of its folds, e.g. {example}")
    kind = RunDir(run).kind
    return next(e for e in ESTIMATORS if e.kind == kind)
