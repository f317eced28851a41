"""Schedules that fit a time budget: time each net's first steps, then allot epochs so the job ends in time.

`genre demo --budget MINUTES` gives its study what is left of the budget after generating and
preparing the data. The study fits the baselines (seconds), then, before any net trains, builds
each net and times its first training and inference steps through the real input pipeline
(`measure_cost`): the first step of each includes tracing, compilation and filling the pipeline,
the next ones are the steady cost. From these and the data's batch counts comes each net's cost, a
fixed part (building, compiling, the final scoring of validation and test) plus a cost per epoch
(the training steps, the batch-norm update, validation).

`Planner` then allots each net's epochs just before it trains, from what is left of the budget at
that moment: `allot_epochs` gives every net still to run its minimum and hands out the remaining
epochs one at a time to the net furthest below its cap, while the total fits; a tuning study gets
epochs only once every net has reached its cap. The costs are scaled
by how long the nets trained so far took against their plan, so a machine that is busier than
its first steps showed is corrected for at the next net. A net's tuning study is one more job,
whose epochs cost as many times more as it trains runs (trials and refit).

Every allotment is written to `OUT/schedule.json` as it is made; a resumed study reads it back, so
a run continues with the epochs it began with. The report shows the schedule: the epochs each net
got, its measured cost, planned against actual time, and why. The allotment rests on timings of
this machine, so it differs between machines; the epochs a run trained are in its `config.json`,
which reproduces it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from genre.run_dir import read_json, write_json

SCHEDULE_NAME = "schedule.json"
MIN_EPOCHS = 2  # below this a net's curves and its model selection mean nothing


@dataclass(frozen=True)
class StepTimes:
    """Seconds one net's first steps took on this machine, through its real input pipeline."""

    build: float  # building the model and compiling it
    first_train: float  # the first training step: tracing and compilation included
    train_step: float  # a training step once compiled (median of the next ones)
    first_eval: float  # the first inference step, compilation included
    eval_step: float  # an inference step once compiled
    # Whether some batch norm trains, so the trainer's batch-norm update runs its forward passes
    # (a frozen pretrained base under a dense head has none: musicnn's pays nothing for it).
    batch_norm_update: bool = True


@dataclass(frozen=True)
class NetCost:
    """A training run's cost in seconds: `fixed` once, plus `epoch` per epoch."""

    fixed: float
    epoch: float

    def seconds(self, epochs: int) -> float:
        return self.fixed + epochs * self.epoch


@dataclass(frozen=True)
class Job:
    """What gets epochs: a net's run, or a net's tuning study (`runs` trainings of the same cost each).
    An optional job (a tuning study) is left out, with 0 epochs, when its minimum does not fit."""

    name: str
    cost: NetCost
    min_epochs: int
    max_epochs: int
    runs: int = 1
    optional: bool = False

    def seconds(self, epochs: int) -> float:
        return self.runs * self.cost.seconds(epochs)


@dataclass(frozen=True)
class Allotment:
    name: str
    epochs: int
    min_epochs: int
    max_epochs: int
    runs: int
    fixed_seconds: float
    epoch_seconds: float
    planned_seconds: float
    reason: str
    short: bool = False  # the time left could not pay even every job's minimum


@dataclass(frozen=True)
class Schedule:
    """The epochs a study's nets were given, and the budget they were given from."""

    budget_seconds: float  # what the study had, from its start
    left_seconds: float  # what was left for the nets (and their tuning) when the first was planned
    fits: bool  # False when a job got its minimum because even that exceeded what was left
    jobs: tuple[Allotment, ...]
    took: dict[str, float] = field(default_factory=dict)  # seconds each finished job actually took

    def epochs(self, name: str) -> int | None:
        return next((j.epochs for j in self.jobs if j.name == name), None)

    def write(self, path: Path, **more) -> None:
        write_json(path, {**asdict(self), "jobs": [asdict(j) for j in self.jobs], **more})

    @classmethod
    def read(cls, path: Path) -> Schedule:
        raw = read_json(path)
        names = {f.name for f in fields(cls)}
        kept = {k: v for k, v in raw.items() if k in names}
        return cls(**kept | {"jobs": tuple(Allotment(**j) for j in raw["jobs"])})

    def summary(self) -> str:
        head = f"budget {self.budget_seconds / 60:.1f} min; {self.left_seconds / 60:.1f} min left for the nets"
        return head if self.fits else head + " (too short on this machine: some nets train only their minimum)"


