"""The study and its workers: storage, sampler, pruner, heartbeats, and the trial budget.

`open_study` creates the study or joins it (every worker runs the same command). Storage is an
Optuna RDB storage, SQLite in the study directory by default or a database server
(`postgresql://...`) shared by workers on many machines. Every running trial sends heartbeats; a
trial whose worker died (killed, machine lost) is marked failed once its heartbeat is older than the
grace period, and `RetryHeartbeatStaleTrialCallback` queues it again with the same parameters, so no trial
is lost and an interrupted study resumes with the same command.

`work` is one worker's loop: it runs trials one at a time until the study holds `trials` finished
(complete or pruned) trials in total, or its own timeout passes. While the remaining budget is
taken by trials running elsewhere, it waits: one of them may yet fail and come back to the queue.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import time
import warnings
from collections.abc import Iterator

import optuna
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from genre.train import TrainingDiverged
from tuning.config import TuneConfig
from tuning.objective import LIVE, Objective, SurplusTrial
from tuning.target import Target, resolve_target

DONE = (TrialState.COMPLETE, TrialState.PRUNED)
DIRECTION = "maximize"
# Study attributes a joining worker must agree with: the same study name for another model, metric
# or folds is a different study (a mean over folds and one split's value are not comparable trials).
IDENTITY = ("model", "metric", "folds", "fold_seed")
CREATE_ATTEMPTS = 5


class StudyStorageError(ValueError):
    """The study's SQLite file cannot be read as a study database."""


def storage(config: TuneConfig) -> RDBStorage:
    url = config.storage_url
    if not config.shared_storage:
        config.directory.mkdir(parents=True, exist_ok=True)
        # Several processes share one SQLite file: wait for its lock instead of failing at once.
        engine = {"connect_args": {"timeout": 60}}
    else:
        engine = {"pool_pre_ping": True}  # a worker outlives idle connections the server drops
    import sqlalchemy.exc

    for attempt in range(CREATE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                # Heartbeats are marked experimental in Optuna; they are what brings a killed worker's trial back.
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    engine_kwargs=engine,
                    heartbeat_interval=config.heartbeat_interval,
                    grace_period=config.grace_period or 2 * config.heartbeat_interval,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=config.max_retry),
                )
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError) as err:
            # Workers started together on an empty database all create Optuna's tables; on PostgreSQL
            # all but one fail (e.g. CREATE TYPE studydirection), on SQLite with "table ... already
            # exists". The tables exist then: try again.
            creating = not isinstance(err, sqlalchemy.exc.OperationalError) or "already exists" in str(err)
            if not creating or attempt == CREATE_ATTEMPTS - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
        except sqlalchemy.exc.DatabaseError as err:
            if config.shared_storage:
                raise
            # A file that is not SQLite, or a damaged one: say which file, and leave it as it is.
            from sqlalchemy.engine import make_url

            raise StudyStorageError(
                f"{make_url(url).database}: not a readable Optuna study database ({err.orig}); "
                "move it away to start the study afresh, or pass another --run-dir"
            ) from None
    raise AssertionError("unreachable")


def sampler(config: TuneConfig, seed: int) -> optuna.samplers.BaseSampler:
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if config.sampler == "cmaes":
        # CMA-ES samples float and int ranges; choices fall back to random sampling, seeded too.
        return optuna.samplers.CmaEsSampler(
            seed=seed, independent_sampler=optuna.samplers.RandomSampler(seed=seed), warn_independent_sampling=False
        )
    # constant_liar: a worker treats the others' running trials as bad, so parallel workers spread out.
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True)


def pruner(config: TuneConfig, max_epochs: int | None) -> optuna.pruners.BasePruner:
    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs or "auto")
    return optuna.pruners.MedianPruner(
        n_startup_trials=config.prune_startup_trials, n_warmup_steps=config.prune_warmup_epochs
    )


@contextlib.contextmanager
def open_study(config: TuneConfig, target: Target, seed: int) -> Iterator[optuna.Study]:
    """The study, created or joined; its database connections are closed on leaving."""
    rdb = storage(config)
    try:
        yield _create_or_join(config, target, seed, rdb)
    finally:
        rdb.engine.dispose()  # a long-lived process (tests, the demo) keeps no idle connections


def _create_or_join(config: TuneConfig, target: Target, seed: int, rdb: RDBStorage) -> optuna.Study:
    study = optuna.create_study(
        storage=rdb,
        study_name=config.study_name,
        direction=DIRECTION,
        sampler=sampler(config, seed),
        pruner=pruner(config, target.max_epochs),
        load_if_exists=True,
    )
    identity = {key: getattr(config, key) for key in IDENTITY}
    for key, value in identity.items():
        if key not in study.user_attrs:
            study.set_user_attr(key, value)
        elif study.user_attrs[key] != value:
            found = study.user_attrs[key]
            raise ValueError(
                f"study {config.study_name!r} in {config.storage_url} tunes {key} {found!r}, not {value!r}; "
                "pass another --study"
            )
    return study


