"""The one reader of prepared data: `tf.data` pipelines over the shards, for both Keras backends.

`make_dataset` gives batches of `(x, y)` (or `(x, y, track_id)`) for one split and feature kind:
parallel interleaved reads, parse, cache of the compact stored form, shuffle (training only,
seeded), conversion to float32, batch, prefetch, and a known cardinality so `model.fit` knows
its epoch length. `make_epochs` gives training epochs whose order depends only on the seed and
the epoch number (exact resumption), and on several processes each one's block of every global
batch; `make_epoch_legs` the same from any batch inside an epoch. `load_arrays` gives a split as
NumPy arrays for scikit-learn.

Model inputs are float32, converted from the stored form by the kind itself
(`FeatureKind.to_input`, the conversion `predict` uses too); labels are int32 indices into the
manifest's `genres`.

Shards are checked against the manifest's SHA-256 before reading, so a corrupt or changed
file is an error naming it, never a silently shorter epoch.

Given a cross-validation `Fold` (`genre.data.folds`), `split` names the fold's role instead
("train", "validation", "test"): the records of every split folder are read, split by split in
their stored order, and only those whose `track_id` is in the role's set are kept. The count comes
from the fold (checked against the manifest's clip table), so the cardinality stays known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genre.data.catalog import SPLITS
from genre.data.features import get_kind
from genre.data.manifest import Manifest, ManifestError, read_manifest, sha256_file
from genre.data.records import parse_function

if TYPE_CHECKING:
    from genre.data.folds import Fold

# For kinds stored as several model inputs per clip (`FeatureKind.windowed`: raw windows, musicnn
# patches), "flat" makes each one a training example; "clip" keeps a clip's together (clip score =
# mean over them).
WINDOW_MODES = ("flat", "clip")


def make_dataset(
    data_dir: str | Path,
    split: str,
    kind: str,
    *,
    batch_size: int = 32,
    training: bool | None = None,
    seed: int = 0,
    window_mode: str = "flat",
    with_track_id: bool = False,
    cache: bool = True,
    shuffle_buffer: int = 8192,
    drop_remainder: bool = False,
    verify: bool = True,
    manifest: Manifest | None = None,
    fold: Fold | None = None,
):
    """A batched `tf.data.Dataset` of one split (or role of `fold`) and feature kind, reshuffled every epoch in
    training.

    training: shuffle each epoch (default: only for the `train` split).
    window_mode: for `raw` and `musicnn`, "flat" makes every window (patch) an example; "clip" keeps a clip's
        together.
    """
    import tensorflow as tf

    training = split == "train" if training is None else training
    ds, examples = _examples(
        data_dir,
        split,
        kind,
        window_mode,
        cache,
        verify,
        manifest,
        file_shuffle_seed=(seed if training and not cache else None),
        fold=fold,
    )
    if training:
        ds = ds.shuffle(min(shuffle_buffer, max(examples, 1)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(_finish(kind, with_track_id), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def make_epochs(data_dir: str | Path, split: str, kind: str, *, first_epoch: int, epochs: int, **options):
    """Training batches for epochs `first_epoch` to `epochs - 1`, back to back, and the steps per epoch.

    Each epoch's order depends only on `seed` and the epoch number, so training resumed at epoch
    k sees exactly the batches an uninterrupted run saw from epoch k on. Feed it to `model.fit`
    with `steps_per_epoch` and `initial_epoch=first_epoch`. To resume inside an epoch, see
    `make_epoch_legs`, whose options (batch size, seed, window mode, limits, cache, fold, this
    process's part) `options` are.
    """
    legs, steps = make_epoch_legs(
        data_dir, split, kind, first_epoch=first_epoch, first_step=0, epochs=epochs, **options
    )
    return legs[0].batches, steps


@dataclass(frozen=True)
class EpochLeg:
    """Epochs `first_epoch` to `end_epoch - 1` of `batches`, each of `steps` batches: one `model.fit` call."""

    batches: object  # a tf.data.Dataset
    first_epoch: int
    end_epoch: int
    steps: int


def make_epoch_legs(
    data_dir: str | Path,
    split: str,
    kind: str,
    *,
    first_epoch: int,
    first_step: int,
    epochs: int,
    batch_size: int = 32,
    seed: int = 0,
    window_mode: str = "flat",
    limit_batches: int | None = None,
    drop_remainder: bool = False,
    cache: bool = True,
    shuffle_buffer: int = 8192,
    verify: bool = True,
    manifest: Manifest | None = None,
    fold: Fold | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> tuple[list[EpochLeg], int]:
    """The training batches from batch `first_step` of epoch `first_epoch` on, and the steps per epoch.

    Keras's `fit` runs the same number of steps every epoch, so a run resumed inside an epoch is
    two legs: the rest of that epoch (`steps - first_step` batches), then the later epochs. The
    legs share one parsed (and cached) stream, so the data is read once. Batch b of epoch e is the
    same as in an uninterrupted run: the epoch's order is the shuffle seeded by (seed, e), and
    resuming skips its first `first_step * batch_size` examples as they leave the shuffle, before
    they are converted or batched. When the shuffle buffer holds the whole split (the default up to
    8192 examples) the shuffle has read every record before its first output anyway, so skipping
    reads nothing more; with a smaller buffer it reads the skipped records (from the cache, or the
    shards) but never converts, batches or trains on them.

    process_count > 1: `batch_size` is the global batch, and this process (`process_index`) gets rows
    [i * b, (i + 1) * b) of each, b = batch_size / process_count: the processes' blocks, laid side by
    side in process order, are the very batches one process would train on (dropout masks and
    all), so a run on several hosts follows a run on one. Every process reads every shard and
    shuffles the same way; it converts (and so holds in memory as float32) only its own block.
    """
    base, examples = _examples(
        data_dir, split, kind, window_mode, cache, verify, manifest, file_shuffle_seed=None, fold=fold
    )
    return epoch_legs(
        base,
        examples,
        _finish(kind, with_track_id=False),
        first_epoch=first_epoch,
        first_step=first_step,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        limit_batches=limit_batches,
        drop_remainder=drop_remainder,
        shuffle_buffer=shuffle_buffer,
        process_index=process_index,
        process_count=process_count,
        what=split,
    )


def epoch_legs(
    base,
    examples: int,
    finish,
    *,
    first_epoch: int,
    first_step: int,
    epochs: int,
    batch_size: int = 32,
    seed: int = 0,
    limit_batches: int | None = None,
    drop_remainder: bool = False,
    shuffle_buffer: int = 8192,
    process_index: int = 0,
    process_count: int = 1,
    what: str = "train",
) -> tuple[list[EpochLeg], int]:
    """`make_epoch_legs` over any stream of `examples` examples in one fixed order (`base`, a
    `tf.data.Dataset` of `(x, y, track_id)`), each turned into the model's `(x, y)` by `finish`. The
    shards' examples go through it, and so do a frozen base's outputs (`genre.train.encoded_data`)."""
    import tensorflow as tf

    if not 0 <= first_epoch < epochs:
        raise ValueError(f"need 0 <= first_epoch < epochs, got first_epoch={first_epoch}, epochs={epochs}")
    if batch_size % process_count or not 0 <= process_index < process_count:
        raise ValueError(
            f"batch_size {batch_size} over {process_count} processes (this one {process_index}): "
            "the batch must split evenly and the index be one of them"
        )
    if process_count > 1 and not drop_remainder:
        raise ValueError("several processes split whole batches: pass drop_remainder=True")
    local_batch = batch_size // process_count
    steps = examples // batch_size if drop_remainder else -(-examples // batch_size)
    if steps == 0:
        raise ValueError(f"{what} holds {examples} examples: not one whole batch of {batch_size}")
    if limit_batches is not None:
        steps = min(steps, limit_batches)
    if not 0 <= first_step < steps:
        raise ValueError(f"need 0 <= first_step < {steps} (the steps of an epoch), got first_step={first_step}")
    buffer = min(shuffle_buffer, max(examples, 1))

    def one_epoch(epoch: int, skip_batches: int = 0):
        # Python-int seeds: a tensor seed trips TensorFlow's check against the global seed.
        shuffled = base.shuffle(buffer, seed=seed * 1_000_003 + epoch, reshuffle_each_iteration=False)
        if skip_batches:  # whole global batches, so the blocks below stay aligned
            shuffled = shuffled.skip(skip_batches * batch_size)
        if process_count > 1:
            shuffled = _block_of_batches(shuffled, local_batch, process_count, process_index)
        batches = shuffled.map(finish, num_parallel_calls=tf.data.AUTOTUNE).batch(
            local_batch, drop_remainder=drop_remainder
        )
        return batches.take(steps - skip_batches)

    def chain(first: int, end: int):
        # Epoch datasets share `base` and so its cache; the choice stream plays them in order.
        per_epoch = [one_epoch(e) for e in range(first, end)]
        order = tf.data.Dataset.range(len(per_epoch)).flat_map(lambda i: tf.data.Dataset.from_tensors(i).repeat(steps))
        ds = tf.data.Dataset.choose_from_datasets(per_epoch, order)
        ds = ds.apply(tf.data.experimental.assert_cardinality(steps * (end - first)))
        return EpochLeg(ds.prefetch(tf.data.AUTOTUNE), first, end, steps)

    if first_step == 0:
        return [chain(first_epoch, epochs)], steps
    rest = one_epoch(first_epoch, first_step).apply(tf.data.experimental.assert_cardinality(steps - first_step))
    legs = [EpochLeg(rest.prefetch(tf.data.AUTOTUNE), first_epoch, first_epoch + 1, steps - first_step)]
    if first_epoch + 1 < epochs:
        legs.append(chain(first_epoch + 1, epochs))
    return legs, steps


def _block_of_batches(ds, block: int, count: int, index: int):
    """The examples at positions [index * block, (index + 1) * block) of every run of count * block."""
    import tensorflow as tf

    position = tf.data.Dataset.counter()
    mine = tf.data.Dataset.zip(position, ds).filter(lambda i, example: (i // block) % count == index)
    return mine.map(lambda i, example: example)


def _examples(data_dir, split, kind, window_mode, cache, verify, manifest, file_shuffle_seed, fold=None):
    """Parsed (stored-dtype) examples of a split (or of a role of `fold`), cached if asked, and how many
    there are."""
    import tensorflow as tf

    data_dir = Path(data_dir)
    manifest = manifest or read_manifest(data_dir)
    if window_mode not in WINDOW_MODES:
        raise ValueError(f"unknown window_mode {window_mode!r}; valid modes are {list(WINDOW_MODES)}")
    shape = manifest.shape(kind)
    parse = parse_function(kind, shape)
    if fold is None:
        entries = shard_entries(manifest, split, kind)
        if verify:
            verify_shards(data_dir, entries)
        clips = sum(e["records"] for e in entries)
        files = [str(data_dir / e["file"]) for e in entries]
        ds = _records(files, file_shuffle_seed).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        wanted = fold_track_ids(manifest, fold, split)
        keep = _in_set(wanted)
        ds = _all_records(data_dir, manifest, kind, verify, file_shuffle_seed).map(
            parse, num_parallel_calls=tf.data.AUTOTUNE
        )
        ds = ds.filter(lambda x, y, t: keep(t))
        clips = len(wanted)
    ds = ds.apply(tf.data.experimental.assert_cardinality(clips))
    if cache:
        ds = ds.cache()
    if get_kind(kind).windowed and window_mode == "flat":
        n_windows = shape[0]
        ds = ds.map(
            lambda x, y, t: (x, tf.repeat(y, n_windows), tf.repeat(t, n_windows)),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).unbatch()
        return ds.apply(tf.data.experimental.assert_cardinality(clips * n_windows)), clips * n_windows
    return ds, clips


def fold_track_ids(manifest: Manifest, fold: Fold, role: str) -> np.ndarray:
    """The sorted track ids of one role of a fold, every one of them a clip of this data set."""
    manifest.require_split(role)
    wanted = np.unique(np.asarray(getattr(fold, role), dtype=np.int64))
    held = np.asarray([c["track_id"] for c in manifest.clips], dtype=np.int64)
    foreign = np.setdiff1d(wanted, held)
    if len(foreign):
        raise ManifestError(
            f"fold {fold.name}: its {role} set names {len(foreign)} track(s) this data set does not "
            f"hold (first: {foreign[0]}); were the folds drawn from another data set?"
        )
    if len(wanted) == 0:
        raise ValueError(f"fold {fold.name}: its {role} set is empty")
    return wanted


def clip_count(manifest: Manifest, split: str, fold: Fold | None = None) -> int:
    """How many clips a split (or a role of `fold`) holds, from the manifest alone."""
    return manifest.clip_count(split) if fold is None else len(fold_track_ids(manifest, fold, split))


def _in_set(sorted_ids: np.ndarray):
    """A tf predicate: is a scalar track id among `sorted_ids` (a binary search, no table to keep)?"""
    import tensorflow as tf

    keys = tf.constant(sorted_ids, dtype=tf.int64)
    last = len(sorted_ids) - 1

    def keep(track_id):
        i = tf.searchsorted(keys, tf.reshape(track_id, [1]))[0]
        return tf.equal(tf.gather(keys, tf.minimum(i, last)), track_id)

    return keep


def _all_records(data_dir: Path, manifest: Manifest, kind: str, verify: bool, file_shuffle_seed: int | None):
    """The serialized records of every split folder, split after split, each in its one reading order."""
    parts = []
    for split in (s for s in SPLITS if s in manifest.shards):
        entries = shard_entries(manifest, split, kind)
        if verify:
            verify_shards(data_dir, entries)
        parts.append(_records([str(data_dir / e["file"]) for e in entries], file_shuffle_seed))
    ds = parts[0]
    for part in parts[1:]:
        ds = ds.concatenate(part)
    return ds


def _records(files: list[str], file_shuffle_seed: int | None = None):
    """The serialized records of a split's shards, in the one order every reader sees them."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(files)
    if file_shuffle_seed is not None:  # with a cache, the first epoch's file order would be replayed anyway
        ds = ds.shuffle(len(files), seed=file_shuffle_seed, reshuffle_each_iteration=True)
    return ds.interleave(
        lambda f: tf.data.TFRecordDataset(f, buffer_size=1 << 20),
        cycle_length=max(1, min(len(files), 8)),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def track_ids(data_dir: str | Path, split: str, fold: Fold | None = None) -> np.ndarray:
    """The track ids of a split's clips (or of a role of `fold`), in the order `load_arrays` and clip-mode
    datasets give them for every kind, without decoding any feature. Every kind's shards of a split hold the
    same clips in the same order (prepare writes them from one stream of results), so the smallest kind's are
    read."""
    import tensorflow as tf

    manifest = read_manifest(data_dir)
    kind = min(
        manifest.features, key=lambda k: np.prod(manifest.shape(k)) * np.dtype(get_kind(k).stored_dtype).itemsize
    )
    spec = {"track_id": tf.io.FixedLenFeature([], tf.int64)}
    if fold is None:
        files = [str(Path(data_dir) / e["file"]) for e in shard_entries(manifest, split, kind)]
        ds = _records(files).map(lambda r: tf.io.parse_single_example(r, spec)["track_id"])
    else:
        keep = _in_set(fold_track_ids(manifest, fold, split))
        ds = _all_records(Path(data_dir), manifest, kind, False, None)
        ds = ds.map(lambda r: tf.io.parse_single_example(r, spec)["track_id"]).filter(keep)
    return np.fromiter(ds.as_numpy_iterator(), dtype=np.int64)


def _finish(kind: str, with_track_id: bool):
    import tensorflow as tf

    feature_kind = get_kind(kind)

    def to_float(x):
        return feature_kind.to_input(x, cast=lambda v: tf.cast(v, tf.float32))

    if with_track_id:
        return lambda x, y, t: (to_float(x), y, t)
    return lambda x, y, t: (to_float(x), y)


def load_arrays(
    data_dir: str | Path, split: str, kind: str = "handcrafted", *, verify: bool = True, fold: Fold | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A whole split (or role of `fold`) as NumPy arrays: features, labels, track ids (shard order)."""
    manifest = read_manifest(data_dir)
    ds = make_dataset(
        data_dir,
        split,
        kind,
        batch_size=1024,
        training=False,
        window_mode="clip",
        with_track_id=True,
        cache=False,
        verify=verify,
        manifest=manifest,
        fold=fold,
    )
    xs, ys, ids = [], [], []
    for x, y, t in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
        ids.append(t)
    if not xs:
        shape = (0, *example_shape(kind, manifest.shape(kind), "clip"))
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


def model_input_shape(manifest: Manifest, kind: str, window_mode: str = "flat") -> tuple[int, ...]:
    """The shape of one example `x` as `make_dataset` delivers it (without the batch axis)."""
    return example_shape(kind, manifest.shape(kind), window_mode)


def example_shape(kind: str, stored: tuple[int, ...], window_mode: str) -> tuple[int, ...]:
    """The shape of one example `x` of a kind stored as `stored` (without the batch axis)."""
    return get_kind(kind).example_shape(stored, window_mode)
