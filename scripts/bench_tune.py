"""Benchmark tuning throughput: trials per hour for one model, with and without pruning, and one
worker against two on PostgreSQL, in one run.

Each row is a fresh study of `--trials` trials run by `genre tune` worker processes (the command a
user runs, process start included), on the generated FMA-like set (30 s clips; `--clips-per-genre`).
Rows: SQLite with no pruner, SQLite with the median pruner, PostgreSQL with one worker, PostgreSQL with
two workers (two processes, one study). Trials per hour = finished trials / wall time of the study.
On a machine with fewer cores than workers x the backend's threads, two workers share the cores.

    python scripts/bench_tune.py --postgres postgresql://USER@HOST:PORT/DB [--model conv1d] [--trials 8]
                                 [--max-epochs 4] [--clips-per-genre 16] [--prune-startup-trials 2]
                                 [--set key=value ...] [--work /tmp/genre-bench]

Without --postgres the PostgreSQL rows are left out, saying so. Each PostgreSQL study gets its own
database (created and dropped here), so the server URL needs the right to create databases.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _bench_data import synthetic_prepared


def run_study(args, data: Path, study_dir: Path, *, pruner: str, workers: int, storage: str | None) -> dict:
    command = [sys.executable, "-m", "genre", "tune", "--model", args.model, "--data", str(data)]
    command += ["--trials", str(args.trials), "--run-dir", str(study_dir), "--pruner", pruner, "--no-figures"]
    command += ["--prune-startup-trials", str(args.prune_startup_trials)]
    settings = [f"max_epochs={args.max_epochs}", "progress=false", "tensorboard=false", *args.set]
    command += [a for setting in settings for a in ("--set", setting)]
    if storage:
        command += ["--storage", storage]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(workers)
    ]
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed ({process.returncode}):\n{err[-3000:]}")
    wall = time.perf_counter() - started
    result = json.loads((study_dir / "study.json").read_text())
    epochs = []
    for trial in (study_dir / "trials").iterdir():
        metrics = trial / "metrics.json"
        if metrics.is_file():
            epochs.append(json.loads(metrics.read_text())["epochs"])
    finished = result["counts"]["complete"] + result["counts"]["pruned"]
    return {
        "wall_s": wall,
        "finished": finished,
        "pruned": result["counts"]["pruned"],
        "epochs_per_trial": sum(epochs) / max(len(epochs), 1),
        "trials_per_hour": finished / wall * 3600,
        "best": result["best_value"],
    }


def fresh_database(server: str):
    """A new database on the server for one study; returns its URL and a function that drops it."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server)
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"genre_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="conv1d")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--clips-per-genre", type=int, default=16)
    parser.add_argument("--prune-startup-trials", type=int, default=2, help="the median pruner's")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a fixed setting")
    parser.add_argument("--postgres", help="a PostgreSQL server URL that may create databases")
    parser.add_argument("--work", type=Path, default=Path("/tmp/genre-bench"))
    args = parser.parse_args()

    data = synthetic_prepared(args.work, args.clips_per_genre)
    rows = [("SQLite, 1 worker, no pruning", "none", 1, False), ("SQLite, 1 worker, median pruner", "median", 1, False)]
    if args.postgres:
        rows += [
            ("PostgreSQL, 1 worker, no pruning", "none", 1, True),
            ("PostgreSQL, 2 workers, no pruning", "none", 2, True),
        ]
    else:
        print("no --postgres: the PostgreSQL rows are left out")
    backend = os.environ.get("KERAS_BACKEND", "(keras default)")
    print(
        f"{args.model}, {args.trials} trials of at most {args.max_epochs} epochs, fixed {args.set or 'nothing'}, "
        f"{args.clips_per_genre * 8} generated clips, KERAS_BACKEND={backend}, {os.cpu_count()} cores\n"
    )
    print("| study | finished | pruned | epochs/trial | wall s | trials/hour | best val acc |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        for i, (label, pruner, workers, postgres) in enumerate(rows):
            storage, drop = fresh_database(args.postgres) if postgres else (None, None)
            try:
                r = run_study(args, data, Path(tmp) / f"study-{i}", pruner=pruner, workers=workers, storage=storage)
            finally:
                if drop is not None:
                    drop()
            print(
                f"| {label} | {r['finished']} | {r['pruned']} | {r['epochs_per_trial']:.1f} | {r['wall_s']:.0f} | "
                f"{r['trials_per_hour']:.0f} | {r['best']:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
