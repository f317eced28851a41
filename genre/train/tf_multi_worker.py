"""TensorFlow on several hosts: `tf.distribute.MultiWorkerMirroredStrategy`, with Keras's `fit` kept.

Keras 3.15's `fit` under the multi-worker strategy fails at its first step (keras-team/keras#20585):
its symbolic build pulls a distributed batch and reduces it over the workers, and its step
functions reduce the metrics of each replica with a reduction this strategy cannot do on scalars.
`prepare_fit` replaces just those parts of a compiled model: it builds the model from the batches'
shapes beforehand, and its train and test functions run Keras's own `train_step`/`test_step` under
`strategy.run` and then read the metrics in cross-replica context, which sums their variables over
every worker. The optimizer all-reduces the gradients itself (Keras's TensorFlow optimizer). The rest
of `fit` (callbacks, logs, checkpoints, early stopping, validation) runs unchanged.

Each worker trains on one device and feeds its own block of every global batch, as on JAX; its data
sets go to the strategy as they are (`distribute_datasets_from_function`), never re-sharded or
re-batched by it. Validation: every worker feeds the whole set, so the summed metrics are its means.
"""

from __future__ import annotations

import functools
from collections.abc import Callable


@functools.cache  # one a process: TensorFlow configures its collectives once, before they first run
def join(workers: tuple[str, ...], index: int):
    """The strategy over `workers` (HOST:PORT each, in process order), as worker `index`."""
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec({"worker": list(workers)}), task_type="worker", task_id=index, rpc_layer="grpc"
    )
    strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    local = strategy.extended.worker_devices
    if len(local) != 1:
        raise ValueError(
            f"TensorFlow on several hosts trains on one device a process; process {index} has {len(local)}: "
            f"{list(local)} (limit them with CUDA_VISIBLE_DEVICES, or use KERAS_BACKEND=jax)"
        )
    return strategy


def any_worker(flags: tuple[bool, ...], strategy) -> tuple[bool, ...]:
    """Each flag as raised in any worker (a collective: every worker calls it at the same point)."""
    import tensorflow as tf

    local = tf.constant([int(f) for f in flags], dtype=tf.int32)
    summed = strategy.reduce("SUM", strategy.experimental_distribute_values_from_function(lambda _: local), None)
    return tuple(bool(v) for v in summed.numpy())


def prepare_fit(model, strategy, batch_spec) -> Callable:
    """Makes a compiled `model` train and evaluate under `strategy` through Keras's `fit`; returns
    what turns a `tf.data` set of this worker's batches into the input `fit` then takes. `batch_spec`:
    the element spec of the training batches. Call it inside `strategy.scope()`."""
    model._symbolic_build(data_batch=batch_spec)
    # Keras's own build pulls a batch and reduces it over the workers, which fails; the model is built.
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    train, test = _function(model, strategy, model.train_step), _function(model, strategy, model.test_step)
    model.make_train_function = lambda force=False: setattr(model, "train_function", train)
    model.make_test_function = lambda force=False: setattr(model, "test_function", test)
    return lambda dataset: strategy.distribute_datasets_from_function(lambda context: dataset)


def _function(model, strategy, step: Callable) -> Callable:
    import tensorflow as tf

    @tf.function
    def run_step(iterator):
        strategy.run(step, args=(next(iterator),))

    def function(iterator):
        run_step(iterator)
        return model.get_metrics_result()  # in cross-replica context: summed over every worker

    return function
