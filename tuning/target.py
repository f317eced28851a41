"""What a study tunes: a net or a classic baseline, its base settings and its search space.

`resolve_target(config)` turns a `TuneConfig` into a `Target`: the model's default config with the
user's TOML file, `--data` and `--set` applied, and the model's declared search space changed by the
file's `[search_space]` table; a setting given by `--set` is fixed and leaves the space.
`Target.config_for(params)` is the configuration of one trial; `Target.estimator` (`genre.estimators`)
trains it in a run directory and returns its metrics, the same way for a net and a baseline.

With `folds`, `Target.folds` holds the K folds every trial trains on (`genre.data.folds.tuning_folds`): from the
clips of the stored train and validation splits only, so tuning never sees a test clip and the
refit is still scored once on the stored test split; or, with `within` (nested cross-validation),
from an outer fold's training and validation clips, its test clips read by no trial. Each fold
trains on its training part and is scored on its validation part; its held-out part (`Fold.test`)
is read by no trial.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genre.data.folds import Fold, tuning_folds
from genre.estimators import Estimator, estimator_for
from genre.search_space import Choice, FloatParam, IntParam, SearchSpace, narrow
from genre.train.config import apply_overrides, read_toml
from tuning.config import TuneConfig

SPACE_TABLE = "search_space"


@dataclass(frozen=True)
class Target:
    model: str
    estimator: Estimator
    base: Any  # the model's config (FitConfig for a net, BaselineConfig for a baseline)
    space: SearchSpace
    folds: tuple[Fold, ...] = ()  # K-fold tuning; empty: the stored validation split

    def config_for(self, params: dict[str, Any], origin: str = "trial") -> Any:
        return apply_overrides(self.base, params, origin=origin)

    @property
    def max_epochs(self) -> int | None:
        """The most steps a trial reports to the pruner: its epochs, or with folds the folds."""
        return len(self.folds) if self.folds else self.estimator.max_epochs(self.base)


def resolve_target(config: TuneConfig) -> Target:
    estimator = estimator_for(config.model)
    base, space = estimator.default_config(config.model), estimator.search_space(config.model)
    if config.config is not None:
        settings = read_toml(config.config)  # checks the file; its tables only group settings
        table = tomllib.loads(Path(config.config).read_text()).get(SPACE_TABLE, {})
        if not isinstance(table, dict):
            raise ValueError(f"{config.config}: [{SPACE_TABLE}] must be a table, got {table!r}")
        origin = f"{config.config} [{SPACE_TABLE}]"
        base = apply_overrides(base, {k: v for k, v in settings.items() if k not in table}, origin=str(config.config))
        space, fixed = narrow(space, table, origin=origin)
        base = apply_overrides(base, fixed, origin=origin)
    if config.data is not None:
        base = apply_overrides(base, {"data": config.data}, origin="--data")
    base = apply_overrides(base, config.overrides)
    space = {name: param for name, param in space.items() if name not in config.overrides}
    for name, param in space.items():  # an unknown or ill-typed name fails now, not in every trial
        apply_overrides(base, {name: _example(param)}, origin=f"search space of {config.model}")
    folds = ()
    if config.folds:
        folds = tuple(tuning_folds(estimator.data(base), config.folds, config.fold_seed, config.within))
    return Target(model=config.model, estimator=estimator, base=base, space=space, folds=folds)


def _example(param) -> Any:
    if isinstance(param, Choice):
        return param.options[0]
    if isinstance(param, IntParam | FloatParam):
        return param.low
    raise TypeError(f"not a search space parameter: {param!r}")