def allot_epochs(jobs: list[Job], seconds: float) -> Schedule:
    """Every required job its minimum, then epochs one at a time to the required job with the smallest
    share of its cap, until each is at its cap or no epoch more fits; only then every optional job its
    minimum where it still fits (else it is left out), and epochs to whichever job has the smallest
    share, while the total stays within `seconds`. A net short of the epochs it needs to learn is worth
    more than a tuning study of it."""
    epochs = {j.name: 0 if j.optional else j.min_epochs for j in jobs}
    total = sum(j.seconds(epochs[j.name]) for j in jobs if epochs[j.name])
    fits = total <= seconds

    def grow(candidates: list[Job]) -> None:
        nonlocal total
        while True:
            growable = [
                j for j in candidates if 0 < epochs[j.name] < j.max_epochs and total + j.runs * j.cost.epoch <= seconds
            ]
            if not growable:
                return
            job = min(growable, key=lambda j: (epochs[j.name] / j.max_epochs, j.name))
            epochs[job.name] += 1
            total += job.runs * job.cost.epoch

    grow([j for j in jobs if not j.optional])
    for job in jobs:
        if job.optional and total + job.seconds(job.min_epochs) <= seconds:
            epochs[job.name] = job.min_epochs
            total += job.seconds(job.min_epochs)
    grow(jobs)
    return Schedule(
        budget_seconds=seconds,
        left_seconds=seconds,
        fits=fits,
        jobs=tuple(_allotment(j, epochs[j.name], fits, seconds) for j in jobs),
    )


def _allotment(job: Job, epochs: int, fits: bool, seconds: float) -> Allotment:
    per_epoch = f"{job.cost.epoch:.1f} s an epoch" + (f", {job.runs} runs" if job.runs > 1 else "")
    left = f"{max(seconds, 0) / 60:.1f} min left for it and the jobs after it"
    if epochs == 0:
        needs = f"{job.runs} runs of {job.min_epochs} epochs, {job.seconds(job.min_epochs):.0f} s"
        reason = f"left out: its minimum ({needs}) does not fit beside the nets' own epochs ({left})"
    elif epochs >= job.max_epochs:
        reason = f"its cap of {job.max_epochs} epochs fits ({per_epoch}; {left})"
    elif epochs <= job.min_epochs and not fits:
        reason = f"its minimum; the budget is too short on this machine ({per_epoch}; {left})"
    else:
        reason = f"what the budget affords at {per_epoch}, cap {job.max_epochs} ({left})"
    return Allotment(
        name=job.name,
        epochs=epochs,
        min_epochs=job.min_epochs,
        max_epochs=job.max_epochs,
        runs=job.runs,
        fixed_seconds=round(job.cost.fixed, 2),
        epoch_seconds=round(job.cost.epoch, 2),
        planned_seconds=round(job.seconds(epochs), 1),
        reason=reason,
        short=not fits and not job.optional,
    )


class Planner:
    """Allots each job's epochs just before it runs, from the time left then (`allot_epochs`).

    Keeps what it allotted (also in `path`, read back on resume: an allotted job keeps its epochs)
    and how long finished jobs took against their plan; that ratio scales the costs of the jobs
    still to plan."""

    def __init__(
        self, jobs: list[Job], budget_seconds: float, left_seconds: float, path: Path, clock=time.monotonic
    ) -> None:
        self.jobs, self.budget_seconds, self.left_seconds, self.path = jobs, budget_seconds, left_seconds, path
        self.clock = clock
        self.deadline = clock() + left_seconds
        self.allotted: dict[str, Allotment] = {}
        self.took: dict[str, float] = {}
        if path.is_file():
            self.allotted = {j.name: j for j in Schedule.read(path).jobs}
            self.took = read_json(path).get("took", {})

    @property
    def slowdown(self) -> float:
        """Actual over planned seconds of the jobs finished so far (1 before any), within [1, 4].

        Never below 1: time a job saved is already in the time left, and one net running faster than
        its first steps showed says little of the next net (it made the next one's plan overrun)."""
        done = [n for n in self.took if n in self.allotted]
        if not done:
            return 1.0
        ratio = sum(self.took[n] for n in done) / max(sum(self.allotted[n].planned_seconds for n in done), 1e-9)
        return min(max(ratio, 1.0), 4.0)

    def epochs(self, name: str) -> int:
        """The epochs of job `name`: allotted now over the jobs not yet allotted, unless it already was."""
        if name not in self.allotted:
            left = self.deadline - self.clock()
            factor = self.slowdown
            pending = [
                dataclasses.replace(j, cost=NetCost(j.cost.fixed * factor, j.cost.epoch * factor))
                for j in self.jobs
                if j.name not in self.allotted
            ]
            schedule = allot_epochs(pending, left)
            self.allotted[name] = next(a for a in schedule.jobs if a.name == name)
            self._write()
        return self.allotted[name].epochs

    def finished(self, name: str, seconds: float) -> None:
        self.took[name] = round(seconds, 1)
        self._write()

    def schedule(self) -> Schedule:
        jobs = tuple(self.allotted[j.name] for j in self.jobs if j.name in self.allotted)
        return Schedule(
            budget_seconds=self.budget_seconds,
            left_seconds=round(self.left_seconds, 1),
            fits=not any(j.short for j in jobs),
            jobs=jobs,
            took=dict(self.took),
        )

    def _write(self) -> None:
        self.schedule().write(self.path, costs={j.name: asdict(j.cost) for j in self.jobs})


