"""Optuna studies over `genre`'s nets and baselines. Imports `genre`; `genre` never imports it.

`run_study(TuneConfig(...)) -> StudyResult` is the whole of `genre tune`: see `tuning.run`. The
modules: `config` (TuneConfig), `target` (what is tuned: base settings and search space),
`objective` (one trial), `study` (storage, sampler, pruner, heartbeats, workers), `export`
(best config, figures), `run` (the study from start to refit).
"""

from tuning.config import TuneConfig
from tuning.run import StudyResult, run_study

__all__ = ["StudyResult", "TuneConfig", "run_study"]
