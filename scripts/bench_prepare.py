"""Benchmark `prepare`: clips/s for each feature kind, in one process and with every process.

Generates FMA-like MP3s (30 s, 44.1 kHz, stereo) with `genre synth` (cached in --work), then
times decoding alone, each feature kind alone and all kinds together: first per process
(in-process, no pool), then through `prepare` with --workers processes end to end (shards
written, checksums computed). Target: at least 10 clips/s per core with all three kinds.

    python scripts/bench_prepare.py [--clips-per-genre 8] [--workers N] [--work /tmp/genre-bench]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from _bench_data import synthetic_fma
from threadpoolctl import threadpool_limits

from genre.data.audio import AudioConfig, load_clip
from genre.data.features import FeatureConfig, compute_features
from genre.data.prepare import PrepareConfig, prepare

KIND_SETS = {
    "raw": ("raw",),
    "mel": ("mel",),
    "handcrafted": ("handcrafted",),
    "all three": ("raw", "mel", "handcrafted"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-genre", type=int, default=8)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genre-bench")
    args = parser.parse_args()

    _, catalog = synthetic_fma(args.work, args.clips_per_genre)
    paths = catalog.tracks["path"].tolist()
    audio = AudioConfig()
    print(
        f"{len(paths)} MP3 clips, 30 s, 44.1 kHz stereo; {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} usable cores; workers {args.workers}\n"
    )

    # One process on one core: BLAS may not spread a "per process" figure over every core.
    threadpool_limits(1)
    load_clip(paths[0], audio)  # warm up: librosa's numba functions compile on first use
    compute_features(load_clip(paths[0], audio), FeatureConfig())
    rows = []
    started = time.perf_counter()
    clips = [load_clip(p, audio) for p in paths]
    decode = time.perf_counter() - started
    rows.append(("decode + resample only", len(paths) / decode, None))
    for name, kinds in KIND_SETS.items():
        config = FeatureConfig(kinds=kinds)
        started = time.perf_counter()
        for path in paths:
            compute_features(load_clip(path, audio), config)
        per_process = len(paths) / (time.perf_counter() - started)
        out = args.work / "out"
        shutil.rmtree(out, ignore_errors=True)
        started = time.perf_counter()
        prepare(catalog, out, PrepareConfig(features=config, workers=args.workers, progress=False))
        pooled = len(paths) / (time.perf_counter() - started)
        rows.append((name, per_process, pooled))
    del clips

    print(f"| features | clips/s, 1 process on 1 core | clips/s, prepare with {args.workers} processes |")
    print("| --- | ---: | ---: |")
    for name, one, many in rows:
        print(f"| {name} | {one:.1f} | {'' if many is None else f'{many:.1f}'} |")


if __name__ == "__main__":
    main()
