"""Wall time of the whole `genre synth` command: this tree against an earlier commit's, in one run.

`scripts/bench_synth.py` measures the renderer and the encoder per core; this measures what a user
waits for: `python -m genre synth` end to end (start-up, metadata, the worker pool, rendering,
encoding, writing) with every core. The earlier commit is checked out into a temporary git worktree
and run with the same interpreter, so both see the same packages; the two commands alternate, so
both see the same load on a shared machine.

    python scripts/bench_synth_command.py --baseline 8fde0cd --tracks-per-genre 50 --seconds 10 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_synth(tree: Path, out: Path, tracks_per_genre: int, seconds: float) -> float:
    """Seconds of one `genre synth` run of the package in `tree`, writing into `out` (which must not exist)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "genre", "synth", "--out", str(out)]
    command += ["--tracks-per-genre", str(tracks_per_genre), "--seconds", str(seconds), "--seed", "0"]
    started = time.perf_counter()
    subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="8fde0cd", help="git revision to compare with")
    parser.add_argument("--tracks-per-genre", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    clips = 8 * args.tracks_per_genre
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), load average {load:.2f}")
    print(f"`genre synth`: {clips} clips of {args.seconds:g} s, every core, {args.repeats} runs each, alternating")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        baseline = tmp / "baseline"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(baseline), args.baseline],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            times: dict[str, list[float]] = {"baseline": [], "current": []}
            for i in range(args.repeats):
                for name, tree in (("baseline", baseline), ("current", ROOT)):
                    times[name].append(run_synth(tree, tmp / f"{name}-{i}", args.tracks_per_genre, args.seconds))
                    print(f"  {name} run {i + 1}: {times[name][-1]:.1f} s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=ROOT, capture_output=True)
    median = {name: statistics.median(t) for name, t in times.items()}
    for name, seconds in median.items():
        print(f"  {name:9s} median {seconds:6.1f} s  {clips / seconds:6.2f} clips/s")
    print(f"  ratio current/baseline: {median['baseline'] / median['current']:.2f}x")


if __name__ == "__main__":
    main()