def stored_costs(path: Path) -> dict[str, NetCost]:
    """The costs an earlier run of the planner measured and wrote to `path` (none if there is no file)."""
    if not path.is_file():
        return {}
    return {name: NetCost(**cost) for name, cost in read_json(path).get("costs", {}).items()}


def measure_cost(config, steps: int = 4) -> NetCost:
    """Builds `config`'s net (a `FitConfig`) and times its first steps through the real pipeline.

    The model is thrown away after; what it learnt in these steps does not reach the real run."""
    return net_cost(time_first_steps(config, steps), batches_of(config), config.trainer.bn_update_batches)


def time_first_steps(config, steps: int = 4) -> StepTimes:
    """The first `steps` training steps (`model.fit` on the training pipeline) and inference steps
    (`model.predict` on the validation pipeline) of `config`'s net, timed batch by batch."""
    import keras

    from genre.train.callbacks import trainable_batch_norms
    from genre.train.fit import training_setup
    from genre.train.trainer import seed_everything

    seed_everything(config.trainer.seed, deterministic=False)
    started = time.perf_counter()
    # The run's own data and task: a head trained alone on a frozen base's outputs pays their encoding
    # (or the read of its cache) once, here in its build.
    data, task = training_setup(config, ("train", "validation"))
    model = task.build_model()
    task.compile(model, total_steps=steps)
    build = time.perf_counter() - started

    ends: list[float] = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda *_, **__: ends.append(time.perf_counter()),
        on_predict_batch_end=lambda *_, **__: ends.append(time.perf_counter()),
    )
    # The first batches in stored order: shuffling would first fill its buffer, up to the whole split.
    train = data.train_sample(steps)
    started = time.perf_counter()
    model.fit(train, epochs=1, callbacks=[record], shuffle=False, verbose=0)
    first_train, train_step = _first_and_steady(started, ends)
    ends.clear()
    started = time.perf_counter()
    model.predict(data.validation(limit_batches=steps), callbacks=[record], verbose=0)
    first_eval, eval_step = _first_and_steady(started, ends)
    return StepTimes(build, first_train, train_step, first_eval, eval_step, bool(trainable_batch_norms(model)))


def _first_and_steady(started: float, ends: list[float]) -> tuple[float, float]:
    """The first batch's seconds and the median of the rest (the first again when there is no other)."""
    first = ends[0] - started
    steady = [b - a for a, b in itertools.pairwise(ends)]
    return first, statistics.median(steady) if steady else first


def net_cost(times: StepTimes, batches: dict[str, int], bn_update_batches: int) -> NetCost:
    """A run's cost from its step times and the data's batch counts (`batches_of`)."""
    per_epoch = batches["train"] * times.train_step
    bn_batches = min(bn_update_batches, batches["train"]) if times.batch_norm_update else 0
    per_epoch += (batches["validation"] + bn_batches) * times.eval_step
    fixed = times.build + (times.first_train - times.train_step) + 2 * (times.first_eval - times.eval_step)
    fixed += batches["scoring"] * times.eval_step
    return NetCost(fixed=max(fixed, 0.0), epoch=per_epoch)


def batches_of(config) -> dict[str, int]:
    """The batches a run of `config` (a `FitConfig`) goes through: "train" and "validation" each epoch
    (a windowed kind's windows one example each in "flat" mode), and "scoring", the final scoring of
    validation and test with a clip's windows together, in batches of the same cost."""
    from genre.data.features import get_kind
    from genre.data.manifest import read_manifest
    from genre.models import get_model

    spec = get_model(config.model)
    manifest = read_manifest(config.data.data)
    windows = manifest.shape(spec.feature_kind)[0] if get_kind(spec.feature_kind).windowed else 1
    per_clip = windows if spec.window_mode == "flat" else 1
    size = config.data.batch_size
    return {
        "train": max(manifest.clip_count("train") * per_clip // size, 1),  # the trainer drops a partial batch
        "validation": math.ceil(manifest.clip_count("validation") * per_clip / size),
        "scoring": sum(math.ceil(manifest.clip_count(s) / size) * windows for s in ("validation", "test")),
    }
