"""The Trainer: how a task is trained. The loop policy Keras's `fit` lacks, around `fit` itself.

Keras runs the steps (on JAX or TensorFlow). The Trainer adds: a run directory, top-k and last
checkpoints, exact resumption (`resume=True` continues a killed run from its last saved state,
at an epoch's end or, with `checkpoint_every_n_steps`/`_minutes`, inside an epoch, with the same
variables, optimizer, RNG, metric and callback state and data position), a clean stop on SIGTERM
(the state saved at the next step boundary, then `Preempted`), early stopping,
reduce-on-plateau or cosine learning rate, gradient clipping, mixed precision where the device
has it, CSV and TensorBoard logs, a NaN/inf stop that keeps the last good checkpoint, `seed` and
`deterministic`, debug limits (`fast_dev_run`, `limit_train_batches`, `limit_val_batches`), and
devices and hosts (`genre.train.distributed`).
User callbacks in Keras's shape (e.g. Optuna's pruning callback) run inside the same loop.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras

from genre.run_dir import STATE, RunDir, read_json, write_json
from genre.train import Preempted, TrainingDiverged
from genre.train.callbacks import (
    BatchNormUpdate,
    EarlyStopping,
    LearningRateLogger,
    NanGuard,
    ReduceLROnPlateau,
    StatefulCallback,
    TopKCheckpoint,
)
from genre.train.checkpoint import load_resume_state, restore_metrics, save_model, save_resume_state
from genre.train.config import OptimConfig, TrainerConfig
from genre.train.data_module import DataModule
from genre.train.distributed import ClusterConfig, any_process, connect, distribution_scope
from genre.train.preemption import StopRequest, stop_on_sigterm
from genre.train.task import ClassificationTask


@dataclass
class FitResult:
    epochs: int  # epochs completed, in total over every resumption
    train_seconds: float
    best_checkpoint: Path | None
    best_score: float | None
    last_checkpoint: Path | None
    stopped_early: bool
    history: dict = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    """What one call of `Trainer.fit` does: where it writes, how many epochs, from where."""

    checkpoints: Path
    last: Path  # the resume state
    logs: Path
    curves: Path
    epochs: int
    limit_train: int | None
    limit_val: int | None
    learning_rate: float | None
    start_epoch: int
    init_from: Path | None
    prepare_model: object


class _ResumePoint(keras.callbacks.Callback):
    """Last in the callback list: saves what resumption needs after every finished epoch, and between
    steps every `every_n_steps` steps (counted over the run: epoch * steps + step) and/or every
    `every_n_minutes`; on a stop request (SIGTERM) it saves at the next step boundary and raises
    `Preempted`. A request during an epoch's last step or its validation is honoured at its end,
    which saves anyway. A state inside an epoch is {"epoch": e, "step": k}: k batches of epoch e
    are done; one at an epoch's end is {"epoch": e + 1, "step": 0}."""

    def __init__(
        self,
        directory: Path,
        stateful: dict[str, StatefulCallback],
        config: dict,
        clock,
        steps: int,
        every_n_steps: int | None,
        every_n_minutes: float | None,
        stop: StopRequest,
        agree: Callable[[tuple[bool, ...]], tuple[bool, ...]] = lambda flags: flags,
    ) -> None:
        super().__init__()
        self.directory, self.stateful, self.config, self.clock = directory, stateful, config, clock
        self.steps, self.every_n_steps, self.every_n_minutes, self.stop = steps, every_n_steps, every_n_minutes, stop
        self.agree = agree  # each flag raised in any process of the run (`genre.train.distributed.any_process`)
        self.saved_epoch: int | None = None
        self.saved: dict | None = None  # the position of the last state this process saved
        self.step_offset = 0  # batches of the current epoch done before this `fit` call (a resumed epoch)
        self._epoch = 0
        self._saved_at = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = self.step_offset + batch + 1
        if step >= self.steps or not _finite(logs):
            return  # the epoch's end saves next; diverged weights never overwrite the last good state
        # Every process takes these decisions together (a SIGTERM may reach some of them only, and their
        # clocks differ): a flag raised in any process holds in all, so all save the same step and stop.
        stop, by_clock = self.agree((self.stop.requested, self._clock_due()))
        if stop or by_clock or self._step_due(self._epoch * self.steps + step):
            self._save({"epoch": self._epoch, "step": step}, inside_epoch=True)
        if stop:
            raise Preempted(self._stopped(f"epoch {self._epoch + 1}, after step {step} of {self.steps}"))

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.step_offset = 0
        if _finite(logs):
            self._save({"epoch": epoch + 1, "step": 0})
            self.saved_epoch = epoch + 1
        (stop,) = self.agree((self.stop.requested,))
        if stop:
            raise Preempted(self._stopped(f"the end of epoch {epoch + 1}"))

    def _step_due(self, global_step: int) -> bool:
        return bool(self.every_n_steps) and global_step % self.every_n_steps == 0

    def _clock_due(self) -> bool:
        return bool(self.every_n_minutes) and time.monotonic() - self._saved_at >= 60 * self.every_n_minutes

    def _save(self, position: dict, inside_epoch: bool = False) -> None:
        state = {
            **position,
            "train_seconds": self.clock(),
            "callbacks": {name: cb.state() for name, cb in self.stateful.items()},
        }
        save_resume_state(self.directory, self.model, self.config, state, inside_epoch=inside_epoch)
        self._saved_at = time.monotonic()
        self.saved = position

    def _stopped(self, where: str) -> str:
        why = f"{self.stop.name} received" if self.stop.requested else "another process of the run was stopped"
        return (
            f"{why}: training stopped at {where}, with its resume state in {self.directory}; "
            "continue with --resume on the same run directory"
        )


