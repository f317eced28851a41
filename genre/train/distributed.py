"""Which processes and devices one run trains on: one host or several, on either backend.

`ClusterConfig` names the processes of a run (a coordinator address, their count, this one's index,
or "let JAX find them in the cluster's environment"); `cluster_from` fills it from command-line
values over an environment mapping. `connect` joins the processes before any computation and hands
on `Processes` (this one's index, their count); `distribution_scope` then spreads training over
every device of every process.

Only the backends' own engines are used: on JAX `jax.distributed.initialize` and
`keras.distribution.DataParallel` (one or several hosts); on TensorFlow `tf.distribute.MirroredStrategy`
on one host and `tf.distribute.MultiWorkerMirroredStrategy` on several (`genre.train.tf_multi_worker`,
which works around Keras's `fit` failing under it, keras-team/keras#20585).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ClusterConfig:
    """The processes of one run. Nothing set: one process. `detect`: JAX finds the rest in the
    cluster's environment (SLURM, a Cloud TPU pod slice, Open MPI); values given override it."""

    coordinator: str | None = None  # HOST:PORT that process 0 listens on
    num_processes: int | None = None
    process_id: int | None = None
    detect: bool = False
    # Every process's HOST:PORT, in order (TF_CONFIG's workers), for TensorFlow; without them worker i
    # listens on the coordinator's host at its port + i (processes on one machine).
    workers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.num_processes is not None and self.num_processes < 1:
            raise ValueError(f"num_processes must be at least 1, got {self.num_processes}")
        if self.process_id is not None and not 0 <= self.process_id < (self.num_processes or 1 << 30):
            raise ValueError(f"process_id must be in [0, {self.num_processes}), got {self.process_id}")
        if self.detect or (self.num_processes or 1) == 1:
            return
        if self.process_id is None or not self.coordinator:
            raise ValueError(
                f"num_processes={self.num_processes} needs the coordinator (HOST:PORT of process 0) and this "
                f"process's id (0..{self.num_processes - 1}), or the cluster's detection (--detect-cluster)"
            )
        host, sep, port = self.coordinator.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"coordinator must be HOST:PORT, got {self.coordinator!r}")

    @property
    def multi_process(self) -> bool:
        return self.detect or (self.num_processes or 1) > 1

    def worker_addresses(self) -> tuple[str, ...]:
        if self.workers is not None:
            return self.workers
        host, _, port = self.coordinator.rpartition(":")
        return tuple(f"{host}:{int(port) + i}" for i in range(self.num_processes))


@dataclass(frozen=True)
class Processes:
    """This process's place in the run: only process 0 writes the run directory. `strategy`: the
    multi-worker strategy joining them on TensorFlow (None on JAX and on one process)."""

    index: int = 0
    count: int = 1
    strategy: object = field(default=None, compare=False, repr=False)

    @property
    def writes(self) -> bool:
        return self.index == 0


SINGLE_PROCESS = Processes()


def cluster_from(
    environ: Mapping[str, str],
    *,
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    detect: bool = False,
) -> ClusterConfig:
    """Given values over the environment: JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID,
    else TF_CONFIG's workers (its first worker as the coordinator, its task index as the process id;
    its list of workers kept unless the values given name another coordinator or count)."""

    def number(name: str) -> int | None:
        text = environ.get(name)
        if text is None or not text.strip():
            return None
        if not text.strip().isdigit():
            raise ValueError(f"environment variable {name}={text!r} is not a count")
        return int(text)

    fields = {
        "coordinator": environ.get("JAX_COORDINATOR_ADDRESS") or None,
        "num_processes": number("JAX_NUM_PROCESSES"),
        "process_id": number("JAX_PROCESS_ID"),
    }
    if not any(v is not None for v in fields.values()) and environ.get("TF_CONFIG"):
        fields = _tf_config_cluster(environ["TF_CONFIG"])
    given = {"coordinator": coordinator, "num_processes": num_processes, "process_id": process_id}
    merged = {k: given[k] if given[k] is not None else fields[k] for k in given}
    workers = fields.get("workers")
    if workers and (merged["coordinator"] != workers[0] or merged["num_processes"] != len(workers)):
        workers = None
    return ClusterConfig(**merged, detect=detect, workers=workers)


def _tf_config_cluster(text: str) -> dict:
    try:
        spec = json.loads(text)
        workers = spec["cluster"]["worker"]
        index = int(spec.get("task", {}).get("index", 0))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"environment variable TF_CONFIG is not a cluster spec with workers ({err})") from None
    return {
        "coordinator": workers[0] if workers else None,
        "num_processes": len(workers),
        "process_id": index,
        "workers": tuple(workers),
    }