def counts(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    out = {state.name.lower(): sum(1 for t in trials if t.state == state) for state in TrialState}
    out["surplus"] = sum(1 for t in trials if t.user_attrs.get("surplus"))
    out["failed"] = out.pop("fail") - out["surplus"]
    return out


def worker_seed(config: TuneConfig, index: int, trials_before: int = 0) -> int:
    """The sampler's seed: `seed` for the first worker of this command, then seed + 1, ...; plus the
    number of trials the study held when the worker started, so a resumed study does not draw its
    first parameters again.

    Workers started by separate commands on a database server also mix in their process id: the
    same seed everywhere would make them sample the same first parameters. Such studies are not
    reproducible anyway (trial order depends on timing); a single worker on SQLite is.
    """
    return config.seed + index + trials_before + (os.getpid() if config.shared_storage else 0)


def work(config: TuneConfig, index: int = 0) -> dict[str, int]:
    """One worker: runs trials until the study is done or the timeout passes; returns the study's counts."""
    target = resolve_target(config)
    with open_study(config, target, worker_seed(config, index)) as study:
        # Reseeded once the study's size is known (creating the study needs a sampler already).
        study.sampler = sampler(config, worker_seed(config, index, len(study.get_trials(deepcopy=False))))
        objective = Objective(config, target)
        deadline = time.monotonic() + config.timeout if config.timeout else None
        failures = 0
        bar = trial_bar(config, study, shown=index == 0)
        while deadline is None or time.monotonic() < deadline:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)  # also while waiting, when no trial of ours checks
            trials = study.get_trials(deepcopy=False)
            if sum(t.state in DONE for t in trials) >= config.trials:
                break
            live = sum(t.state in LIVE for t in trials)
            if live >= config.trials and not any(t.state == TrialState.WAITING for t in trials):
                time.sleep(min(1.0, config.heartbeat_interval / 2))
                continue
            ran: list[optuna.trial.FrozenTrial] = []
            # Failures a trial can have by its parameters (a layout too big for the input, divergence)
            # fail that trial only; the study goes on.
            study.optimize(
                objective,
                n_trials=1,
                catch=(SurplusTrial, ValueError, TrainingDiverged),
                callbacks=[lambda _, trial, ran=ran: ran.append(trial)],
            )
            objective.target.estimator.release()  # trials train one after another in this process
            last = ran[-1] if ran else None
            _advance(bar, study)
            if last is not None and last.state == TrialState.FAIL and not last.user_attrs.get("surplus"):
                failures += 1
                if failures >= config.max_failures:
                    reason = last.system_attrs.get("fail_reason", "see the log above")
                    raise RuntimeError(f"{failures} trials in a row failed; the last, trial {last.number}: {reason}")
            else:
                failures = 0
        bar.close()
        return counts(study)


def trial_bar(config: TuneConfig, study: optuna.Study, shown: bool):
    """The study's progress on stderr: finished trials (every worker's) of `config.trials`, trials a
    minute, the time left at that rate, and the best value so far. One bar per command (worker 0)."""
    from tqdm import tqdm

    done = sum(t.state in DONE for t in study.get_trials(deepcopy=False))
    desc = f"tune {config.model}"
    return tqdm(
        total=config.trials,
        initial=min(done, config.trials),
        unit="trial",
        desc=desc,
        disable=not (config.progress and shown),
        file=sys.stderr,
        smoothing=0.1,
    )


def _advance(bar, study: optuna.Study) -> None:
    trials = study.get_trials(deepcopy=False)
    bar.update(min(sum(t.state in DONE for t in trials), bar.total) - bar.n)
    values = [t.value for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    if values:
        best = max(values) if study.direction == optuna.study.StudyDirection.MAXIMIZE else min(values)
        bar.set_postfix_str(f"best {best:.4f}", refresh=False)


def run_workers(config: TuneConfig) -> dict[str, int]:
    """`config.n_jobs` workers: this process, plus n_jobs - 1 spawned processes (Keras state is per process)."""
    if config.n_jobs == 1:
        return work(config, 0)
    context = multiprocessing.get_context("spawn")
    others = [context.Process(target=work, args=(config, i), daemon=False) for i in range(1, config.n_jobs)]
    for process in others:
        process.start()
    try:
        result = work(config, 0)
    finally:
        for process in others:
            process.join()
    bad = [p.exitcode for p in others if p.exitcode != 0]
    if bad:
        raise RuntimeError(f"{len(bad)} of {config.n_jobs - 1} worker processes failed (exit codes {bad})")
    return result
