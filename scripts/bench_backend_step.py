"""Benchmark each net's training step under each Keras backend: steps/s after compilation, and the compile time.

The nets are built at the demo's settings (`genre.demo.DEMO_NETS`) for the demo's input shapes
(`DEMO_RAW` windows, `DEMO_MEL` images, musicnn's 187 x 96 patches), 8 classes (fma_small's genres),
and compiled as the trainer compiles them (`ClassificationTask`: its optimizer, loss and metric). They
are fed synthetic inputs of the right shapes and value ranges held in memory, through `model.fit`, so
the figures are the step alone, without the data pipeline (`bench_train.py` measures that). The nets
whose pretrained base the demo freezes are built frozen on random weights: the step costs the same.

Each backend runs in its own subprocess (Keras picks its backend at import). Per net, the first
batch (compilation plus one step) is timed, then `--epochs` epochs of `--steps` batches; the median
epoch's steps/s is that run's. The backends (and with `--compare`, the two source trees) alternate
`--rounds` times and medians over rounds are shown, with the range, since this machine's speed
drifts from one minute to the next. "compile" is the first batch's time less one steady step.

    python scripts/bench_backend_step.py [--nets conv1d,melcnn,mobilenet,musicnn] [--backends tensorflow,jax]
                                         [--steps 6] [--epochs 3] [--rounds 3] [--compare /work/main]

`--compare PATH` also times the nets as another checkout of genre builds them (its `genre` package
first on the worker's path), alternating with this one's: a before/after table from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_train import make_timer  # scripts/ is on the path of a script run from it

NUM_CLASSES = 8
# Bench name -> (registered model, settings on top of the demo's). Random weights: no weight files needed.
NETS = {
    "conv1d": ("conv1d", {}),
    "melcnn": ("melcnn", {}),
    # The demo without MobileNetV2's ImageNet base cached: the whole net trains from scratch.
    "mobilenet": ("mobilenet", {"weights": "none"}),
    # The demo with it cached: the base is frozen, only the head trains.
    "mobilenet_frozen": ("mobilenet", {"weights": "none", "freeze_base": "true"}),
    # The demo's musicnn: its pretrained base frozen, a new head.
    "musicnn": ("musicnn", {"weights": "none", "freeze_base": "true"}),
}
VALUE_RANGE = {"raw": (-1.0, 1.0), "mel": (0.0, 1.0), "musicnn": (0.0, 6.0)}


def demo_input_shape(feature_kind: str) -> tuple[int, ...]:
    from genre.demo import DEMO_MEL, DEMO_RAW
    from genre.models.musicnn import N_MELS, PATCH_FRAMES

    return {
        "raw": (DEMO_RAW.window_length, 1),
        "mel": (DEMO_MEL.n_mels, DEMO_MEL.frames, 1),
        "musicnn": (PATCH_FRAMES, N_MELS),
    }[feature_kind]


def time_net(bench_name: str, args) -> dict:
    import keras
    import numpy as np

    from genre.demo import DEMO_NETS
    from genre.models import get_model
    from genre.train.config import apply_overrides
    from genre.train.fit import default_config
    from genre.train.task import ClassificationTask

    model_name, extra = NETS[bench_name]
    config = apply_overrides(default_config(model_name), {**DEMO_NETS["*"], **DEMO_NETS[model_name], **extra})
    spec = get_model(model_name)
    shape = demo_input_shape(spec.feature_kind)
    batch = config.data.batch_size
    keras.utils.set_random_seed(0)
    task = ClassificationTask(spec, config.model_config, config.optim, shape, NUM_CLASSES)
    model = task.build_model()
    task.compile(model, total_steps=args.steps * (args.epochs + 1))

    low, high = VALUE_RANGE[spec.feature_kind]
    rng = np.random.default_rng(0)
    x = rng.uniform(low, high, size=(args.steps * batch, *shape)).astype("float32")
    y = (np.arange(len(x)) % NUM_CLASSES).astype("int32")
    timer = make_timer()
    # The first epoch compiles; the later ones are the steady state.
    model.fit(x, y, batch_size=batch, epochs=args.epochs + 1, shuffle=False, verbose=0, callbacks=[timer])
    rates = [n / s for s, n in timer.epochs[1:]]
    rate = statistics.median(rates)
    return {
        "net": bench_name,
        "backend": keras.backend.backend(),
        "steps_per_s": rate,
        "compile_s": timer.first - 1 / rate,
        "batch_size": batch,
        "input_shape": list(shape),
        "params": model.count_params(),
    }


def worker(args) -> None:
    """Runs in a subprocess with KERAS_BACKEND set; prints one JSON line per net."""
    import genre

    for name in args.nets.split(","):
        record = time_net(name, args)
        record["source"] = str(Path(genre.__file__).resolve().parents[1])
        print(json.dumps(record), flush=True)


def run_worker(backend: str, source: Path | None, args) -> list[dict]:
    command = [sys.executable, __file__, "--worker", "--nets", args.nets]
    command += ["--steps", str(args.steps), "--epochs", str(args.epochs)]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(source), env.get("PYTHONPATH")]))
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the {backend} worker failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nets", default="conv1d,melcnn,mobilenet,musicnn", help=f"any of {','.join(NETS)}")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--steps", type=int, default=6, help="batches per timed epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the first (which compiles)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of every backend; medians shown")
    parser.add_argument("--compare", type=Path, help="another checkout of genre, timed alternately with this one")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = sorted(set(args.nets.split(",")) - set(NETS))
    if unknown:
        parser.error(f"unknown nets {unknown}; valid nets are {list(NETS)}")
    if args.worker:
        return worker(args)

    sources: list[Path | None] = [None] if args.compare is None else [args.compare.resolve(), None]
    records: list[dict] = []
    for round_ in range(args.rounds):
        for source in sources:
            for backend in args.backends.split(","):
                started = time.monotonic()
                records += [{**r, "round": round_} for r in run_worker(backend, source, args)]
                print(
                    f"round {round_ + 1}/{args.rounds}, {backend}, {source or 'this tree'}: "
                    f"{time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    print_table(records, args)


def print_table(records: list[dict], args) -> None:
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["net"], r["source"], r["backend"]), []).append(r)
    median = {key: statistics.median(r["steps_per_s"] for r in rs) for key, rs in groups.items()}
    print(
        f"\nsteps/s: median over {args.rounds} rounds of each run's median epoch ({args.epochs} epochs of "
        f"{args.steps} batches after the first); range over rounds in brackets; {os.cpu_count()} cores\n"
    )
    print("| net | source | backend | batch | steps/s | range | compile s | JAX/TF steps/s |")
    print("| --- | --- | --- | ---: | ---: | --- | ---: | ---: |")
    for (net, source, backend), rs in groups.items():
        rates = [r["steps_per_s"] for r in rs]
        compile_s = statistics.median(r["compile_s"] for r in rs)
        tf = median.get((net, source, "tensorflow"))
        ratio = f"{median[(net, source, backend)] / tf:.2f}" if backend == "jax" and tf else ""
        print(
            f"| {net} | {source} | {backend} | {rs[0]['batch_size']} | {median[(net, source, backend)]:.3f} "
            f"| {min(rates):.3f}-{max(rates):.3f} | {compile_s:.1f} | {ratio} |"
        )


if __name__ == "__main__":
    main()
