"""The tf.data reader: round trips, cardinality, shuffling, integrity, and use by model.fit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from genre.data.audio import load_clip
from genre.data.features import compute_features, to_model_input
from genre.data.fma import load_fma_catalog
from genre.data.manifest import ManifestError, read_manifest
from genre.data.pipeline import load_arrays, make_dataset, model_input_shape
from tests.conftest import tiny_features


@pytest.mark.parametrize("kind", ["raw", "mel", "handcrafted"])
def test_every_feature_round_trips_through_tfrecords(prepared, synth_root, kind):
    x, y, ids = load_arrays(prepared, "test", kind)
    manifest = read_manifest(prepared)
    catalog = load_fma_catalog(synth_root).tracks.set_index("track_id")
    assert len(x) == len(y) == len(ids) == manifest.clip_count("test")
    config = tiny_features()
    for i in range(len(ids)):
        row = catalog.loc[int(ids[i])]
        assert manifest.genres[y[i]] == row["genre"]
        with threadpool_limits(1):  # prepare's arithmetic: one BLAS thread
            stored = compute_features(load_clip(row["path"], config.audio), config)[kind]
        expected = to_model_input(kind, stored)
        np.testing.assert_array_equal(x[i].reshape(expected.shape), expected)


def test_shapes_and_known_cardinality(prepared):
    manifest = read_manifest(prepared)
    n_train = manifest.clip_count("train")
    for kind, window_mode, examples in [
        ("raw", "flat", n_train * 3),
        ("raw", "clip", n_train),
        ("mel", "flat", n_train),
        ("handcrafted", "flat", n_train),
    ]:
        ds = make_dataset(prepared, "train", kind, batch_size=5, window_mode=window_mode)
        assert int(ds.cardinality()) == -(-examples // 5)
        x, y = next(iter(ds))
        assert tuple(x.shape[1:]) == model_input_shape(manifest, kind, window_mode)
        assert x.dtype.name == "float32" and y.dtype.name == "int32"
        assert sum(int(b[1].shape[0]) for b in ds) == examples


def test_raw_flat_windows_keep_their_clip_label(prepared):
    ds = make_dataset(prepared, "validation", "raw", batch_size=100, with_track_id=True)
    _, y, ids = next(iter(ds))
    by_track = {}
    for label, track in zip(y.numpy(), ids.numpy(), strict=True):
        by_track.setdefault(track, set()).add(label)
    assert all(len(labels) == 1 for labels in by_track.values())
    assert all(list(ids.numpy()).count(t) == 3 for t in by_track)


def test_training_order_is_shuffled_by_the_seed_and_evaluation_order_is_fixed(prepared):
    def order(**kwargs):
        ds = make_dataset(prepared, "train", "handcrafted", batch_size=64, with_track_id=True, **kwargs)
        return [int(t) for _, _, ids in ds for t in ids]

    assert order(training=True, seed=1) == order(training=True, seed=1)
    assert order(training=True, seed=1) != order(training=True, seed=2)
    assert order(training=False) == order(training=False)
    assert sorted(order(training=True, seed=1)) == sorted(order(training=False))


def test_a_corrupt_shard_is_an_error_naming_it(tmp_path, prepared):
    copy = tmp_path / "data"
    shutil.copytree(prepared, copy)
    shard = copy / read_manifest(copy).shards["train"]["mel"][0]["file"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=str(shard)):
        make_dataset(copy, "train", "mel")
    shard.unlink()
    with pytest.raises(ManifestError, match="missing"):
        make_dataset(copy, "train", "mel")


def test_unknown_split_or_kind_lists_the_valid_ones(prepared):
    with pytest.raises(ManifestError, match="valid splits"):
        make_dataset(prepared, "training", "mel")
    with pytest.raises(ManifestError, match="has no 'spectrogram' features"):
        make_dataset(prepared, "train", "spectrogram")
    with pytest.raises(ManifestError, match="no manifest"):
        make_dataset(prepared / "nowhere", "train", "mel")


def test_model_fit_consumes_the_pipeline_on_this_backend(prepared):
    import keras

    manifest = read_manifest(prepared)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(model_input_shape(manifest, "handcrafted")),
            keras.layers.Normalization(),
            keras.layers.Dense(len(manifest.genres), activation="softmax"),
        ]
    )
    x_train, _, _ = load_arrays(prepared, "train")
    model.layers[0].adapt(x_train)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    train = make_dataset(prepared, "train", "handcrafted", batch_size=8)
    history = model.fit(
        train,
        validation_data=make_dataset(prepared, "validation", "handcrafted"),
        epochs=15,
        shuffle=False,
        verbose=0,
    )
    assert len(history.history["loss"]) == 15
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.5  # 16 clips, 351 features: it can fit the training set


def test_epochs_depend_only_on_seed_and_epoch_number(prepared):
    from genre.data.pipeline import make_epochs

    def batches(first_epoch, **kwargs):
        ds, steps = make_epochs(
            prepared, "train", "handcrafted", first_epoch=first_epoch, epochs=4, batch_size=4, seed=9, **kwargs
        )
        labels = [y.numpy().tolist() for _, y in ds]
        return labels, steps

    full, steps = batches(0)
    resumed, _ = batches(2)
    assert steps == 4 and len(full) == 4 * steps
    assert resumed == full[2 * steps :]
    assert full[:steps] != full[steps : 2 * steps]  # a new order every epoch
    limited, limited_steps = batches(0, limit_batches=1)
    assert limited_steps == 1 and len(limited) == 4


def test_epoch_legs_resume_inside_an_epoch_with_the_batches_an_uninterrupted_run_has(prepared):
    from genre.data.pipeline import make_epoch_legs, make_epochs

    settings = {"epochs": 3, "batch_size": 4, "seed": 9}
    full, steps = make_epochs(prepared, "train", "handcrafted", first_epoch=0, **settings)
    expected = [x.numpy() for x, _ in full]
    legs, _ = make_epoch_legs(prepared, "train", "handcrafted", first_epoch=1, first_step=3, **settings)
    assert [(leg.first_epoch, leg.end_epoch, leg.steps) for leg in legs] == [(1, 2, steps - 3), (2, 3, steps)]
    assert [leg.batches.cardinality().numpy() for leg in legs] == [steps - 3, steps]
    resumed = [x.numpy() for leg in legs for x, _ in leg.batches]
    assert len(resumed) == len(expected[steps + 3 :])
    assert all(np.array_equal(a, b) for a, b in zip(resumed, expected[steps + 3 :], strict=True))
    with pytest.raises(ValueError, match=f"need 0 <= first_step < {steps}"):
        make_epoch_legs(prepared, "train", "handcrafted", first_epoch=1, first_step=steps, **settings)


def test_a_fold_reads_exactly_its_track_ids_from_every_split_folder(prepared):
    from genre.data.folds import manifest_folds
    from genre.data.pipeline import make_epochs, track_ids

    manifest = read_manifest(prepared)
    label_of = {c["track_id"]: manifest.genres.index(c["genre"]) for c in manifest.clips}
    fold = manifest_folds(manifest, k=3, seed=5)[1]
    windows = manifest.shape("raw")[0]
    for role in ("train", "validation", "test"):
        wanted = getattr(fold, role).tolist()
        # Folds cut across the stored splits, so each role reads from more than one split folder.
        assert len({c["split"] for c in manifest.clips if c["track_id"] in wanted}) > 1
        x, y, ids = load_arrays(prepared, role, "handcrafted", fold=fold)
        assert sorted(ids.tolist()) == wanted and len(x) == len(wanted)
        assert y.tolist() == [label_of[int(t)] for t in ids]
        assert track_ids(prepared, role, fold=fold).tolist() == ids.tolist()
        flat = make_dataset(prepared, role, "raw", batch_size=5, training=False, with_track_id=True, fold=fold)
        assert flat.cardinality().numpy() == -(-len(wanted) * windows // 5)
        flat_ids = np.concatenate([t for _, _, t in flat.as_numpy_iterator()])
        assert sorted(flat_ids.tolist()) == sorted(wanted * windows)
    epochs, steps = make_epochs(prepared, "train", "handcrafted", first_epoch=0, epochs=2, batch_size=4, fold=fold)
    assert steps == -(-len(fold.train) // 4) and epochs.cardinality().numpy() == 2 * steps


def test_a_fold_trains_in_an_order_that_depends_on_the_seed_only(prepared):
    from genre.data.folds import manifest_folds

    fold = manifest_folds(read_manifest(prepared), k=3, seed=5)[0]

    def order(seed):
        ds = make_dataset(prepared, "train", "handcrafted", batch_size=64, with_track_id=True, seed=seed, fold=fold)
        return [int(t) for _, _, ids in ds for t in ids]

    assert order(1) == order(1) and order(1) != order(2)
    assert sorted(order(1)) == fold.train.tolist()


def test_a_fold_naming_clips_the_data_set_lacks_is_an_error(prepared):
    from genre.data.folds import Fold

    stranger = Fold(0, 0, np.array([1, 2]), np.array([3]), np.array([999_999]))
    with pytest.raises(ManifestError, match=r"fold r0-f0: its test set names 1 track\(s\) .*first: 999999"):
        load_arrays(prepared, "test", "handcrafted", fold=stranger)
