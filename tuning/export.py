"""What a finished study leaves in its directory: the best configuration as TOML, and figures as PNG.

`best.toml` holds every setting of the best trial's configuration, grouped by section, in the form
`genre fit --config` (nets) and `genre baseline --config` (baselines) read. Figures come from
`optuna.visualization.matplotlib`: optimization history, parameter importances (with two or more
finished trials that vary a parameter) and intermediate values (nets, which report every epoch).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import optuna

BEST_CONFIG = "best.toml"
FIGURES = "figures"


def write_best_config(path: Path, config: Any, header: str) -> Path:
    """`config` (a FitConfig or BaselineConfig) as TOML: one table per section, None as "none"."""
    raw = config.to_dict()
    lines = [f"# {line}" for line in header.splitlines()]
    for section in config.SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in raw[section].items()]
    _write_atomically(Path(path), "\n".join(lines) + "\n")
    return Path(path)


def _toml_value(value: Any) -> str:
    if value is None:
        return '"none"'  # TOML has no null; apply_overrides reads "none" as None for optional settings
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return {math.inf: "inf", -math.inf: "-inf"}.get(value, "nan")
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_figures(study: optuna.Study, directory: Path) -> list[Path]:
    """The study's figures as PNG in `directory`; those the study has no data for are left out."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    wanted = {"optimization_history": plots.plot_optimization_history}
    varied = {name for t in finished for name in t.params}
    if len(finished) >= 2 and varied:
        wanted["param_importances"] = plots.plot_param_importances
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        wanted["intermediate_values"] = plots.plot_intermediate_values
    written = []
    for name, plot in wanted.items():
        with warnings.catch_warnings():
            # optuna.visualization.matplotlib is marked experimental; its figures are what we want.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # With a handful of trials the importance evaluator says its estimates are all equal; the
            # figure then shows exactly that, so the notice adds nothing.
            warnings.filterwarnings("ignore", "Target and region quantiles select the same set", UserWarning)
            try:
                axes = plot(study)
            except (ValueError, RuntimeError) as err:  # e.g. importances when no parameter varied
                print(f"study figure {name} left out: {err}")
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        path = directory / f"{name}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def _write_atomically(path: Path, text: str) -> None:
    """Several workers may finish the same study at once: each writes whole files, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    temporary.replace(path)
