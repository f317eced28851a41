"""Benchmark `prepare`: where a clip's time goes, and clips/s end to end with 1 and with every process.

Generates FMA-like MP3s (30 s, 44.1 kHz, stereo) with `genre synth` (cached in --work), then, in one
run:

1. Stage shares, in this process on one core: per clip, decoding (libsndfile, mix-down, checks),
   resampling to 22050 Hz (soxr HQ), the shared STFT and Mel products, each feature kind's own work,
   serialising the records and writing them (TFRecord writer, then the shard checksum). Per process,
   the features of every kind should cost no more than decoding and resampling (a rate at least half
   of decode + resample alone).
2. `prepare` end to end (pool, shards, checksums, manifest) with 1 process and with --workers
   processes, and the speed-up (target: 1.8x with 2 processes, on 240 clips or more); how busy the
   parent process was; and the CPU time a clip took in all processes together, whose ratio bounds the
   speed-up on otherwise idle cores (on a machine other jobs keep busy, wall-clock rates say less).
   A fork server's CPU time counts too (read from /proc while it runs, its workers included).
   Before that, what starting the workers costs: a pool's time to the results of tasks that end at
   once, and the CPU time in its processes, for a first pool and a second one.
3. With --contention (before 2.): each stage's CPU time and minor page faults a clip in one fresh
   process alone, then in --workers fresh processes at once: what a stage costs more when another
   process shares the caches and memory bandwidth, apart from worker start-up and the pool.

Ratios measured in one run are what count: machines here differ 2x between weeks.

    python scripts/bench_prepare.py [--clips-per-genre 8] [--workers N] [--kinds raw,mel,handcrafted] [--contention]
"""

from __future__ import annotations

import argparse
import collections
import os
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from _bench_data import synthetic_fma
from threadpoolctl import threadpool_limits

from genre.data.audio import AudioConfig, Clip, load_clip
from genre.data.features import FeatureConfig, get_kind
from genre.data.features.kind import Spectrum
from genre.data.manifest import sha256_file
from genre.data.prepare import PrepareConfig, prepare, process_clip
from genre.data.records import encode_example
from genre.parallel import ordered_map


def stage_times(
    paths: list[str], features: FeatureConfig, scratch: Path, clock=time.perf_counter, faults=None
) -> dict[str, float]:
    """Seconds spent in each stage over all `paths`, in this process, by `clock`; with `faults` (a
    Counter), each stage's minor page faults are added to it."""
    import tensorflow as tf

    audio = features.audio
    spent: collections.Counter[str] = collections.Counter()

    def timed(stage, fn, *args, **kwargs):
        started, faulted = clock(), _minor_faults() if faults is not None else 0
        result = fn(*args, **kwargs)
        spent[stage] += clock() - started
        if faults is not None:
            faults[stage] += _minor_faults() - faulted
        return result

    mel_settings = _mel_settings(features)
    records = scratch / "records.tfrecord"
    with tf.io.TFRecordWriter(str(records)) as writer:
        for index, path in enumerate(paths):
            native = AudioConfig(sample_rate=sf.info(path).samplerate, duration=audio.duration)
            decoded = timed("decode", load_clip, path, native)  # at the file's own rate: no resampling
            mono = decoded.signal[: decoded.valid_samples]
            resampled = timed("resample", soxr.resample, mono, native.sample_rate, audio.sample_rate, "HQ")
            signal = np.zeros(audio.samples, np.float32)
            n = min(len(resampled), audio.samples)
            signal[:n] = resampled[:n]
            clip = Clip(signal=signal, seconds=n / audio.sample_rate, valid_samples=n)
            spectrum = Spectrum(clip, features)
            if mel_settings:
                timed("STFT", getattr, spectrum, "power")
                for setting in mel_settings:
                    timed("Mel products", spectrum.mel_power, *setting)
            values = {kind: timed(kind, get_kind(kind).compute, clip, features, spectrum) for kind in features.kinds}
            for kind, value in values.items():
                example = timed("serialise", encode_example, kind, value, track_id=index, label=0, seconds=clip.seconds)
                timed("write", writer.write, example)
    timed("write", sha256_file, records)
    return dict(spent)


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def concurrent_stage_cpu(paths: list[str], features: FeatureConfig, processes: int) -> list[tuple[dict, dict]]:
    """Each stage's CPU seconds and minor page faults over all `paths`, in each of `processes` fresh
    processes running the stages at the same time (they start together after a warm-up): what a stage
    costs more when another process shares the machine's caches and memory bandwidth."""
    import concurrent.futures as cf
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    with cf.ProcessPoolExecutor(processes, mp_context=context, initializer=_keep, initargs=(barrier,)) as pool:
        return list(pool.map(_stage_cpu, [(paths, features)] * processes))