def _finite(logs) -> bool:
    return all(math.isfinite(float(v)) for k, v in (logs or {}).items() if "loss" in k)


class _RestoreMetrics(keras.callbacks.Callback):
    """First in the list of a resumed epoch's `fit`: after Keras reset the metrics at the epoch's start,
    sets their accumulators to the saved ones, so the epoch's means cover its steps before the kill."""

    def __init__(self, values, directory: Path) -> None:
        super().__init__()
        self.values, self.directory = values, directory

    def on_epoch_begin(self, epoch, logs=None) -> None:
        if self.values is not None:
            restore_metrics(self.model, self.values, self.directory)
            self.values = None


class Trainer:
    def __init__(
        self, config: TrainerConfig | None = None, callbacks: list | None = None, cluster: ClusterConfig | None = None
    ) -> None:
        """cluster: the processes (hosts) of the run; each then trains on its `devices` devices, and
        `data` must be sharded over them (`DataModule.processes`)."""
        self.config = config or TrainerConfig()
        self.user_callbacks = list(callbacks or [])
        self.cluster = cluster or ClusterConfig()

    def fit(
        self,
        task: ClassificationTask,
        data: DataModule,
        run: RunDir,
        *,
        run_config: dict,
        resume: bool = False,
        phase: str = "",
        learning_rate: float | None = None,
        max_epochs: int | None = None,
        start_epoch: int = 0,
        init_from: Path | None = None,
        prepare_model=None,
    ):
        """Trains `task` on `data`, writing into `run`. Returns (model, FitResult).

        A later phase of the same run (e.g. "finetune") gets its own checkpoint folder and logs,
        starts from the weights of `init_from` (a `.keras` file), lets `prepare_model(model)` change
        the model before it is compiled (e.g. unfreeze layers), and counts epochs on from
        `start_epoch` to `max_epochs`; `learning_rate` overrides the optimizer config's.
        """
        c = self.config
        plan = _Plan(
            checkpoints=run.checkpoints(phase),
            last=run.last(phase),
            logs=run.logs(phase),
            curves=run.curves_file(phase),
            epochs=1 if c.fast_dev_run else (max_epochs or c.max_epochs),
            limit_train=1 if c.fast_dev_run else c.limit_train_batches,
            limit_val=1 if c.fast_dev_run else c.limit_val_batches,
            learning_rate=learning_rate,
            start_epoch=start_epoch,
            init_from=init_from,
            prepare_model=prepare_model,
        )
        processes = connect(self.cluster)  # before anything is written, and before JAX computes
        if data.processes != processes:
            raise ValueError(f"the data module is sharded for {data.processes}, the run has {processes}")
        plan.checkpoints.mkdir(parents=True, exist_ok=True)
        plan.logs.mkdir(parents=True, exist_ok=True)
        seed_everything(c.seed, c.deterministic)
        with distribution_scope(c.devices, processes) as placement:
            if data.config.batch_size % placement.devices:
                where = f" over {processes.count} processes" if processes.count > 1 else ""
                raise ValueError(
                    f"batch_size {data.config.batch_size} must be divisible by devices={placement.devices}{where}"
                )
            # Batches are split over a process's own devices, so with several of them a last partial
            # batch is dropped (validation too). With one device a process, every process feeds the
            # whole validation set to it and every clip counts.
            return self._fit(task, data, plan, run_config, resume, placement.local_devices > 1, processes)

    def _fit(self, task, data, plan, run_config, resume, exact_batches, processes):
        c = self.config
        with precision_scope(c.precision):
            model = task.build_model()
        if plan.init_from is not None:
            from genre.models import load_model

            model.set_weights(load_model(plan.init_from).get_weights())
        if plan.prepare_model is not None:
            plan.prepare_model(model)
        # Training drops a last partial batch whenever there is a full one: a batch of another shape
        # makes XLA compile the training step again (about 10 s for MobileNetV2 on CPU), and with the
        # shuffle every clip is still in the kept batches over the epochs. Validation keeps every clip.
        exact_train = exact_batches or data.steps_per_epoch(plan.limit_train, exact_batches=True) >= 1
        steps = data.steps_per_epoch(plan.limit_train, exact_train)
        task.compile(model, total_steps=steps * plan.epochs, learning_rate=plan.learning_rate)

        stateful: dict[str, StatefulCallback] = {
            "checkpoint": TopKCheckpoint(
                plan.checkpoints,
                c.monitor,
                c.monitor_mode,
                0 if c.fast_dev_run else c.save_top_k,
                lambda m, path: save_model(m, path, run_config),
            )
        }
        if c.early_stopping_patience is not None:
            stateful["early_stopping"] = EarlyStopping(c.monitor, c.monitor_mode, c.early_stopping_patience)
        if task.optim.schedule == "plateau":
            stateful["plateau"] = _plateau(task.optim, c)

        first_epoch, first_step, seconds_before, metrics_values = plan.start_epoch, 0, 0.0, None
        last_dir = plan.last
        if resume:
            state = load_resume_state(last_dir, model)
            first_epoch, first_step, seconds_before = state["epoch"], state.get("step", 0), state["train_seconds"]
            metrics_values = state["metrics_values"] if first_step else None
            for name, callback in stateful.items():
                callback.load_state(state["callbacks"][name])
            if state.get("finished") or first_epoch >= plan.epochs:
                return model, self._result(first_epoch, seconds_before, stateful, last_dir)
            _keep_rows_before(plan.curves, first_epoch)  # rows of epochs after the state are written again
        else:
            plan.curves.unlink(missing_ok=True)
            for callback in stateful.values():
                callback.reset()

        started = time.perf_counter()
        guard = NanGuard()
        callbacks = [guard]
        if c.bn_update_batches:
            # Before the checkpoint and resume callbacks, so what they save holds the new statistics.
            sample = data.train_sample(min(c.bn_update_batches, plan.limit_train or c.bn_update_batches), exact_train)
            callbacks.append(BatchNormUpdate(lambda: sample))
        callbacks += [
            LearningRateLogger(),
            *self.user_callbacks,
            *stateful.values(),
            # append: a resumed run, and the second `fit` of a resumed epoch, add rows to the same file.
            keras.callbacks.CSVLogger(str(plan.curves), append=True),
        ]
        if c.tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(plan.logs / "tensorboard"), write_graph=False))

        legs, steps = data.train_epochs(first_epoch, plan.epochs, plan.limit_train, exact_train, first_step)
        if metrics_values is not None:
            # TensorFlow builds the compiled metrics when it first traces a step, after the epoch began;
            # build them now from the data's shapes (Keras's own step, which JAX's `fit` runs anyway).
            model._symbolic_build(data_batch=legs[0].batches.element_spec)
        validation = data.validation(plan.limit_val, exact_batches)
        feed = _feed(model, processes, legs[0].batches.element_spec)
        history: dict[str, list] = {}
        with stop_on_sigterm(enabled=not c.fast_dev_run) as stop:
            resume_point = _ResumePoint(
                last_dir,
                stateful,
                run_config,
                lambda: seconds_before + time.perf_counter() - started,
                steps,
                c.checkpoint_every_n_steps,
                c.checkpoint_every_n_minutes,
                stop,
                functools.partial(any_process, processes=processes),
            )
            for i, leg in enumerate(legs):
                resume_point.step_offset = first_step if i == 0 else 0
                restore = [_RestoreMetrics(metrics_values, last_dir)] if i == 0 and metrics_values else []
                fitted = model.fit(
                    feed(leg.batches),
                    validation_data=feed(validation),
                    epochs=leg.end_epoch,
                    initial_epoch=leg.first_epoch,
                    steps_per_epoch=leg.steps,
                    callbacks=[*restore, *callbacks, *([] if c.fast_dev_run else [resume_point])],
                    shuffle=False,
                    verbose=1 if c.progress else 0,
                )
                for key, values in fitted.history.items():
                    history.setdefault(key, []).extend(values)
                if guard.tripped or model.stop_training:
                    break
        if guard.tripped:
            saved = resume_point.saved or ({"epoch": first_epoch, "step": first_step} if resume else None)
            where = (
                f"the last good state is {last_dir} ({_position(saved)})"
                if saved
                else "no epoch finished before it, so there is no checkpoint"
            )
            raise TrainingDiverged(
                f"training stopped: {guard.tripped}; {where}. Lower the learning rate or set clipnorm."
            )
        seconds = seconds_before + time.perf_counter() - started
        done = resume_point.saved_epoch or first_epoch
        if not c.fast_dev_run:
            state = read_json(last_dir / STATE)
            write_json(last_dir / STATE, {**state, "finished": True})
        result = self._result(done, seconds, stateful, last_dir)
        result.history = history
        return model, result

    def _result(self, epochs, seconds, stateful, last_dir) -> FitResult:
        checkpoint = stateful["checkpoint"]
        early = stateful.get("early_stopping")
        best = checkpoint.directory / checkpoint.best["file"] if checkpoint.best else None
        return FitResult(
            epochs=epochs,
            train_seconds=seconds,
            best_checkpoint=best,
            best_score=checkpoint.best["score"] if checkpoint.best else None,
            last_checkpoint=last_dir / "model.keras" if (last_dir / "model.keras").is_file() else None,
            stopped_early=bool(early and early.stopped_epoch),
        )


