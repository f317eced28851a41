"""Optuna studies over `genre`'s nets and baselines. Imports `genre`; `genre` never imports it.

`run_tuning(TuneConfig(...)) -> TuningResult` is the whole of `genre tune`: see `tuning.run`. The
modules: `config` (TuneConfig), `target` (what is tuned: base settings and search space),
`objective` (one trial), `study` (storage, sampler, pruner, heartbeats, workers), `export`
(best config, figures), `run` (the study from start to refit), `cli` (the `genre tune` command),
`in_study` (the tuning step of `genre demo` and `genre study`). The last two reach `genre` through
its entry points (`genre.commands`, `genre.study_steps` in pyproject.toml).
"""

from tuning.config import TuneConfig

__all__ = ["TuneConfig", "TuningResult", "run_tuning"]


def __getattr__(name: str):
    # Optuna and Keras load only when a study runs, not when `genre`'s CLI discovers the command.
    if name in ("TuningResult", "run_tuning"):
        import tuning.run

        return getattr(tuning.run, name)
    raise AttributeError(f"module 'tuning' has no attribute {name!r}")
