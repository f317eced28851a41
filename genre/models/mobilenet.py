"""MobileNetV2 transfer learning on the log-Mel image: config, builder, ImageNet weights, fine-tuning.

Input: float32 `(224, 224, 1)` in [0, 1] (`genre.data.make_dataset(kind="mel")`). Inside the model the
image is rescaled to [-1, 1] (MobileNetV2's own preprocessing) and repeated to 3 channels, goes through
`keras.applications.MobileNetV2` without its top (the layer named `BASE_NAME`), then global average
pooling, dropout, an optional hidden dense layer and a softmax classifier.

Training runs in two phases, both driven by the trainer:
1. `build` returns the model with the base frozen (`trainable = False`, and called with
   `training=False` so its batch norms always use their moving statistics); only the head trains.
   With `weights="none"` the base is trained from scratch instead (`freeze_base` overrides), and
   there is no second phase.
2. `unfreeze_top(model, config)` makes the top `config.fine_tune_blocks` inverted-residual blocks
   trainable (batch norms stay frozen); the trainer then compiles again with
   `config.fine_tune_learning_rate` and trains `config.fine_tune_epochs` more epochs.

ImageNet weights are never downloaded: `weights="imagenet"` needs the file Keras would have cached
(`imagenet_weights_path`), and otherwise is a `FileNotFoundError` saying where to put it.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genre.models._common import BN_MOMENTUM, TRAINING_SPACE, Seeds, check_positive, check_rate
from genre.search_space import Choice, FloatParam, IntParam, SearchSpace

if TYPE_CHECKING:
    import keras

BASE_NAME = "mobilenetv2_base"
# Where and under which names keras.applications.mobilenet_v2 fetches its weights (keras 3.12 to 3.15).
WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
IMAGENET_ROWS = (96, 128, 160, 192, 224)
# MobileNetV2 has 17 inverted-residual blocks: "expanded_conv_*" (block 0), then "block_1_*" to "block_16_*".
NUM_BLOCKS = 17
# The 1x1 convolution above the last block, unfrozen with the top blocks.
TOP_LAYERS = ("Conv_1", "Conv_1_bn", "out_relu")


# What a tuner may vary: the head, and how deep and how fast the second phase fine-tunes the base.
SEARCH_SPACE: SearchSpace = {
    **TRAINING_SPACE,
    "dropout": FloatParam(0.0, 0.5),
    "dense_units": Choice((0, 128, 256)),
    "fine_tune_blocks": IntParam(0, 8),
    "fine_tune_learning_rate": FloatParam(1e-6, 1e-4, log=True),
}


@dataclass(frozen=True)
class MobileNetConfig:
    """weights: "imagenet" (Keras's cached file, never downloaded), "none" (random), or a weights file path.

    The base is frozen at build. fine_tune_blocks, fine_tune_learning_rate and fine_tune_epochs describe
    the trainer's second phase (see `unfreeze_top`); fine_tune_blocks = 0 or fine_tune_epochs = 0 skips it.
    seed: seeds the head's initialisers and dropout (the base, when not pretrained, follows
    `keras.utils.set_random_seed`).
    """

    alpha: float = 1.0
    weights: str = "imagenet"
    dropout: float = 0.2
    dense_units: int = 128
    fine_tune_blocks: int = 4
    fine_tune_learning_rate: float = 1e-5
    fine_tune_epochs: int = 5
    freeze_base: bool | None = None  # None: frozen when pretrained (imagenet or a file), trained with weights="none"
    seed: int = 0

    @property
    def frozen(self) -> bool:
        """Whether the base is frozen at build: random features frozen would teach the head nothing."""
        return self.freeze_base if self.freeze_base is not None else self.weights != "none"

    def __post_init__(self) -> None:
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive, got {self.alpha!r}")
        if not isinstance(self.weights, str) or not self.weights:
            raise ValueError(f'weights must be "imagenet", "none" or a path to a weights file, got {self.weights!r}')
        if self.weights == "imagenet" and float(self.alpha) not in IMAGENET_ALPHAS:
            raise ValueError(
                f"ImageNet weights exist only for alpha in {list(IMAGENET_ALPHAS)}, got alpha={self.alpha!r}; "
                'use weights="none" for another width'
            )
        check_rate("dropout", self.dropout)
        if isinstance(self.dense_units, bool) or not isinstance(self.dense_units, int) or self.dense_units < 0:
            raise ValueError(f"dense_units must be a non-negative integer, got {self.dense_units!r}")
        if not 0 <= self.fine_tune_blocks <= NUM_BLOCKS:
            raise ValueError(f"fine_tune_blocks must be in [0, {NUM_BLOCKS}], got {self.fine_tune_blocks!r}")
        if not self.fine_tune_learning_rate > 0:
            raise ValueError(f"fine_tune_learning_rate must be positive, got {self.fine_tune_learning_rate!r}")
        if self.fine_tune_epochs < 0:
            raise ValueError(f"fine_tune_epochs must be non-negative, got {self.fine_tune_epochs!r}")


def imagenet_weights_file(alpha: float, rows: int = 224) -> str:
    """The file name Keras gives the no-top MobileNetV2 ImageNet weights of this width and input size."""
    return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"


def imagenet_weights_path(alpha: float, rows: int = 224) -> Path:
    """Where `keras.utils.get_file` looks for (and would download) those weights.

    Mirrors `keras.src.utils.file_utils.get_file(fname, origin, cache_subdir="models")`: the Keras home
    (`$KERAS_HOME` as read when Keras was imported, else `~/.keras`, else `/tmp/.keras`), or
    `<tmp>/.keras` when that folder is not writable, then `models/<file>`.
    """
    from keras.src.backend.config import keras_home  # private, but the very function get_file uses

    base = os.path.expanduser(keras_home())
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(base) / "models" / imagenet_weights_file(alpha, rows)


def build(config: MobileNetConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """MobileNetV2 with a frozen base and a fresh head for `input_shape` = `(rows, cols, 1)`; uncompiled."""
    import keras

    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[2] != 1:
        raise ValueError(f"mobilenet expects a one-channel image (rows, cols, 1), got input_shape {input_shape}")
    if min(input_shape[:2]) < 32:
        raise ValueError(f"MobileNetV2 needs images of at least 32x32, got input_shape {input_shape}")
    check_positive("num_classes", num_classes)
    base_weights = _resolve_weights(config, input_shape)

    seeds = Seeds(config.seed)
    inputs = keras.Input(shape=input_shape, dtype="float32", name="mel")
    # [0, 1] to MobileNetV2's [-1, 1], then gray to the 3 channels its first convolution expects.
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_symmetric")(inputs)
    x = keras.layers.Concatenate(axis=-1, name="to_rgb")([x, x, x])
    base = keras.applications.MobileNetV2(
        input_shape=(*input_shape[:2], 3),
        alpha=config.alpha,
        include_top=False,
        weights=base_weights,
        name=BASE_NAME,
    )
    base.trainable = not config.frozen
    if not config.frozen:
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = BN_MOMENTUM
    # A frozen base runs its batch norms in inference mode; one trained from scratch updates them.
    x = base(x, training=False) if config.frozen else base(x)
    x = keras.layers.GlobalAveragePooling2D(name="global_average")(x)
    x = keras.layers.Dropout(config.dropout, seed=seeds.next(), name="dropout")(x)
    if config.dense_units:
        hidden = keras.layers.Dense(
            config.dense_units, activation="relu", kernel_initializer=seeds.kernel(), name="dense"
        )
        x = hidden(x)
    outputs = keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=seeds.kernel(), dtype="float32", name="probabilities"
    )(x)
    return keras.Model(inputs, outputs, name="mobilenet")


def unfreeze_top(model: keras.Model, config: MobileNetConfig) -> None:
    """Makes the top `config.fine_tune_blocks` inverted-residual blocks of the base trainable, in place.

    The base's final 1x1 convolution (`Conv_1`, above the last block) is unfrozen with them; every
    batch norm stays frozen, so it keeps its moving statistics and runs in inference mode. Compile the
    model again afterwards (a lower learning rate: `config.fine_tune_learning_rate`).
    """
    try:
        base = model.get_layer(BASE_NAME)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ValueError(
            f"model {model.name!r} has no MobileNetV2 base named {BASE_NAME!r}; its layers: {names}"
        ) from None
    import keras

    if config.fine_tune_blocks == 0:
        return
    first = NUM_BLOCKS - config.fine_tune_blocks
    base.trainable = True  # sets every sublayer's flag too; the loop below freezes all but the top
    for layer in base.layers:
        block = _block_index(layer.name)
        top = layer.name in TOP_LAYERS or (block is not None and block >= first)
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)


def _block_index(name: str) -> int | None:
    """The inverted-residual block a base layer belongs to (0 to 16), or None for the stem and the top conv."""
    if name.startswith("expanded_conv"):
        return 0
    match = re.match(r"block_(\d+)_", name)
    return int(match.group(1)) if match else None


def check_weights(config: MobileNetConfig, input_shape: tuple[int, ...]) -> None:
    """Fails now, with the message `build` would give, when the configured weights are not available."""
    _resolve_weights(config, tuple(input_shape))


def _resolve_weights(config: MobileNetConfig, input_shape: tuple[int, ...]) -> str | None:
    """What to pass to `keras.applications.MobileNetV2(weights=...)`, or a FileNotFoundError saying what is missing."""
    if config.weights == "none":
        return None
    if config.weights == "imagenet":
        rows, cols = input_shape[:2]
        # Keras loads the 224-row weights for any other size (with a warning); ask for what it will load.
        if rows != cols or rows not in IMAGENET_ROWS:
            raise ValueError(
                f"ImageNet weights exist only for square inputs of {list(IMAGENET_ROWS)} rows, got {input_shape}; "
                'use weights="none" or a weights file'
            )
        path = imagenet_weights_path(config.alpha, rows)
        if not path.is_file():
            raise FileNotFoundError(
                f"MobileNetV2 ImageNet weights (alpha={config.alpha}, {rows} rows, no top) not found at {path}. "
                f"Nothing is downloaded while building a model: `genre weights fetch mobilenet --alpha {config.alpha}"
                f"{'' if rows == 224 else f' --rows {rows}'}` gets it (or, offline, --file with a copy of "
                f"{WEIGHTS_URL}{path.name}); or use --weights PATH (a local weights file) or --weights none "
                "(random init)."
            )
        return "imagenet"
    path = Path(config.weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"MobileNetV2 weights file {config.weights!r} not found (resolved to {path.resolve()}); "
            'valid weights are "imagenet", "none" or the path of an existing weights file'
        )
    return str(path)
