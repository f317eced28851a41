"""The custom pooling layers: the same outputs and gradients as the Keras layers they replace, and the
same weights and saved files.

`block_max` itself runs on both backends; the layers use it on JAX and Keras's own pooling on
TensorFlow, so there the layer tests check that nothing else changed.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from genre.models import Conv1DConfig, MelCNNConfig, conv1d, load_model, melcnn
from genre.models.layers import BlockMaxPooling1D, BlockMaxPooling2D, block_max

# (input shape, pool size, data format): remainders dropped, one axis unpooled, a whole axis pooled.
CASES = [
    ((3, 11, 4), (2,), "channels_last"),
    ((3, 12, 4), (3,), "channels_last"),
    ((2, 4, 9), (2,), "channels_first"),
    ((2, 7, 9, 3), (2, 2), "channels_last"),
    ((2, 6, 9, 3), (1, 9), "channels_last"),
    ((2, 3, 7, 8), (2, 4), "channels_first"),
]
KERAS_POOLING = {BlockMaxPooling1D: keras.layers.MaxPooling1D, BlockMaxPooling2D: keras.layers.MaxPooling2D}


def gradient(fn, x: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    """d sum(fn(x) * upstream) / dx: a random upstream gradient, so every output's path is checked."""
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: keras.ops.sum(fn(v) * upstream))(x))
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(fn(x) * upstream)
    return tape.gradient(loss, x).numpy()


def parameter_gradients(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Gradients of the cross-entropy with respect to every trainable weight, in inference mode (no dropout)."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    if keras.backend.backend() == "jax":
        import jax

        def loss(trainable):
            out, _ = model.stateless_call(trainable, [v.value for v in model.non_trainable_variables], x)
            return loss_fn(y, out)

        return [np.asarray(g) for g in jax.grad(loss)([v.value for v in model.trainable_variables])]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = loss_fn(y, model(x, training=False))
    return [g.numpy() for g in tape.gradient(value, model.trainable_variables)]


def with_keras_pooling(model: keras.Model) -> keras.Model:
    """The same model, its block pooling layers replaced by the Keras layers, with the same weights."""

    def clone(layer):
        cls = KERAS_POOLING.get(type(layer), type(layer))
        return cls.from_config(layer.get_config())

    twin = keras.models.clone_model(model, clone_function=clone)
    twin.set_weights(model.get_weights())
    assert not any(type(layer) in KERAS_POOLING for layer in twin.layers)
    return twin


@pytest.mark.parametrize(("shape", "pool", "data_format"), CASES)
def test_block_max_matches_keras_max_pool_and_its_gradient(shape, pool, data_format):
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype("float32")  # continuous values: no ties

    def reference(v):
        return keras.ops.max_pool(v, pool, strides=pool, padding="valid", data_format=data_format)

    def ours(v):
        return block_max(v, pool, data_format)

    expected = keras.ops.convert_to_numpy(reference(x))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours(x)), expected)
    upstream = rng.normal(size=expected.shape).astype("float32")
    np.testing.assert_allclose(gradient(ours, x, upstream), gradient(reference, x, upstream), atol=1e-6)


@pytest.mark.parametrize(("shape", "pool", "data_format"), CASES)
def test_block_pooling_layers_match_the_keras_layers(shape, pool, data_format):
    cls = BlockMaxPooling1D if len(pool) == 1 else BlockMaxPooling2D
    ours, theirs = cls(pool, data_format=data_format), KERAS_POOLING[cls](pool, data_format=data_format)
    assert ours.get_config() | {"name": None} == theirs.get_config() | {"name": None}
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(theirs(x)))
    assert ours.compute_output_shape((None, *shape[1:])) == theirs.compute_output_shape((None, *shape[1:]))


def test_overlapping_windows_and_same_padding_keep_keras_pooling():
    x = np.random.default_rng(2).normal(size=(2, 9, 3)).astype("float32")
    for kwargs in ({"pool_size": 3, "strides": 2}, {"pool_size": 2, "padding": "same"}):
        ours, theirs = BlockMaxPooling1D(**kwargs)(x), keras.layers.MaxPooling1D(**kwargs)(x)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs))


NETS = [
    ("conv1d", conv1d.build, Conv1DConfig(filters=(6, 5), dense_units=(8,), seed=2), (64, 1), (-1.0, 1.0)),
    ("melcnn", melcnn.build, MelCNNConfig(channels=(4, 6), crop_frames=8, dense_units=8, seed=2), (16, 16, 1), (0, 1)),
]


@pytest.mark.parametrize(("name", "build", "config", "shape", "value_range"), NETS, ids=[n[0] for n in NETS])
def test_nets_compute_the_same_outputs_and_parameter_gradients_as_with_keras_pooling(
    name, build, config, shape, value_range
):
    model = build(config, shape, 3)
    assert any(type(layer) in KERAS_POOLING for layer in model.layers)
    twin = with_keras_pooling(model)
    rng = np.random.default_rng(3)
    x = rng.uniform(*value_range, size=(6, *shape)).astype("float32")
    y = np.arange(6) % 3
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    # ReLU's zeros tie in many pooling windows here: their gradient is zero with either layer.
    for ours, theirs in zip(parameter_gradients(model, x, y), parameter_gradients(twin, x, y), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_weights_saved_with_keras_pooling_load_and_the_saved_model_reloads(tmp_path):
    config = Conv1DConfig(filters=(4, 4), dense_units=(8,), seed=4)
    model = conv1d.build(config, (48, 1), 3)
    old = with_keras_pooling(conv1d.build(Conv1DConfig(filters=(4, 4), dense_units=(8,), seed=5), (48, 1), 3))
    old.save_weights(tmp_path / "old.weights.h5")  # a checkpoint of a net built with Keras's pooling
    model.load_weights(tmp_path / "old.weights.h5")
    x = np.random.default_rng(5).uniform(-1, 1, size=(4, 48, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), old.predict(x, verbose=0), atol=1e-6)

    model.save(tmp_path / "conv1d.keras")
    reloaded = load_model(tmp_path / "conv1d.keras")
    assert [type(layer) for layer in reloaded.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
