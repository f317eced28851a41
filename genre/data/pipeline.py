"""The one reader of prepared data: `tf.data` pipelines over the shards, for both Keras backends.

`make_dataset` gives batches of `(x, y)` (or `(x, y, track_id)`) for one split and feature kind:
parallel interleaved reads, parse, cache of the compact stored form, shuffle (training only,
seeded), conversion to float32, batch, prefetch, and a known cardinality so `model.fit` knows
its epoch length. `load_arrays` gives a split as NumPy arrays for scikit-learn.

Model inputs: `raw` windows are float32 `(window_length, 1)` in [-1, 1] (or `(windows,
window_length, 1)` per clip); `mel` images float32 `(n_mels, frames, 1)` in [0, 1];
`handcrafted` vectors float32 `(dim,)`. Labels are int32 indices into the manifest's `genres`.

Shards are checked against the manifest's SHA-256 before reading, so a corrupt or changed
file is an error naming it, never a silently shorter epoch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genre.data.manifest import Manifest, ManifestError, read_manifest, sha256_file
from genre.data.records import parse_function

WINDOW_MODES = ("flat", "clip")


def make_dataset(
    data_dir: str | Path,
    split: str,
    kind: str,
    *,
    batch_size: int = 32,
    training: bool | None = None,
    seed: int = 0,
    windows: str = "flat",
    with_track_id: bool = False,
    cache: bool = True,
    shuffle_buffer: int = 8192,
    drop_remainder: bool = False,
    verify: bool = True,
    manifest: Manifest | None = None,
):
    """A batched `tf.data.Dataset` of one split and feature kind.

    training: shuffle each epoch (default: only for the `train` split).
    windows: for `raw`, "flat" makes every window an example; "clip" keeps a clip's windows together.
    """
    import tensorflow as tf

    data_dir = Path(data_dir)
    manifest = manifest or read_manifest(data_dir)
    entries = shard_entries(manifest, split, kind)
    if windows not in WINDOW_MODES:
        raise ValueError(f"unknown windows mode {windows!r}; valid modes are {list(WINDOW_MODES)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    training = split == "train" if training is None else training
    if verify:
        verify_shards(data_dir, entries)
    shape = manifest.shape(kind)
    clips = sum(e["records"] for e in entries)
    files = [str(data_dir / e["file"]) for e in entries]

    ds = tf.data.Dataset.from_tensor_slices(files)
    if training and not cache:  # with a cache, the first epoch's file order would be replayed anyway
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=max(1, min(len(files), 8)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.map(parse_function(kind, shape), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.assert_cardinality(clips))
    if cache:
        ds = ds.cache()
    examples = clips
    if kind == "raw" and windows == "flat":
        n_windows = shape[0]
        ds = ds.map(
            lambda x, y, t: (x, tf.repeat(y, n_windows), tf.repeat(t, n_windows)),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).unbatch()
        examples = clips * n_windows
        ds = ds.apply(tf.data.experimental.assert_cardinality(examples))
    if training:
        ds = ds.shuffle(min(shuffle_buffer, max(examples, 1)), seed=seed, reshuffle_each_iteration=True)
    to_float = _to_float(kind)
    if with_track_id:
        ds = ds.map(lambda x, y, t: (to_float(x), y, t), num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y, t: (to_float(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def load_arrays(
    data_dir: str | Path, split: str, kind: str = "handcrafted", *, verify: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole split as NumPy arrays: features, labels, track ids (shard order)."""
    manifest = read_manifest(data_dir)
    ds = make_dataset(
        data_dir,
        split,
        kind,
        batch_size=1024,
        training=False,
        windows="clip",
        with_track_id=True,
        cache=False,
        verify=verify,
        manifest=manifest,
    )
    xs, ys, ids = [], [], []
    for x, y, t in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
        ids.append(t)
    if not xs:
        shape = (0, *_model_shape(kind, manifest.shape(kind), "clip"))
        return np.zeros(shape, np.float32), np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ids)


def shard_entries(manifest: Manifest, split: str, kind: str) -> list[dict]:
    manifest.require_split(split)
    manifest.require_kind(kind)
    if split not in manifest.shards:
        raise ManifestError(f"this data set has no {split!r} split; it has {sorted(manifest.shards)}")
    return manifest.shards[split][kind]


def verify_shards(data_dir: Path, entries: list[dict]) -> None:
    for entry in entries:
        path = Path(data_dir) / entry["file"]
        if not path.is_file():
            raise ManifestError(f"{path}: shard listed in the manifest is missing")
        if sha256_file(path) != entry["sha256"]:
            raise ManifestError(
                f"{path}: SHA-256 differs from the manifest (corrupt or changed shard); prepare the data set again"
            )


def model_input_shape(manifest: Manifest, kind: str, windows: str = "flat") -> tuple[int, ...]:
    """The shape of one example `x` as `make_dataset` delivers it (without the batch axis)."""
    return _model_shape(kind, manifest.shape(kind), windows)


def _model_shape(kind: str, stored: tuple[int, ...], windows: str) -> tuple[int, ...]:
    if kind == "raw":
        return (stored[1], 1) if windows == "flat" else (stored[0], stored[1], 1)
    if kind == "mel":
        return (*stored, 1)
    return stored


def _to_float(kind: str):
    import tensorflow as tf

    if kind == "raw":
        return lambda x: tf.cast(x, tf.float32)[..., None] / 32768.0
    if kind == "mel":
        return lambda x: tf.cast(x, tf.float32)[..., None] / 255.0
    return lambda x: x
