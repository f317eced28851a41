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
