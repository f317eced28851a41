"""Benchmark training throughput: the Trainer on the TFRecord pipeline against bare `model.fit` in memory.

For each model and each backend, in one run (one subprocess per backend, since Keras picks its
backend at import): (a) `genre.train.Trainer.fit` reading the prepared shards through
`genre.data.make_epochs`, with its callbacks (checkpoints, logs, resume state); (b) a bare
`model.fit` of the same model on the same training examples held in memory as NumPy arrays.
Steps/s and examples/s are measured over training batches of the epochs after the first (which
compiles), validation excluded; (a) and (b) alternate `--repeats` times and medians are shown. The
ratio (a)/(b) is the Trainer's overhead plus the pipeline's.

    python scripts/bench_train.py [--models conv1d,melcnn,mobilenet] [--backends tensorflow,jax]
                                  [--epochs 3] [--repeats 3] [--clips-per-genre 16] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL_SETTINGS = {"mobilenet": {"weights": "none"}}  # no ImageNet file here; the cost is the same


def make_timer():
    """A callback timing training batches per epoch, from the first batch's start to the last's end:
    `epochs` holds each epoch's (seconds, batches), `first` the run's first batch alone (compilation)."""
    import keras

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.first: float | None = None
            self.epochs: list[tuple[float, int]] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._batches = None, 0

        def on_train_batch_begin(self, batch, logs=None):
            if self._start is None:
                self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            # Keras turns the logs into numbers for batch hooks, so the step has finished here.
            self._batches += 1
            self._end = time.perf_counter()
            if self.first is None:
                self.first = self._end - self._start

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((self._end - self._start, self._batches))

    return Timer()


def steady_rate(timer, batch_size: int) -> tuple[float, float]:
    seconds = sum(s for s, _ in timer.epochs[1:])
    steps = sum(n for _, n in timer.epochs[1:])
    return steps / seconds, steps * batch_size / seconds


def through_trainer(task, data, config, args) -> tuple[float, float]:
    from genre.train.trainer import Trainer

    timer = make_timer()
    with tempfile.TemporaryDirectory() as run:
        Trainer(config.trainer, [timer]).fit(task, data, Path(run), run_config=config.to_dict())
    return steady_rate(timer, args.batch_size)


def bare_fit(task, x, y, args) -> tuple[float, float]:
    import keras

    keras.utils.set_random_seed(0)
    model = task.build_model()
    task.compile(model, total_steps=1)
    timer = make_timer()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, shuffle=True, verbose=0, callbacks=[timer])
    return steady_rate(timer, args.batch_size)


def worker(args) -> None:
    """Runs in a subprocess with KERAS_BACKEND set; prints one JSON line per model."""
    import keras
    import numpy as np

    from genre.data import load_arrays
    from genre.models import get_model
    from genre.train.config import apply_overrides
    from genre.train.data_module import DataModule
    from genre.train.fit import default_config
    from genre.train.task import ClassificationTask

    for name in args.models.split(","):
        settings = {
            "data": str(args.data),
            "max_epochs": str(args.epochs),
            "batch_size": str(args.batch_size),
            "progress": "false",
            "early_stopping_patience": "none",
            "limit_val_batches": "1",
            **MODEL_SETTINGS.get(name, {}),
        }
        config = apply_overrides(default_config(name), settings)
        spec = get_model(name)
        data = DataModule.from_config(config.data, spec.feature_kind, spec.window_mode, config.trainer.seed)
        task = ClassificationTask(spec, config.model_config, config.optim, data.input_shape, len(data.genres))

        x, y, _ = load_arrays(args.data, "train", spec.feature_kind)
        if spec.feature_kind == "raw":  # every window an example, as the Trainer's data module feeds them
            y = np.repeat(y, x.shape[1])
            x = x.reshape(-1, *x.shape[2:])

        # (a) and (b) alternate and the medians are kept: this machine's speed drifts by about 10%
        # from one minute to the next, more than the difference being measured.
        runs = [(through_trainer(task, data, config, args), bare_fit(task, x, y, args)) for _ in range(args.repeats)]
        record = {
            "model": name,
            "backend": keras.backend.backend(),
            "trainer": [float(np.median([a[i] for a, _ in runs])) for i in (0, 1)],
            "bare": [float(np.median([b[i] for _, b in runs])) for i in (0, 1)],
            "ratios": [a[1] / b[1] for a, b in runs],
        }
        print(json.dumps(record), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="conv1d,melcnn,mobilenet")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--clips-per-genre", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of (a) and (b); medians shown")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genre-bench")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    from _bench_data import synthetic_prepared

    data = synthetic_prepared(args.work, args.clips_per_genre)
    rows = []
    for backend in args.backends.split(","):
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--data",
            str(data),
            "--models",
            args.models,
            "--epochs",
            str(args.epochs),
            "--batch-size",
            str(args.batch_size),
            "--repeats",
            str(args.repeats),
        ]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]

    print(
        f"batch {args.batch_size}; steady-state epochs 2..{args.epochs}; medians of {args.repeats} alternating "
        f"runs; {os.cpu_count()} cores\n"
    )
    print(
        "| model | backend | Trainer + TFRecords, steps/s | examples/s | bare fit in memory, steps/s | examples/s "
        "| (a)/(b) | (a)/(b) per repeat |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        (ts, te), (bs, be) = r["trainer"], r["bare"]
        each = ", ".join(f"{q:.3f}" for q in r["ratios"])
        print(f"| {r['model']} | {r['backend']} | {ts:.2f} | {te:.1f} | {bs:.2f} | {be:.1f} | {te / be:.3f} | {each} |")


if __name__ == "__main__":
    main()
