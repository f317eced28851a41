"""Batch-norm statistics recomputed before validation: the mechanism, and nets that learn on small data.

Without `BatchNormUpdate` the moving averages lag the weights when an epoch has few steps, and
MobileNetV2 from scratch predicted one genre for every clip (training clips included) while it fit
them in training mode.
"""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest

from genre.train.callbacks import batch_norms, update_batch_norm


def _lagging_net(seed: int = 0) -> keras.Model:
    """Dense -> BN -> ReLU -> Dense -> BN, with Keras's default momentum: 0.99, so after a few steps
    the moving statistics are still near their initial values."""
    init = keras.initializers.GlorotUniform(seed=seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(16, kernel_initializer=init)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Dense(3, kernel_initializer=init)(x)
    outputs = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, outputs)


def _data(n: int = 64):
    rng = np.random.default_rng(0)
    # Far from zero mean and unit variance, so the initial moving statistics are badly wrong.
    x = (rng.normal(size=(n, 6)) * 5 + 3).astype("float32")
    y = rng.normal(size=(n, 3)).astype("float32")
    return x, y


def test_recomputed_statistics_make_inference_match_the_learned_weights():
    keras.utils.set_random_seed(0)
    model = _lagging_net()
    x, y = _data()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0)
    learned = keras.ops.convert_to_numpy(model(x, training=True))  # what the weights give: batch statistics
    before = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.abs(before - learned).max() > 1.0  # the lag this guards against

    assert update_batch_norm(model, [(x, y)]) == 1
    after = keras.ops.convert_to_numpy(model(x, training=False))
    np.testing.assert_allclose(after, learned, atol=1e-4)
    # The momenta are restored for training.
    assert [layer.momentum for layer in batch_norms(model)] == [0.99, 0.99]


def test_averages_batch_moments_over_batches_and_leaves_weights_alone():
    model = _lagging_net()
    x, _ = _data()
    weights = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert update_batch_norm(model, [x[:32], x[32:]]) == 2
    first = batch_norms(model)[0]
    hidden = keras.ops.convert_to_numpy(model.layers[1](x))
    expected = (hidden[:32].mean(0) + hidden[32:].mean(0)) / 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.moving_mean), expected, rtol=1e-4, atol=1e-4)
    expected_var = (hidden[:32].var(0) + hidden[32:].var(0)) / 2
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.moving_variance), expected_var, rtol=1e-4)
    for w, v in zip(weights, model.trainable_weights, strict=True):
        np.testing.assert_array_equal(w, keras.ops.convert_to_numpy(v))


def _stats(model) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(v) for n in batch_norms(model) for v in (n.moving_mean, n.moving_variance)]


def test_batch_norms_in_inference_mode_keep_their_statistics():
    """A frozen base (called with training=False), as musicnn's and MobileNetV2's pretrained ones."""
    base = _lagging_net()
    base.trainable = False
    inputs = keras.Input((6,))
    outputs = keras.layers.BatchNormalization(name="head_bn")(base(inputs, training=False))
    model = keras.Model(inputs, outputs)
    x, _ = _data()
    kept = _stats(base)
    head = keras.ops.convert_to_numpy(base(x, training=False))
    update_batch_norm(model, [x])
    for a, b in zip(kept, _stats(base), strict=True):
        np.testing.assert_array_equal(a, b)
    # The head's batch norm, in training mode, did take the moments of what the frozen base gives.
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("head_bn").moving_mean), head.mean(0), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("phase", ["frozen", "fine-tuning"])
def test_musicnn_pretrained_batch_norms_stay_in_inference_mode(phase):
    from genre.models import musicnn

    config = musicnn.MusicnnConfig(weights="none", freeze_base=True)  # the pretrained layout, random weights
    model = musicnn.build(config, (16, musicnn.N_MELS), 4)
    if phase == "fine-tuning":
        musicnn.unfreeze(model, config)
    x = np.random.default_rng(0).normal(size=(4, 16, musicnn.N_MELS)).astype("float32")
    kept = _stats(model)
    assert len(kept) == 2 * len(batch_norms(model.get_layer(musicnn.BASE_NAME))) > 0

    def batches():
        raise AssertionError("a forward pass ran, with no batch norm to recompute")
        yield x

    # Every batch norm is frozen and the head has none: no forward pass at all (it costs as much as
    # the training epoch's forward passes).
    assert update_batch_norm(model, batches()) == 0
    for a, b in zip(kept, _stats(model), strict=True):
        np.testing.assert_array_equal(a, b)


# ---- end to end: nets with batch norm learn on a small generated set --------------------------------


