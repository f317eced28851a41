"""Benchmark one run on 2 processes against 1 process, each process pinned to one core of this machine.

The study's conv1d on generated clips (raw windows), the same global batch in both: one `genre fit`-like
run in 1 process (core 0), then one in 2 processes joined over 127.0.0.1 (JAX's gloo collectives, or
TensorFlow's multi-worker strategy; cores 0 and 1), each process calling `train_and_evaluate` as
`genre fit` does. Steps/s are measured over the
training batches of the epochs after the first (which compiles), validation excluded; one run each.
With the global batch fixed, each of 2 processes computes half of every step and adds an all-reduce
of the gradients, so the ratio is the speed-up (or the cost) of spreading one run over two hosts.

    KERAS_BACKEND=jax|tensorflow python scripts/bench_hosts.py [--clips-per-genre 16] [--epochs 4] [--batch-size 32]
                                                    [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_train import make_timer  # scripts/ is on the path of a script run from it


def prepared_data(work: Path, clips_per_genre: int) -> Path:
    """Generated 10 s mono clips with the default raw windows (8 of 10000 samples), made once per size."""
    from genre.data.audio import AudioConfig
    from genre.data.features import FeatureConfig
    from genre.data.fma import load_fma_catalog
    from genre.data.prepare import PrepareConfig, prepare
    from genre.synth.dataset import SynthConfig, write_synthetic_fma

    data = work / f"data-hosts-{clips_per_genre}"
    if not (data / "manifest.json").is_file():
        fma = work / f"fma-hosts-{clips_per_genre}"
        synth = SynthConfig(
            tracks_per_genre=clips_per_genre, seed=0, seconds=10.0, sample_rate=22050, channels=1, progress=False
        )
        write_synthetic_fma(fma, synth)
        features = FeatureConfig(kinds=("raw",), audio=AudioConfig(duration=10.0))
        prepare(load_fma_catalog(fma), data, PrepareConfig(features=features, progress=False))
    return data


def worker(args) -> None:
    """One process of a run: pinned to its core, then trained as `genre fit` trains."""
    os.sched_setaffinity(0, {args.core})
    from genre.train.config import apply_overrides
    from genre.train.distributed import ClusterConfig
    from genre.train.fit import default_config, train_and_evaluate

    settings = {
        "data": str(args.data),
        "batch_size": args.batch_size,
        "max_epochs": args.epochs,
        "early_stopping_patience": "none",
        "progress": "false",
        "tensorboard": "false",
    }
    config = apply_overrides(default_config("conv1d"), {k: str(v) for k, v in settings.items()})
    workers = tuple(args.workers.split(",")) if args.workers else None
    cluster = (
        ClusterConfig(args.coordinator, args.processes, args.index, workers=workers) if args.processes > 1 else None
    )
    timer = make_timer()
    train_and_evaluate(config, args.run, callbacks=[timer], cluster=cluster, evaluate_test=False)
    seconds = sum(s for s, _ in timer.epochs[1:])
    steps = sum(n for _, n in timer.epochs[1:])
    if args.index == 0:
        args.out.write_text(json.dumps({"steps": steps, "seconds": seconds, "steps_per_s": steps / seconds}))


def one_run(processes: int, data: Path, work: Path, args) -> dict:
    with socket.socket() as a, socket.socket() as b:  # JAX's coordinator; TensorFlow's two workers
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        coordinator, second = (f"127.0.0.1:{s.getsockname()[1]}" for s in (a, b))
    out, run = work / f"hosts-{processes}.json", work / f"run-{processes}-{time.time_ns()}"
    common = ["--data", str(data), "--run", str(run), "--out", str(out), "--coordinator", coordinator]
    common += ["--workers", f"{coordinator},{second}"]
    common += ["--processes", str(processes), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size)]
    started = [
        subprocess.Popen([sys.executable, __file__, "--worker", *common, "--index", str(i), "--core", str(i)])
        for i in range(processes)
    ]
    if any(p.wait() for p in started):
        raise SystemExit(f"a process of the {processes}-process run failed")
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-genre", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    for name, kind in (("data", Path), ("run", Path), ("out", Path), ("coordinator", str), ("workers", str)):
        parser.add_argument(f"--{name}", type=kind, help=argparse.SUPPRESS)
    for name in ("processes", "index", "core"):
        parser.add_argument(f"--{name}", type=int, default=0 if name != "processes" else 1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("needs 2 cores to pin 2 processes to")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-hosts-"))
    data = prepared_data(work, args.clips_per_genre)
    results = {n: one_run(n, data, work, args) for n in (1, 2)}
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    steps = results[1]["steps"]
    print(f"conv1d on {backend}, global batch {args.batch_size}, {steps} timed steps per run, one core per process")
    print("| processes | steps/s | examples/s |")
    print("| --- | --- | --- |")
    for n, r in results.items():
        print(f"| {n} | {r['steps_per_s']:.2f} | {r['steps_per_s'] * args.batch_size:.0f} |")
    print(f"2 processes / 1 process: {results[2]['steps_per_s'] / results[1]['steps_per_s']:.2f}x")


if __name__ == "__main__":
    main()
