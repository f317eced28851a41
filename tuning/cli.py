"""`genre tune`: the command `tuning` adds to `genre`'s CLI through the `genre.commands` entry point.

`genre` never imports `tuning`; its CLI finds this module through the entry point and calls
`add_tune_command` with its sub-command parsers. Options come from `TuneConfig`'s fields.
"""

from __future__ import annotations

import argparse

from tuning.config import TuneConfig


def add_tune_command(commands) -> None:
    from genre.options import add_options

    tune = commands.add_parser("tune", help="tune a model's settings on the validation split with Optuna")
    add_options(tune, TuneConfig)
    tune.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fix one setting")
    tune.set_defaults(handler=_run_tune)


def _run_tune(args: argparse.Namespace) -> int:
    from genre.options import config_from_args
    from genre.train.config import parse_set_arguments
    from tuning.run import run_tuning

    config = config_from_args(TuneConfig, args, overrides=parse_set_arguments(args.set))
    result = run_tuning(config)
    c = result.counts
    lines = [
        f"study {result.study} ({result.storage}): {c['complete']} complete, {c['pruned']} pruned, "
        f"{c['failed']} failed" + ("" if result.done else f"; not done ({config.trials} wanted), run again to resume")
    ]
    if result.best_value is not None:
        lines.append(f"best: trial {result.best_trial}, validation {result.metric} {result.best_value:.4f}")
        lines.append(f"best config: {result.best_config}")
    if result.refit_metrics is not None:
        m = result.refit_metrics
        lines.append(
            f"refit {result.refit_run_dir}: val {result.metric} {m['val'][result.metric]:.4f}, "
            f"test {result.metric} {m['test'][result.metric]:.4f}"
        )
    print("\n".join(lines))
    return 0