_shared = {}


def _keep(barrier) -> None:
    _shared["barrier"] = barrier


def _stage_cpu(job) -> tuple[dict, dict]:
    paths, features = job
    with threadpool_limits(1), tempfile.TemporaryDirectory() as scratch:
        stage_times(paths[:2], features, Path(scratch))  # warm up
        _shared["barrier"].wait()
        faults: collections.Counter[str] = collections.Counter()
        spent = stage_times(paths, features, Path(scratch), clock=time.thread_time, faults=faults)
    return dict(spent), dict(faults)


def _mel_settings(features: FeatureConfig) -> list[tuple]:
    """The Mel products the kinds ask the Spectrum for (none when no kind needs the STFT)."""
    settings = []
    if "mel" in features.kinds:
        m = features.of("mel")
        settings.append((m.n_mels, m.fmin, m.fmax))
    if "handcrafted" in features.kinds:
        settings.append((features.of("handcrafted").n_mels, 0.0, None))
    return list(dict.fromkeys(settings))


def end_to_end(catalog, work: Path, features: FeatureConfig, workers: int) -> tuple[float, float, float]:
    """clips/s of `prepare`; the share of the run this process was busy (receiving, serialising,
    writing and checksumming while the workers compute: near 1 would make it the bottleneck); and the
    CPU seconds a clip took in every process together (workers' start-up included), which other jobs
    on the machine do not change."""
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    started, busy, workers_cpu = time.perf_counter(), time.process_time(), _children_cpu()
    prepare(catalog, out, PrepareConfig(features=features, workers=workers, progress=False))
    elapsed, busy = time.perf_counter() - started, time.process_time() - busy
    cpu = busy + _children_cpu() - workers_cpu  # the pool's workers have exited and been waited for
    return len(catalog.tracks) / elapsed, busy / elapsed, cpu / len(catalog.tracks)


def worker_startup(features: FeatureConfig, workers: int) -> list[tuple[float, float]]:
    """Seconds to the last result and CPU seconds in child processes, of a pool of `workers` given
    tasks that end at once (missing files): what starting the workers costs; for a first pool and a
    second one in this process."""
    tasks = [(i, "/nonexistent/clip.mp3") for i in range(2 * workers)]
    costs = []
    for _ in range(2):
        started, cpu = time.perf_counter(), _children_cpu()
        list(ordered_map(process_clip, tasks, workers, features))
        costs.append((time.perf_counter() - started, _children_cpu() - cpu))
    return costs