def connect(cluster: ClusterConfig) -> Processes:
    """Joins this process to the others of the run; call it before any computation. Calling it
    again once joined only reports where this process stands."""
    if not cluster.multi_process:
        return SINGLE_PROCESS
    import keras

    if keras.backend.backend() == "tensorflow":
        return _connect_tensorflow(cluster)
    if keras.backend.backend() != "jax":
        raise ValueError(f"several hosts need KERAS_BACKEND=jax or tensorflow, not {keras.backend.backend()!r}")
    import jax

    if not jax.distributed.is_initialized():
        # JAX's CPU devices have no collectives of their own across processes; gloo gives them some
        # (GPUs and TPUs use theirs, and ignore this setting).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            jax.distributed.initialize(
                coordinator_address=cluster.coordinator,
                num_processes=cluster.num_processes,
                process_id=cluster.process_id,
            )
        except (RuntimeError, ValueError) as err:
            where = f"coordinator {cluster.coordinator}" if cluster.coordinator else "the cluster's environment"
            raise ValueError(f"could not join the other processes through {where}: {err}") from None
    processes = Processes(index=jax.process_index(), count=jax.process_count())
    if cluster.num_processes is not None and processes.count != cluster.num_processes:
        raise ValueError(f"num_processes={cluster.num_processes}, but the run has {processes.count} processes")
    return processes


def _connect_tensorflow(cluster: ClusterConfig) -> Processes:
    from genre.train import tf_multi_worker

    if cluster.detect:
        raise ValueError("--detect-cluster is JAX's: on TensorFlow give the processes, or their list in TF_CONFIG")
    workers = cluster.worker_addresses()
    try:
        strategy = tf_multi_worker.join(workers, cluster.process_id)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"could not join the other processes at {', '.join(workers)}: {err}") from None
    return Processes(index=cluster.process_id, count=len(workers), strategy=strategy)


def any_process(flags: tuple[bool, ...], processes: Processes) -> tuple[bool, ...]:
    """Each flag as raised in any process of the run: the same answer in every one, so decisions that
    local events drive (a SIGTERM, a clock) are taken together. Every process must call it at the
    same point (it is a collective); with one process it only hands the flags back."""
    if processes.count == 1:
        return flags
    if processes.strategy is not None:
        from genre.train.tf_multi_worker import any_worker

        return any_worker(flags, processes.strategy)
    import numpy as np
    from jax.experimental import multihost_utils

    gathered = multihost_utils.process_allgather(np.asarray(flags, dtype=np.int32))  # (processes, flags)
    return tuple(bool(v) for v in np.asarray(gathered).reshape(processes.count, len(flags)).any(axis=0))


@dataclass(frozen=True)
class Placement:
    """The devices training runs on: `devices` in all, `local_devices` of them in this process."""

    devices: int
    local_devices: int


@contextlib.contextmanager
def distribution_scope(devices: int, processes: Processes = SINGLE_PROCESS):
    """Data parallelism over `devices` devices of each process for everything built and trained inside;
    yields the `Placement`.

    The one place that branches on the backend: `keras.distribution.DataParallel` on JAX (one or
    several hosts), `tf.distribute.MirroredStrategy` on TensorFlow (the multi-worker strategy
    `connect` made, on several hosts: one device a process). Accelerators are used when
    there are any, CPU devices otherwise (e.g. virtual ones, for tests). Each global batch is split
    across all the devices, so the batch size must be divisible by their number. On several
    processes each feeds its own part of every global batch (`DataModule` shards it), so Keras is
    told not to shard the data set itself.
    """
    import keras

    if processes.strategy is not None:
        if devices not in (1, -1):
            raise ValueError(f"devices={devices}: TensorFlow on several hosts trains on one device a process")
        with processes.strategy.scope():
            yield Placement(processes.count, 1)
        return
    if processes.count > 1:
        yield from _multi_process_scope(devices, processes)
        return
    if devices == 1:
        yield Placement(1, 1)
        return
    if keras.backend.backend() == "jax":
        available = keras.distribution.list_devices()
    elif keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        available = [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]
    else:
        raise ValueError(f"devices={devices} needs the jax or tensorflow backend, not {keras.backend.backend()!r}")
    count = len(available) if devices == -1 else devices
    if count > len(available):
        raise ValueError(f"devices={devices} but this machine has {len(available)}: {available}")
    if keras.backend.backend() == "jax":
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=available[:count]))
        try:
            yield Placement(count, count)
        finally:
            keras.distribution.set_distribution(previous)
    else:
        import tensorflow as tf

        with tf.distribute.MirroredStrategy(available[:count]).scope():
            yield Placement(count, count)


def _multi_process_scope(devices: int, processes: Processes):
    import jax
    import keras

    local = jax.local_devices()
    count = len(local) if devices == -1 else devices
    if count > len(local):
        raise ValueError(f"devices={devices} but process {processes.index} has {len(local)}: {local}")
    # The first `count` devices of every process, in JAX's global order (process by process), so
    # process p's rows of a global batch are the p-th block of it.
    chosen = [d for p in range(processes.count) for d in [d for d in jax.devices() if d.process_index == p][:count]]
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=chosen, auto_shard_dataset=False))
    try:
        yield Placement(len(chosen), count)
    finally:
        keras.distribution.set_distribution(previous)
