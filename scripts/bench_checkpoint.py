"""Benchmark the cost of saving the resume state inside epochs: `checkpoint_every_n_steps` None, 100, 10.

For each backend (one subprocess each, since Keras picks its backend at import), the Trainer trains
the study's conv1d on a generated set of short clips once per setting, in one run, and steps/s are
measured over the training batches of the epochs after the first (which compiles), saves included,
validation excluded. Also shown: the resume state's size on disk and, for comparison, what a
checkpoint of the tf.data iterator itself (`tf.train.Checkpoint(iterator=...)`, the alternative to
the (epoch, step) position) would hold at the same point.

    python scripts/bench_checkpoint.py [--backends tensorflow,jax] [--epochs 4] [--batch-size 8]
                                       [--tracks-per-genre 16] [--every 100,10] [--set filters=32,16 ...]

The default net is a small conv1d (filters 32,16, dense 32); `--set filters=128,64 --set dense_units=100`
gives the study's.
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


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def make_data(work: Path, tracks_per_genre: int) -> Path:
    """3 s clips at 22.05 kHz, three raw windows of 2000 samples a clip (the tests' sizes, more clips)."""
    from genre.data.audio import AudioConfig
    from genre.data.features import FeatureConfig, RawConfig
    from genre.data.fma import load_fma_catalog
    from genre.data.prepare import PrepareConfig, prepare
    from genre.synth.dataset import SynthConfig, write_synthetic_fma

    data = work / f"data-{tracks_per_genre}"
    if (data / "manifest.json").is_file():
        return data
    fma = work / f"fma-{tracks_per_genre}"
    synth = SynthConfig(tracks_per_genre=tracks_per_genre, seed=7, seconds=3.0, sample_rate=22050, channels=1)
    write_synthetic_fma(fma, synth)
    features = FeatureConfig(
        audio=AudioConfig(duration=3.0, pad_tolerance=0.5), raw=RawConfig(window_length=2000, windows=3)
    )
    prepare(load_fma_catalog(fma), data, PrepareConfig(features=features, progress=False))
    return data


def worker(args) -> None:
    """Runs with KERAS_BACKEND set; prints one JSON line per setting, then one for the iterator's checkpoint."""
    import keras

    from genre.models import get_model
    from genre.run_dir import RunDir
    from genre.train.config import apply_overrides
    from genre.train.data_module import DataModule
    from genre.train.fit import default_config
    from genre.train.task import ClassificationTask
    from genre.train.trainer import Trainer

    class Timer(keras.callbacks.Callback):
        """Training batches per epoch, first batch's start to last batch's end (the saves between them count)."""

        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._batches = None, 0

        def on_train_batch_begin(self, batch, logs=None):
            self._start = self._start or time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self._batches += 1
            self._end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append((self._end - self._start, self._batches))

    import genre.train.trainer as trainer_module

    saves: list[float] = []
    save = trainer_module.save_resume_state

    def timed_save(*a, inside_epoch=False, **kw):
        start = time.perf_counter()
        save(*a, inside_epoch=inside_epoch, **kw)
        if inside_epoch:
            saves.append(time.perf_counter() - start)

    trainer_module.save_resume_state = timed_save  # the Trainer's name for it: every save is timed

    for every in [None, *args.every]:
        saves.clear()
        settings = {
            "data": str(args.data),
            "max_epochs": str(args.epochs),
            "batch_size": str(args.batch_size),
            "progress": "false",
            "tensorboard": "false",
            "early_stopping_patience": "none",
            "checkpoint_every_n_steps": str(every),
            **dict(item.split("=", 1) for item in args.set),
        }
        config = apply_overrides(default_config("conv1d"), settings)
        spec = get_model("conv1d")
        data = DataModule.from_config(config.data, spec.feature_kind, spec.window_mode, config.trainer.seed)
        task = ClassificationTask(spec, config.model_config, config.optim, data.input_shape, len(data.genres))
        timer = Timer()
        with tempfile.TemporaryDirectory() as folder:
            run = RunDir(Path(folder))
            model, _ = Trainer(config.trainer, [timer]).fit(task, data, run, run_config=config.to_dict())
            # A state saved between steps is variables.npz and state.json (model.keras is a hard link).
            state = sum((run.last() / name).stat().st_size for name in ("variables.npz", "state.json"))
        seconds = sum(s for s, _ in timer.epochs[1:])
        steps = sum(n for _, n in timer.epochs[1:])
        record = {
            "backend": keras.backend.backend(),
            "every": every,
            "steps_per_epoch": timer.epochs[0][1],
            "steps": steps,
            "steps_per_second": steps / seconds,
            "state_bytes": state,
            "parameters": model.count_params(),
            "saves": len(saves),
            "seconds_per_save": sum(saves) / len(saves) if saves else None,
        }
        print(json.dumps(record), flush=True)

    # The alternative position: the tf.data iterator's own checkpoint, halfway through an epoch.
    import tensorflow as tf

    legs, steps = data.train_epochs(0, 1, exact_batches=True)
    iterator = iter(legs[0].batches)
    for _ in range(steps // 2):
        next(iterator)
    with tempfile.TemporaryDirectory() as folder:
        tf.train.Checkpoint(iterator=iterator).write(os.path.join(folder, "iterator"))
        stored = sum((args.data / e["file"]).stat().st_size for e in data.manifest.shards["train"]["raw"])
        print(json.dumps({"iterator_checkpoint_bytes": folder_bytes(Path(folder)), "train_shards": stored}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--tracks-per-genre", type=int, default=16)
    parser.add_argument("--every", default="100,10", help="the checkpoint_every_n_steps values besides none")
    parser.add_argument("--set", action="append", default=None, metavar="KEY=VALUE", help="a net setting")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genre-bench-checkpoint")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.every = [int(v) for v in str(args.every).split(",") if v]
    args.set = args.set or ["filters=32,16", "dense_units=32"]
    if args.worker:
        return worker(args)

    args.work.mkdir(parents=True, exist_ok=True)
    data = make_data(args.work, args.tracks_per_genre)
    rows, iterator = [], {}
    for backend in args.backends.split(","):
        command = [sys.executable, __file__, "--worker", "--data", str(data), "--epochs", str(args.epochs)]
        command += ["--batch-size", str(args.batch_size), "--every", ",".join(map(str, args.every))]
        command += [a for item in args.set for a in ("--set", item)]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                (iterator.update(record) if "iterator_checkpoint_bytes" in record else rows.append(record))

    first = rows[0]
    print(
        f"conv1d {' '.join(args.set)} ({first['parameters']} parameters), batch {args.batch_size}, "
        f"{first['steps_per_epoch']} steps an epoch; steady-state epochs 2..{args.epochs}; one run each; "
        f"{os.cpu_count()} cores\n"
    )
    print("| backend | checkpoint_every_n_steps | steps/s | against none | saves (all epochs) | s a save | state |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        none = next(x for x in rows if x["backend"] == r["backend"] and x["every"] is None)
        ratio = r["steps_per_second"] / none["steps_per_second"]
        size = f"{r['state_bytes'] / 1e6:.1f} MB"
        per_save = f"{r['seconds_per_save']:.3f}" if r["seconds_per_save"] is not None else "-"
        cells = f"{r['steps_per_second']:.1f} | {ratio:.3f} | {r['saves']} | {per_save} | {size}"
        print(f"| {r['backend']} | {r['every']} | {cells} |")
    if iterator:
        size = iterator["iterator_checkpoint_bytes"] / 1e6
        stored = iterator["train_shards"] / 1e6
        print(f"\ntf.data iterator checkpoint halfway through an epoch: {size:.1f} MB (train shards: {stored:.1f} MB)")


if __name__ == "__main__":
    main()
