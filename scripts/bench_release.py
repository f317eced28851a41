"""What `Estimator.release` saves: resident memory of one process fitting net after net, with and without it.

A study, the folds of a cross-validation and a tuning study all fit model after model in one process;
`release` (Keras's `clear_session` and a garbage collection) runs after each. This script fits the
same sequence of nets twice, each time in a fresh process: once releasing after every fit, once not
(the call replaced by nothing). It prints the resident memory after each fit and the process's peak.

    python scripts/bench_release.py --data DATA [--models melcnn,melcnn,melcnn,conv1d,mobilenet] [--epochs 1]

DATA is a prepared data set holding the nets' features (`genre demo` leaves one in genre-demo/data).
The backend is KERAS_BACKEND's; run it once per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fit_sequence(data: Path, models: list[str], epochs: int, release: bool, work: Path) -> dict:
    """Runs in the child process: fits each model in turn, like a study does."""
    from genre.estimators import NetEstimator
    from genre.train.config import apply_overrides

    estimator = NetEstimator()
    after = []
    for i, name in enumerate(models):
        config = apply_overrides(
            estimator.default_config(name), {"data": str(data), "max_epochs": epochs, "progress": False}
        )
        estimator.fit(config, work / f"{i}-{name}", evaluate_test=False)
        if release:
            estimator.release()
        after.append(round(resident_mb()))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"release": release, "after_each_mb": after, "peak_mb": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", default="melcnn,melcnn,melcnn,conv1d,mobilenet")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--child", choices=["release", "keep"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    models = args.models.split(",")
    if args.child:
        with tempfile.TemporaryDirectory() as tmp:
            result = fit_sequence(args.data, models, args.epochs, args.child == "release", Path(tmp))
        print("RESULT " + json.dumps(result))
        return

    import keras

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, backend {keras.backend.backend()}")
    print(f"nets fitted in turn, {args.epochs} epoch(s) each: {', '.join(models)}")
    for mode in ("keep", "release"):  # each in a fresh process, so neither inherits the other's memory
        child = ["--data", str(args.data), "--models", args.models, "--epochs", str(args.epochs), "--child", mode]
        out = subprocess.run(
            [sys.executable, __file__, *child],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
        label = "release after each fit" if result["release"] else "no release"
        after = " ".join(f"{mb}" for mb in result["after_each_mb"])
        print(f"{label:>24}: resident MB after each fit {after}; peak {result['peak_mb']} MB")


if __name__ == "__main__":
    main()
