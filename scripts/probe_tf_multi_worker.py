"""Does a Keras 3 model train on TensorFlow's MultiWorkerMirroredStrategy, 2 processes on 127.0.0.1?

Trains a small net on a fixed random set three ways and prints each process's epoch metrics: 1
process (`--replicas N`: over N virtual CPU devices) with the whole global batch, then 2 worker
processes (TF_CONFIG, free ports) that each feed their own block of every global batch.
`--step custom`: a step of ours under `strategy.run` (GradientTape, the Keras optimizer, Keras
metrics read after). `--step fit`: Keras's `fit` on a model prepared by
`genre.train.tf_multi_worker.prepare_fit`, with validation. Exits 1 when a worker's losses differ
from the 1-process ones by more than --rtol. With --dropout, the workers match `--replicas 2` (each
replica draws the masks of its own rows), not one device.

    KERAS_BACKEND=tensorflow python scripts/probe_tf_multi_worker.py --step fit --dropout 0.5 --replicas 2
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys

GLOBAL_BATCH, STEPS, EPOCHS, FEATURES, CLASSES = 8, 8, 3, 16, 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(index: int, count: int):
    """This worker's rows: its block of every global batch, in order."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH * STEPS, FEATURES)).astype("float32")
    y = rng.integers(0, CLASSES, size=GLOBAL_BATCH * STEPS).astype("int32")
    part = GLOBAL_BATCH // count
    rows = np.concatenate([k * GLOBAL_BATCH + index * part + np.arange(part) for k in range(STEPS)])
    return x[rows], y[rows]


def _model(dropout: float):
    import keras

    keras.utils.set_random_seed(1)
    layers = [keras.Input((FEATURES,)), keras.layers.Dense(32, activation="relu")]
    if dropout:
        layers.append(keras.layers.Dropout(dropout, seed=3))
    layers.append(keras.layers.Dense(CLASSES, activation="softmax"))
    return keras.Sequential(layers)


def worker(args) -> None:
    import keras
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    multi = "TF_CONFIG" in os.environ
    if multi:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif args.replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.replicas)
        strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    else:
        strategy = tf.distribute.get_strategy()
    index = strategy.cluster_resolver.task_id if multi else 0
    count = 2 if multi else 1
    x, y = _data(index, count)

    def dataset_fn(context):
        # Per-replica batches, dealt to this process's replicas in turn: one a worker here, or the
        # reference's replicas taking their blocks of each global batch in order.
        rows = tf.data.Dataset.from_tensor_slices((x, y)).repeat(EPOCHS)
        return rows.batch(context.get_per_replica_batch_size(GLOBAL_BATCH))

    dataset = strategy.distribute_datasets_from_function(dataset_fn)
    with strategy.scope():
        model = _model(args.dropout)
        optimizer = keras.optimizers.Adam(0.01)
    step = _custom if args.step == "custom" else _fit
    losses = step(model, optimizer, strategy, dataset)
    print("RESULT " + json.dumps({"index": index, "losses": losses}), flush=True)


def _custom(model, optimizer, strategy, dataset) -> list:
    import keras
    import tensorflow as tf

    with strategy.scope():
        loss_mean = keras.metrics.Mean()
        accuracy = keras.metrics.SparseCategoricalAccuracy()

    def replica_step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            per_example = keras.losses.sparse_categorical_crossentropy(y, pred)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        loss_mean.update_state(per_example)
        accuracy.update_state(y, pred)

    @tf.function
    def train_step(iterator):
        strategy.run(replica_step, args=next(iterator))

    losses = []
    for _ in range(EPOCHS):
        loss_mean.reset_state()
        accuracy.reset_state()
        iterator = iter(dataset)
        for _ in range(STEPS):
            train_step(iterator)
        losses.append([float(loss_mean.result()), float(accuracy.result())])
    return losses


def _fit(model, optimizer, strategy, dataset) -> list:
    import tensorflow as tf

    from genre.train.tf_multi_worker import prepare_fit

    with strategy.scope():
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        spec = (tf.TensorSpec((None, FEATURES)), tf.TensorSpec((None,), tf.int32))
        prepare_fit(model, strategy, spec)
    # Every worker evaluates the whole validation set (summed over workers, its means stay the same).
    whole = tf.data.Dataset.from_tensor_slices(_data(0, 1)).batch(GLOBAL_BATCH)
    validation = strategy.distribute_datasets_from_function(lambda context: whole)
    history = model.fit(
        dataset, validation_data=validation, epochs=EPOCHS, steps_per_epoch=STEPS, shuffle=False, verbose=0
    )
    h = history.history
    return [list(row) for row in zip(h["loss"], h["accuracy"], h["val_loss"], h["val_accuracy"], strict=True)]


def launch(args) -> int:
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"} | {"KERAS_BACKEND": "tensorflow"}
    me = [sys.executable, __file__, "--step", args.step, "--dropout", str(args.dropout), "--as-worker"]

    def results(processes):
        out = []
        for p in processes:
            stdout, stderr = p.communicate(timeout=300)
            lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
            if p.returncode or not lines:
                print(f"process failed (rc {p.returncode}):\n{stderr[-4000:]}")
                return None
            out.append(json.loads(lines[-1][7:]))
        return out

    def start(command, environ):
        return subprocess.Popen(command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    one = results([start([*me, "--replicas", str(args.replicas)], env)])
    workers = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
    specs = [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}}) for i in range(2)]
    two = results([start(me, env | {"TF_CONFIG": spec}) for spec in specs])
    if one is None or two is None:
        return 1
    print("1 process: ", one[0]["losses"])
    for r in two:
        print(f"worker {r['index']}: ", r["losses"])
    worst = max(abs(b[0] - a[0]) / abs(a[0]) for r in two for a, b in zip(one[0]["losses"], r["losses"], strict=True))
    print(f"largest relative loss difference: {worst:.2e} (allowed {args.rtol:.0e})")
    return 0 if worst <= args.rtol else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", choices=["custom", "fit"], default="fit")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--replicas", type=int, default=1, help="replicas of the 1-process reference")
    parser.add_argument("--rtol", type=float, default=1e-5)
    parser.add_argument("--as-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.as_worker:
        worker(args)
        return 0
    return launch(args)


if __name__ == "__main__":
    sys.exit(main())
