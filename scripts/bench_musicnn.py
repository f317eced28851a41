"""Benchmark musicnn: embedding extraction speed per Keras backend, and an SVM on its embeddings.

1. Extraction: clips/s of `clip_embeddings` (MSD_musicnn, `max_pool`) over 30 s clips (10 patches of
   187 frames each), patches batched (`--batch` patches a call), after one warm-up call, in a fresh
   process per backend (the backend is fixed at import). Model time only: the patches are in memory.
2. Accuracy: generated FMA-like clips (30 s, `genre synth`) prepared with the `handcrafted` and
   `musicnn` kinds; a standardised RBF SVM (C=3) trained on the train split and scored on validation
   and test, once on the handcrafted vectors and once on the time-pooled mean/std of musicnn's
   `max_pool` (1506 values). Generated music is not music: the figure says whether the pretrained
   features separate these generators' genres, not how they do on real recordings.

Needs the converted weights (`genre weights fetch musicnn`, or --cache).

    python scripts/bench_musicnn.py [--clips-per-genre 20] [--work /tmp/genre-bench] [--cache DIR]
                                    [--backends tensorflow,jax] [--clips 32] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXTRACT = """
import json, sys, time
import numpy as np
import keras
from genre.models import musicnn as mn
clips, batch, cache = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] or None
model = mn.pretrained_tagger("MSD_musicnn", cache)
rng = np.random.default_rng(0)
patches = rng.uniform(0, 4, (clips, 10, mn.PATCH_FRAMES, mn.N_MELS)).astype("float32")
mn.clip_embeddings(patches[:2], model=model, batch_size=batch)  # warm up: compile for this batch size
times = []
for _ in range(3):
    started = time.perf_counter()
    mn.clip_embeddings(patches, model=model, batch_size=batch)
    times.append(time.perf_counter() - started)
print(json.dumps({"backend": keras.backend.backend(), "seconds": sorted(times)[1], "clips": clips}))
"""


def extraction(backend: str, clips: int, batch: int, cache: Path | None) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", EXTRACT, str(clips), str(batch), str(cache or "")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"extraction on {backend} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def accuracy(work: Path, clips_per_genre: int, cache: Path | None) -> list[tuple[str, str, float, float]]:
    from _bench_data import synthetic_fma
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from genre.data import load_arrays
    from genre.data.features import FeatureConfig
    from genre.data.prepare import PrepareConfig, prepare
    from genre.models.musicnn_embeddings import musicnn_embeddings

    _, catalog = synthetic_fma(work, clips_per_genre)
    data = work / f"data-musicnn-{clips_per_genre}"
    prepare(catalog, data, PrepareConfig(features=FeatureConfig(kinds=("handcrafted", "musicnn")), progress=False))
    rows = []
    for name in ("handcrafted", "musicnn max_pool mean+std"):
        started = time.perf_counter()
        if name == "handcrafted":
            splits = {s: load_arrays(data, s, "handcrafted")[:2] for s in ("train", "validation", "test")}
        else:
            splits = {
                s: musicnn_embeddings(data, s, "max_pool", cache_dir=cache) for s in ("train", "validation", "test")
            }
        svm = make_pipeline(StandardScaler(), SVC(C=3.0)).fit(*splits["train"])
        val = float((svm.predict(splits["validation"][0]) == splits["validation"][1]).mean())
        test = float((svm.predict(splits["test"][0]) == splits["test"][1]).mean())
        dims = splits["train"][0].shape[1]
        rows.append((f"SVM on {name} ({dims} values)", f"{time.perf_counter() - started:.1f} s", val, test))
    sizes = {s: len(catalog.tracks[catalog.tracks["split"] == s]) for s in ("train", "validation", "test")}
    print(f"generated set: {clips_per_genre} clips per genre, 8 genres, 30 s; split sizes {sizes}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-genre", type=int, default=20)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genre-bench")
    parser.add_argument("--cache", type=Path, help="weights cache (default: $GENRE_CACHE, else ~/.cache/genre)")
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--clips", type=int, default=32, help="30 s clips per extraction timing")
    parser.add_argument("--batch", type=int, default=64, help="patches per model call")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()

    print(f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} usable cores\n")
    print("embedding extraction, MSD_musicnn max_pool, 30 s clips (10 patches), model time only:")
    for backend in args.backends.split(","):
        r = extraction(backend, args.clips, args.batch, args.cache)
        rate = r["clips"] / r["seconds"]
        print(f"  {r['backend']:<11} {rate:6.1f} clips/s  ({10 * rate:.0f} patches/s, batches of {args.batch})")
    if args.skip_accuracy:
        return
    print()
    for name, seconds, val, test in accuracy(args.work, args.clips_per_genre, args.cache):
        print(f"  {name:<45} val {val:.3f}  test {test:.3f}  ({seconds})")
    print("  (generated music, not music: says nothing about accuracy on real recordings)")


if __name__ == "__main__":
    main()