@pytest.fixture(scope="module")
def small_mel(tmp_path_factory):
    """96 generated clips of 3 s (8 genres, 80 training, 8 validation), as 64x64 Mel images: 3 steps
    an epoch at batch 32, where MobileNetV2's moving statistics never caught up."""
    from genre.data.features import MelConfig
    from genre.data.fma import load_fma_catalog
    from genre.data.prepare import prepare
    from genre.synth.dataset import SynthConfig, write_synthetic_fma
    from tests.conftest import tiny_features, tiny_prepare

    root = tmp_path_factory.mktemp("synth-bn") / "fma"
    write_synthetic_fma(
        root,
        SynthConfig(
            tracks_per_genre=12, seed=11, seconds=3.0, sample_rate=22050, channels=1, workers=1, progress=False
        ),
    )
    out = tmp_path_factory.mktemp("prepared-bn") / "data"
    features = tiny_features(kinds=("mel",), mel=MelConfig(n_mels=64, frames=64))
    prepare(load_fma_catalog(root), out, tiny_prepare(features=features, shard_size=32))
    return out


def fit_and_score(data, model: str, **settings) -> dict:
    """Trains `model` on `data`; returns the run's metrics and, for its last checkpoint in inference
    mode, its accuracy and the number of genres it predicts on the training clips, the training
    accuracy of the last epoch (in training mode: batch statistics), and how far the checkpoint's
    moving statistics are from those recomputed from the trainer's batches on its weights."""
    from genre.models import load_model
    from genre.train.config import apply_overrides
    from genre.train.data_module import DataModule
    from genre.train.fit import default_config, train_and_evaluate
    from genre.train.inference import predict_split

    base = {"data": str(data), "progress": "false", "tensorboard": "false", "early_stopping_patience": "none"}
    config = apply_overrides(default_config(model), {**base, **{k: str(v) for k, v in settings.items()}})
    run = data.parent.parent / f"run-{model}-{len(list(data.parent.parent.glob('run-*')))}"
    metrics = train_and_evaluate(config, run, evaluate_test=False)
    last = load_model(run / "checkpoints" / "last" / "model.keras")
    module = DataModule.from_config(config.data, "mel", "flat", 0, splits=("train",))
    probabilities, labels, _, _ = predict_split(last, module.clips("train"))
    predicted = probabilities.argmax(1)
    with (run / "logs" / "metrics.csv").open() as rows:
        fitted = float(list(csv.DictReader(rows))[-1]["accuracy"])
    saved = _stats(last)
    # The trainer's batches: it drops a last partial batch whenever there is a full one.
    exact = module.steps_per_epoch(exact_batches=True) >= 1
    update_batch_norm(last, module.train_sample(32, exact))  # the default bn_update_batches
    return {
        **metrics,
        "train_accuracy": float(np.mean(predicted == labels)),
        "train_genres": len(set(predicted)),
        "fitted_accuracy": fitted,
        # Per layer, the mean absolute difference relative to the mean magnitude; the median layer.
        "statistics_gap": float(
            np.median([np.abs(a - b).mean() / np.abs(b).mean() for a, b in zip(saved, _stats(last), strict=True)])
        ),
    }


@pytest.mark.slow
def test_mobilenet_from_scratch_leaves_the_one_class_state(small_mel):
    # Without the recomputation: one genre for all 80 training clips (10 of them), after 3 epochs.
    m = fit_and_score(
        small_mel, "mobilenet", weights="none", alpha=0.35, dense_units=16, fine_tune_epochs=0, max_epochs=3
    )
    assert m["train_genres"] >= 3, m
    assert m["train_accuracy"] > 1 / 8, m


def test_melcnn_checkpoint_holds_statistics_recomputed_for_its_weights(small_mel):
    # The recomputation depends on the weights, not on the statistics it replaces (the forward pass
    # normalises with batch moments), so recomputing again on the saved checkpoint gives back about
    # what it holds: random crops and dropout in that training-mode pass leave a median layer 1%
    # off (TensorFlow and JAX). With `bn_update_batches=0` the checkpoint holds Keras's lagging
    # moving averages instead, and the median layer is 18% off.
    m = fit_and_score(small_mel, "melcnn", channels="8,16,16,32", crop_frames=32, dense_units=16, max_epochs=8)
    assert m["statistics_gap"] < 0.05, m
    # And inference scores the training clips about as training fit them: a gross lag shows as one
    # genre for every clip. (80 clips: a few points either way are noise between the two, which
    # differ in dropout and crops too; without the recomputation it was 19% against 28%.)
    assert m["train_genres"] >= 3, m
    assert m["train_accuracy"] >= m["fitted_accuracy"] - 0.10, m
