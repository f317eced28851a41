"""Clips per second per core of `genre synth`: this tree against an earlier commit's renderer.

Loads ``genre/synth/music.py`` as it was at ``--baseline`` (from git, into a temporary module)
and renders the same artists and tracks with both, one clip after the other so that both see the
same load on a shared machine. Each clip is timed in two parts: render (``render_track``), and
encode and write (the baseline's libsndfile MP3 writer; this tree's ``encode_mp3``, as ``render_to_file``). Times
are CPU seconds of this single process with one BLAS thread, the share one worker of `genre synth`
gets of one core; wall seconds are printed beside them.

    python scripts/bench_synth.py --clips 16 --seconds 10 30
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genre.synth.dataset import encode_mp3  # noqa: E402
from genre.synth.music import render_track  # noqa: E402
from genre.synth.profiles import GENRES  # noqa: E402
from genre.synth.style import draw_artist_style  # noqa: E402


def load_baseline(rev: str, tmp: Path):
    """The renderer module as it was at ``rev``, imported under a name of its own."""
    source = subprocess.run(
        ["git", "show", f"{rev}:genre/synth/music.py"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    path = tmp / "music_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("music_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def write_baseline(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    tmp = path.with_suffix(".tmp.mp3")
    sf.write(tmp, audio, sample_rate, format="MP3")
    tmp.replace(path)


def write_current(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    tmp = path.with_suffix(".tmp.mp3")
    tmp.write_bytes(encode_mp3(audio, sample_rate))
    tmp.replace(path)


def _timed(fn, *args):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(*args)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def bench(music, write, seconds: float, sample_rate: int, channels: int, out: Path, seed: int):
    """Per clip: (render cpu, render wall, write cpu, write wall), for one clip ``seed``."""
    genre = GENRES[seed % len(GENRES)]
    style = music.draw_artist_style(genre, np.random.default_rng([0, 2, seed]))
    audio, r_cpu, r_wall = _timed(
        lambda: music.render_track(
            style, np.random.default_rng([0, 1, seed]), seconds=seconds, sample_rate=sample_rate, channels=channels
        )
    )
    _, w_cpu, w_wall = _timed(write, out / f"{seed:06d}.mp3", audio, sample_rate)
    return np.array([r_cpu, r_wall, w_cpu, w_wall])


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores ({model}), load average {load:.2f}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="8fde0cd", help="git revision of the renderer to compare with")
    parser.add_argument("--clips", type=int, default=16, help="clips per duration and implementation")
    parser.add_argument("--seconds", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--sample-rate", type=int, default=44100)
    parser.add_argument("--channels", type=int, default=2)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    print(machine())
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(1):
        tmp = Path(tmp)
        old = load_baseline(args.baseline, tmp)
        current_music = SimpleNamespace(draw_artist_style=draw_artist_style, render_track=render_track)
        for seconds in args.seconds:
            runs = {"baseline": [], "current": []}
            for i in range(-1, args.clips):  # clip -1 warms caches and imports up, untimed
                for name, music, write in (
                    ("baseline", old, write_baseline),
                    ("current", current_music, write_current),
                ):
                    t = bench(music, write, seconds, args.sample_rate, args.channels, tmp, 100 + i)
                    if i >= 0:
                        runs[name].append(t)
            print(
                f"\n{args.clips} clips of {seconds:g} s, {args.sample_rate} Hz, {args.channels} channel(s), one core:"
            )
            print(f"  {'':9s} {'render s':>9s} {'encode s':>9s} {'total s':>9s} {'clips/s':>8s}   (wall: clips/s)")
            rates = {}
            for name, rows in runs.items():
                r_cpu, r_wall, w_cpu, w_wall = np.mean(rows, axis=0)
                rates[name] = 1 / (r_cpu + w_cpu)
                print(
                    f"  {name:9s} {r_cpu:9.3f} {w_cpu:9.3f} {r_cpu + w_cpu:9.3f} {rates[name]:8.2f}"
                    f"   ({1 / (r_wall + w_wall):.2f})"
                )
            b, c = (np.mean(runs[k], axis=0) for k in ("baseline", "current"))
            print(
                f"  ratio current/baseline: {rates['current'] / rates['baseline']:.2f}x "
                f"(render {b[0] / c[0]:.2f}x, encode+write {b[2] / c[2]:.2f}x)"
            )


if __name__ == "__main__":
    main()
