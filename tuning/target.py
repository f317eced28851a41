"""What a study tunes: a net or a classic baseline, its base settings and its search space.

`resolve_target(config)` turns a `TuneConfig` into a `Target`: the model's default config with the
user's TOML file, `--data` and `--set` applied, and the model's declared search space changed by the
file's `[search_space]` table; a setting given by `--set` is fixed and leaves the space.
`Target.config_for(params)` is the configuration of one trial; `Target.run` trains it in a run
directory through `genre`'s own entry points and returns its metrics.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genre.search_space import Choice, FloatParam, IntParam, SearchSpace, narrow
from genre.train.config import apply_overrides, read_toml
from tuning.config import TuneConfig

SPACE_TABLE = "search_space"


@dataclass(frozen=True)
class Target:
    model: str
    is_net: bool
    base: Any  # FitConfig for a net, BaselineConfig for a baseline
    space: SearchSpace

    def config_for(self, params: dict[str, Any], origin: str = "trial") -> Any:
        return apply_overrides(self.base, params, origin=origin)

    def run(self, config: Any, run_dir: Path, *, callbacks=(), evaluate_test: bool) -> dict:
        if self.is_net:
            from genre.train.fit import train_and_evaluate

            return train_and_evaluate(config, run_dir, callbacks=callbacks, evaluate_test=evaluate_test)
        from genre.baselines.fit import fit_baseline

        return fit_baseline(config, run_dir, evaluate_test=evaluate_test)

    @property
    def max_epochs(self) -> int | None:
        return self.base.trainer.max_epochs if self.is_net else None


def resolve_target(config: TuneConfig) -> Target:
    base, space, is_net = _defaults(config.model)
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
    return Target(model=config.model, is_net=is_net, base=base, space=space)


def _defaults(model: str) -> tuple[Any, SearchSpace, bool]:
    from genre.models import MODELS

    if model in MODELS:
        from genre.train.fit import default_config

        return default_config(model), dict(MODELS[model].search_space), True
    baselines = _baselines()
    if model in baselines:
        from genre.baselines.fit import default_baseline_config

        return default_baseline_config(model), dict(baselines[model].search_space), False
    raise ValueError(f"unknown model {model!r}; valid models are {sorted(MODELS) + sorted(baselines)}")


def _baselines() -> dict:
    try:
        from genre.baselines import BASELINES
    except ImportError:  # the classic baselines are not part of this checkout yet
        return {}
    return BASELINES


def _example(param) -> Any:
    if isinstance(param, Choice):
        return param.options[0]
    if isinstance(param, IntParam | FloatParam):
        return param.low
    raise TypeError(f"not a search space parameter: {param!r}")