def _children_cpu() -> float:
    """CPU seconds of this process's children: those waited for, and those still running (a fork
    server, with the workers it forked and waited for), which only /proc tells."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + _running_children_cpu()


def _running_children_cpu() -> float:
    ticks = 0
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_bytes().rsplit(b")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == os.getpid():
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, and those of its waited-for children
    return ticks / os.sysconf("SC_CLK_TCK")


def print_contention(paths: list[str], features: FeatureConfig, workers: int) -> None:
    """Each stage's CPU ms and minor page faults a clip, in one fresh process alone and in `workers`
    processes at once (their mean)."""
    (alone, alone_faults), *_ = concurrent_stage_cpu(paths, features, 1)
    together = concurrent_stage_cpu(paths, features, workers)
    print(f"| stage | CPU ms a clip, 1 process | {workers} at once | ratio | minor faults a clip, 1 | {workers} |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    rows = [*alone, "all"]
    for stage in rows:
        one = sum(alone.values()) if stage == "all" else alone[stage]
        many = np.mean([sum(s.values()) if stage == "all" else s.get(stage, 0.0) for s, _ in together])
        f_one = sum(alone_faults.values()) if stage == "all" else alone_faults[stage]
        f_many = np.mean([sum(f.values()) if stage == "all" else f.get(stage, 0) for _, f in together])
        n = len(paths)
        print(
            f"| {stage} | {1000 * one / n:.1f} | {1000 * many / n:.1f} | {many / max(one, 1e-12):.2f} "
            f"| {f_one / n:.0f} | {f_many / n:.0f} |"
        )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-genre", type=int, default=8)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--kinds", default="raw,mel,handcrafted")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genre-bench")
    parser.add_argument(
        "--contention", action="store_true", help="also each stage's CPU time in 1 process and in --workers at once"
    )
    args = parser.parse_args()

    _, catalog = synthetic_fma(args.work, args.clips_per_genre)
    paths = catalog.tracks["path"].tolist()
    features = FeatureConfig(kinds=tuple(k.strip() for k in args.kinds.split(",") if k.strip()))
    print(
        f"{len(paths)} MP3 clips, 30 s, 44.1 kHz stereo; {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} usable cores; kinds {','.join(features.kinds)}; workers {args.workers}\n"
    )

    # One process on one core: BLAS may not spread a "per process" figure over every core.
    with threadpool_limits(1), tempfile.TemporaryDirectory() as scratch:
        stage_times(paths[:2], features, Path(scratch))  # warm up: imports, numba compilation, caches
        spent = stage_times(paths, features, Path(scratch))
    total = sum(spent.values())
    print("| stage | ms a clip | share |")
    print("| --- | ---: | ---: |")
    for stage, seconds in spent.items():
        print(f"| {stage} | {1000 * seconds / len(paths):.1f} | {100 * seconds / total:.0f}% |")
    print(f"| all | {1000 * total / len(paths):.1f} | 100% |\n")

    decoding = spent["decode"] + spent["resample"]
    featurising = total - decoding - spent.get("serialise", 0.0) - spent.get("write", 0.0)
    per_process = len(paths) / (decoding + featurising)
    print(
        f"per process: decode + resample only {len(paths) / decoding:.1f} clips/s; with the features "
        f"{per_process:.1f} clips/s ({per_process * decoding / len(paths):.2f} of decoding's rate; target 0.5)"
    )
    if args.contention:
        print_contention(paths, features, args.workers)
    (first, first_cpu), (again, again_cpu) = worker_startup(features, args.workers)
    print(
        f"worker start-up, {args.workers} workers: {first:.2f} s to the first pool's results, {first_cpu:.2f} s "
        f"of CPU; a second pool {again:.2f} s, {again_cpu:.2f} s of CPU"
    )
    one, _, cpu_one = end_to_end(catalog, args.work, features, 1)
    many, parent_busy, cpu_many = end_to_end(catalog, args.work, features, args.workers)
    print(
        f"prepare end to end: 1 process {one:.1f} clips/s; {args.workers} processes {many:.1f} clips/s "
        f"({many / one:.2f}x; target 1.8x with 2); the parent process was busy {100 * parent_busy:.0f}% of that run"
    )
    print(
        f"CPU a clip, all processes: {1000 * cpu_one:.0f} ms with 1, {1000 * cpu_many:.0f} ms with {args.workers}: "
        f"on {args.workers} otherwise idle cores, at most {args.workers * cpu_one / cpu_many:.2f}x"
    )


if __name__ == "__main__":
    main()
