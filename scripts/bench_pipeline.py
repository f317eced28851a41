"""Benchmark the input pipeline: TFRecord shards vs the study's original approach, same clips, one run.

The study's approach: a `tf.data` pipeline over file paths that decodes each MP3 inside
`tf.py_function` (librosa) and looks its label up in a pandas table, every epoch. Ours: the
prepared shards read by `genre.data.make_dataset` (parallel reads, parse, cache, shuffle, batch,
prefetch). Both deliver batches of 32 to an empty consumer; clips/s is clips delivered per second
of wall time over one epoch (ours: first epoch from disk, then a cached epoch).

    python scripts/bench_pipeline.py [--clips-per-genre 8] [--work /tmp/genre-bench]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench_data import synthetic_fma, synthetic_prepared

from genre.data.pipeline import make_dataset


def study_dataset(catalog, kind: str):
    """File paths -> tf.py_function(librosa decode [+ Mel]) -> pandas label lookup, as the study did."""
    import librosa
    import tensorflow as tf

    table = catalog.tracks.set_index("track_id")
    genres = list(catalog.genres)

    def load(path):
        path = path.numpy().decode()
        y, sr = librosa.load(path, sr=22050, mono=True)
        track_id = int(Path(path).stem)
        label = genres.index(table.loc[track_id, "genre"])
        if kind == "raw":
            return y[:10000].astype(np.float32), label
        mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_mels=224), ref=np.max)
        image = tf.image.resize(mel[..., None], (224, 224)).numpy()
        return image.astype(np.float32), label

    def wrapped(path):
        x, y = tf.py_function(load, [path], [tf.float32, tf.int32])
        return x, y

    paths = tf.data.Dataset.from_tensor_slices(catalog.tracks["path"].tolist())
    return paths.map(wrapped, num_parallel_calls=tf.data.AUTOTUNE).batch(32).prefetch(tf.data.AUTOTUNE)


def clips_per_second(dataset) -> float:
    started, clips = time.perf_counter(), 0
    for _, y in dataset:
        clips += int(y.shape[0])
    return clips / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips-per-genre", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "genre-bench")
    args = parser.parse_args()

    _, catalog = synthetic_fma(args.work, args.clips_per_genre)
    data = synthetic_prepared(args.work, args.clips_per_genre)
    n = len(catalog.tracks)
    print(
        f"{n} clips (30 s, 44.1 kHz stereo MP3); all splits read as one epoch; batch 32; "
        f"{len(os.sched_getaffinity(0))} cores\n"
    )

    import librosa

    librosa.load(catalog.tracks["path"].iat[0], sr=22050)  # numba warm-up, outside the timings
    rows = []
    for kind in ("raw", "mel"):
        study = clips_per_second(study_dataset(catalog, kind))
        for label, cached in (("first epoch, from disk", False), ("cached epoch", True)):
            datasets = [
                make_dataset(data, s, kind, batch_size=32, training=True, window_mode="clip")
                for s in ("train", "validation", "test")
            ]
            if cached:
                for ds in datasets:
                    clips_per_second(ds)  # fill the cache
            started, clips = time.perf_counter(), 0
            for ds in datasets:
                for _, y in ds:
                    clips += int(y.shape[0])
            ours = clips / (time.perf_counter() - started)
            rows.append((kind, label, study, ours))

    print("| input | ours | study's approach, clips/s | TFRecord pipeline, clips/s | speed-up |")
    print("| --- | --- | ---: | ---: | ---: |")
    for kind, label, study, ours in rows:
        print(f"| {kind} | {label} | {study:.1f} | {ours:.0f} | {ours / study:.0f}x |")


if __name__ == "__main__":
    main()
