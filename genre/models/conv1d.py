"""The study's 1-D CNN on raw audio windows: its config and its builder.

Input: one window, float32 `(window_length, 1)` in [-1, 1] (`genre.data.make_dataset(kind="raw",
window_mode="flat")`; the default window is 10000 samples). Layers, as in the study: Conv1D 128 k3 ReLU,
MaxPool, Conv1D 64 k3 ReLU, MaxPool, Flatten, Dense 100 ReLU, Dropout 0.5, Dense 20 ReLU, Dropout 0.5,
Dense softmax. Every size is a field of `Conv1DConfig`. The builder returns an uncompiled model.

`pooling` chooses what joins the convolutions to the dense layers: the study's "flatten" (every
position its own weights: 16M of them into the first dense layer at the default sizes), or "average"
or "max" over time (one value per filter: the same weights wherever in the window a sound falls).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genre.models._common import TRAINING_SPACE, Seeds, check_positive, check_rate, positive_ints
from genre.search_space import Choice, FloatParam, IntParam, SearchSpace

if TYPE_CHECKING:
    import keras

POOLINGS = ("flatten", "average", "max")


@dataclass(frozen=True)
class Conv1DConfig:
    """Sizes of the study's net. `filters` and `dense_units` give one layer per value, in order.

    pooling: what joins the convolutions to the dense layers, one of `POOLINGS` (see the module's
    docstring). seed: seeds the initialisers and the dropout layers, so a config builds the same
    weights every time.
    """

    filters: tuple[int, ...] = (128, 64)
    kernel_size: int = 3
    pool_size: int = 2
    dense_units: tuple[int, ...] = (100, 20)
    dropout: float = 0.5
    pooling: str = "flatten"
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "filters", positive_ints("filters", self.filters))
        object.__setattr__(self, "dense_units", positive_ints("dense_units", self.dense_units, allow_empty=True))
        check_positive("kernel_size", self.kernel_size)
        check_positive("pool_size", self.pool_size)
        check_rate("dropout", self.dropout)
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; valid poolings are {list(POOLINGS)}")


# What a tuner may vary, around the study's sizes; the default window (10000 samples) fits all of it.
SEARCH_SPACE: SearchSpace = {
    **TRAINING_SPACE,
    "filters": Choice(("64,32", "128,64", "128,64,32")),
    "kernel_size": IntParam(3, 9, step=2),
    "dense_units": Choice(("100,20", "128", "64,32")),
    "dropout": FloatParam(0.0, 0.6),
    "pooling": Choice(POOLINGS),
}


def build(config: Conv1DConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """The study's Conv1D net for windows of `input_shape` = `(window_length, 1)`; uncompiled, softmax output."""
    import keras

    from genre.models.layers import BlockMaxPooling1D

    input_shape = tuple(input_shape)
    if len(input_shape) != 2:
        raise ValueError(f"conv1d expects input_shape (window_length, channels), got {input_shape}")
    check_positive("num_classes", num_classes)
    length = input_shape[0]
    for _ in config.filters:  # each block: a 'valid' convolution, then pooling
        length = (length - config.kernel_size + 1) // config.pool_size
    if length < 1:
        raise ValueError(
            f"window_length {input_shape[0]} is too short for {len(config.filters)} conv blocks "
            f"(kernel_size {config.kernel_size}, pool_size {config.pool_size})"
        )

    seeds = Seeds(config.seed)
    inputs = keras.Input(shape=input_shape, dtype="float32", name="window")
    x = inputs
    for i, filters in enumerate(config.filters, start=1):
        x = keras.layers.Conv1D(
            filters, config.kernel_size, activation="relu", kernel_initializer=seeds.kernel(), name=f"conv{i}"
        )(x)
        x = BlockMaxPooling1D(config.pool_size, name=f"pool{i}")(x)
    if config.pooling == "flatten":
        x = keras.layers.Flatten(name="flatten")(x)
    elif config.pooling == "average":
        x = keras.layers.GlobalAveragePooling1D(name="average_over_time")(x)
    else:
        x = keras.layers.GlobalMaxPooling1D(name="max_over_time")(x)
    for i, units in enumerate(config.dense_units, start=1):
        x = keras.layers.Dense(units, activation="relu", kernel_initializer=seeds.kernel(), name=f"dense{i}")(x)
        x = keras.layers.Dropout(config.dropout, seed=seeds.next(), name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=seeds.kernel(), dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="conv1d")
