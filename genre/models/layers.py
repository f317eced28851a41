"""The custom Keras layers the model builders use, registered so a `.keras` file reloads anywhere.

Every layer here is plain Keras 3 (`keras.ops`, `keras.random`), registered under the package
name "genre" with a complete `get_config`, so a model saved under one backend loads under the other
with `keras.saving.load_model` and no `custom_objects`, once this module has been imported
(`genre.models.load_model` does that). This module imports Keras at import time; the builders import
it lazily, so `import genre.models` stays cheap.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="genre")
class RandomTimeCrop(keras.layers.Layer):
    """In training, a random window of `frames` steps along `axis`, drawn per example; else the identity.

    A fully convolutional net trained on short crops then sees the whole input at inference, where its
    global pooling aggregates over all of it. Inputs no longer than `frames` pass through unchanged.
    """

    def __init__(self, frames: int, axis: int = 2, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        if axis == 0:
            raise ValueError("axis 0 is the batch axis; crop along a feature axis (for example 2, time)")
        self.frames = int(frames)
        self.axis = int(axis)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training: bool | None = None):
        length = inputs.shape[self.axis]
        if not training or length is None or length <= self.frames:
            return inputs
        rank = len(inputs.shape)
        axis = self.axis % rank
        batch = ops.shape(inputs)[0]
        # One offset per example (not per batch), so every batch mixes crops from the whole clip.
        offsets = keras.random.randint((batch,), 0, length - self.frames + 1, dtype="int32", seed=self.seed_generator)
        indices = offsets[:, None] + ops.arange(self.frames, dtype="int32")[None, :]
        shape = [1] * rank
        shape[0] = -1
        shape[axis] = self.frames
        return ops.take_along_axis(inputs, ops.reshape(indices, shape), axis=axis)

    def compute_output_shape(self, input_shape):
        # The length along `axis` depends on the training flag, so it is unknown to the graph.
        shape = list(input_shape)
        shape[self.axis] = None
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "frames": self.frames, "axis": self.axis, "seed": self.seed}


def block_max(inputs, pool_size: tuple[int, ...], data_format: str = "channels_last"):
    """The max over non-overlapping windows of `pool_size` along the spatial axes ('valid': a remainder
    too short for a window is dropped), as a reshape that splits each pooled axis into (windows,
    pool) and a max over the pool axes.

    Its gradient goes to the window's maximum through an elementwise mask (shared evenly by tied
    maxima), where XLA:CPU expands the gradient of a max-pooling window (select-and-scatter) into
    index tensors and a scatter the size of the input.
    """
    rank = len(inputs.shape)
    first = 1 if data_format == "channels_last" else 2
    spatial = range(first, first + len(pool_size))
    shape = ops.shape(inputs)  # ints where known; tensors on TensorFlow for unknown sizes
    crop = [slice(None)] * rank
    target, pooled = [-1], []
    for axis in range(1, rank):
        pool = pool_size[axis - first] if axis in spatial else 1
        if pool == 1:
            target.append(shape[axis])
            continue
        windows = shape[axis] // pool
        crop[axis] = slice(0, windows * pool)
        pooled.append(len(target) + 1)
        target += [windows, pool]
    return ops.max(ops.reshape(inputs[tuple(crop)], target), axis=tuple(pooled))


class _BlockMaxMixin:
    """`call` of a Keras max-pooling layer whose windows do not overlap, through `block_max`; other
    strides, 'same' padding and the TensorFlow backend keep Keras's own pooling. Config, output shape
    and weights (none) are the Keras layer's, so a model built with either layer computes the same and
    loads the same weights. In front of a ReLU's output, as in every net here, tied maxima are its
    zeros, whose gradient is zero either way: the nets' parameter gradients are the same too."""

    def call(self, inputs):
        # TensorFlow's own pooling kernels, gradient included, are faster on CPU than a reshape and a
        # max (measured: scripts/bench_backend_step.py); XLA (the JAX backend) is the other way round.
        if (
            keras.backend.backend() == "tensorflow"
            or self.padding != "valid"
            or tuple(self.strides) != tuple(self.pool_size)
        ):
            return super().call(inputs)
        return block_max(inputs, tuple(self.pool_size), self.data_format)


@keras.saving.register_keras_serializable(package="genre")
class BlockMaxPooling1D(_BlockMaxMixin, keras.layers.MaxPooling1D):
    """`keras.layers.MaxPooling1D`, computed by `block_max` when windows do not overlap (strides = pool size)."""


@keras.saving.register_keras_serializable(package="genre")
class BlockMaxPooling2D(_BlockMaxMixin, keras.layers.MaxPooling2D):
    """`keras.layers.MaxPooling2D`, computed by `block_max` when windows do not overlap (strides = pool size)."""
