"""Our short-chunk 2-D CNN on the log-Mel image, built to beat the study's nets: config and builder.

After Won et al. (2020), "Evaluation of CNN-based automatic music tagging models": blocks of 3x3
convolution, batch normalisation, ReLU and 2x2 max pooling, then global max pooling over frequency
and time and a small dense head. The net is fully convolutional, so it trains on random crops of
`crop_frames` time frames (a `RandomTimeCrop` layer, active in training only, seeded from the
config) and at inference scores the whole image, the global max pooling aggregating over all frames.

Input: float32 `(n_mels, frames, 1)` in [0, 1], `(224, 224, 1)` by default
(`genre.data.make_dataset(kind="mel")`). The builder returns an uncompiled model with softmax output.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genre.models._common import BN_MOMENTUM, TRAINING_SPACE, Seeds, check_positive, check_rate, positive_ints
from genre.search_space import Choice, FloatParam, SearchSpace

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class MelCNNConfig:
    """channels: output channels of each conv block; there are `len(channels)` blocks, each halving both axes.

    crop_frames: time frames of the random training crop; at least 2**blocks so the last block has input.
    dense_units: the hidden dense layer of the head (0: none, global pooling straight to the classifier).
    seed: seeds the initialisers, the dropout and the crop, so a config builds the same model every time.
    """

    channels: tuple[int, ...] = (32, 32, 64, 64, 128, 128)
    crop_frames: int = 96
    dense_units: int = 256
    dropout: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", positive_ints("channels", self.channels))
        check_positive("crop_frames", self.crop_frames)
        if isinstance(self.dense_units, bool) or not isinstance(self.dense_units, int) or self.dense_units < 0:
            raise ValueError(f"dense_units must be a non-negative integer, got {self.dense_units!r}")
        check_rate("dropout", self.dropout)
        if self.crop_frames < 2 ** len(self.channels):
            raise ValueError(
                f"crop_frames {self.crop_frames} is too short for {len(self.channels)} blocks of 2x2 pooling: "
                f"it must be at least {2 ** len(self.channels)}"
            )

    @property
    def blocks(self) -> int:
        return len(self.channels)


# What a tuner may vary: depth and width of the blocks, the training crop, the head. Every crop here
# is at least 2**6 frames, so it suits the deepest choice; the default image has 224 frames.
SEARCH_SPACE: SearchSpace = {
    **TRAINING_SPACE,
    "channels": Choice(("32,32,64,64,128", "32,32,64,64,128,128", "64,64,128,128,256,256")),
    "crop_frames": Choice((64, 96, 128)),
    "dense_units": Choice((0, 128, 256)),
    "dropout": FloatParam(0.0, 0.6),
}


def build(config: MelCNNConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """The short-chunk CNN for Mel images of `input_shape` = `(n_mels, frames, 1)`; uncompiled, softmax output."""
    import keras

    from genre.models.layers import BlockMaxPooling2D, RandomTimeCrop

    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"melcnn expects input_shape (n_mels, frames, channels), got {input_shape}")
    check_positive("num_classes", num_classes)
    n_mels, frames = input_shape[0], input_shape[1]
    if n_mels < 2**config.blocks:
        raise ValueError(f"{n_mels} Mel bands are too few for {config.blocks} pooling blocks: need {2**config.blocks}")
    if config.crop_frames > frames:
        raise ValueError(f"crop_frames {config.crop_frames} exceeds the {frames} frames of the input {input_shape}")

    seeds = Seeds(config.seed)
    inputs = keras.Input(shape=input_shape, dtype="float32", name="mel")
    x = RandomTimeCrop(config.crop_frames, axis=2, seed=seeds.next(), name="time_crop")(inputs)
    # A learned affine normalisation of the [0, 1] image, as the paper's input batch norm.
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="input_bn")(x)
    for i, channels in enumerate(config.channels, start=1):
        x = keras.layers.Conv2D(
            channels, 3, padding="same", use_bias=False, kernel_initializer=seeds.he(), name=f"block{i}_conv"
        )(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn")(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
        x = BlockMaxPooling2D(2, name=f"block{i}_pool")(x)
    x = keras.layers.GlobalMaxPooling2D(name="global_max")(x)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, use_bias=False, kernel_initializer=seeds.he(), name="dense")(x)
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="dense_bn")(x)
        x = keras.layers.ReLU(name="dense_relu")(x)
    x = keras.layers.Dropout(config.dropout, seed=seeds.next(), name="dropout")(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=seeds.kernel(), dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="melcnn")