def _feed(model, processes, batch_spec) -> Callable:
    """What `fit` gets for a data set: the set itself, or on TensorFlow over several hosts the
    strategy's input, with the model prepared for that strategy (`genre.train.tf_multi_worker`)."""
    if processes.strategy is None:
        return lambda dataset: dataset
    from genre.train.tf_multi_worker import prepare_fit

    return prepare_fit(model, processes.strategy, batch_spec)


def _position(saved: dict) -> str:
    step = saved.get("step", 0)
    return f"epoch {saved['epoch'] + 1}, after step {step}" if step else f"epoch {saved['epoch']}"


def _keep_rows_before(curves: Path, epoch: int) -> None:
    """Drops the CSV rows of epoch `epoch` and later: a kill after an epoch's row was written but before
    its state was saved would otherwise leave that epoch's row twice."""
    if not curves.is_file():
        return
    with curves.open(newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) < epoch]
    if len(kept) != len(rows):
        tmp = curves.with_name(curves.name + ".tmp")
        with tmp.open("w", newline="") as f:
            csv.writer(f).writerows(kept)
        tmp.replace(curves)


def _plateau(optim: OptimConfig, c: TrainerConfig) -> ReduceLROnPlateau:
    return ReduceLROnPlateau(
        c.monitor, c.monitor_mode, optim.plateau_factor, optim.plateau_patience, optim.min_learning_rate
    )


def seed_everything(seed: int, deterministic: bool) -> None:
    """One seed for Python, NumPy and the backend; `deterministic` also asks TensorFlow for
    deterministic kernels (XLA on CPU is deterministic already; on GPU, JAX needs
    XLA_FLAGS=--xla_gpu_deterministic_ops=true set before it starts, which is the user's to set)."""
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def precision_scope(precision: str):
    """Keras's dtype policy for the models built inside, restored after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(resolve_precision(precision))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def resolve_precision(precision: str) -> str:
    """ "32" -> float32; "mixed" -> mixed_float16 on a GPU, mixed_bfloat16 elsewhere; "auto" -> mixed
    on a GPU or TPU, float32 on a CPU (where mixed precision is slower, not faster)."""
    if precision == "32":
        return "float32"
    kind = accelerator()
    if precision == "auto" and kind == "cpu":
        return "float32"
    return "mixed_float16" if kind == "gpu" else "mixed_bfloat16"


def accelerator() -> str:
    if keras.backend.backend() == "jax":
        import jax

        return jax.default_backend()  # "cpu", "gpu" or "tpu"
    import tensorflow as tf

    if tf.config.list_logical_devices("TPU"):
        return "tpu"
    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
