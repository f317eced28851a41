"""musicnn in Keras 3: the pretrained music taggers of Pons and Serra (ISMIR 2019), for tags, embeddings
and transfer learning to genres.

Input: log-Mel patches, float32 `(frames, 96)` (`genre.data.make_dataset(kind="musicnn")`: 187 frames of
16 kHz audio, n_fft 512, hop 256, log10(10000·mel + 1)). Four published variants (`VARIANTS`), trained on
the Million Song Dataset's or MagnaTagATune's 50 most frequent tags:

- `*_musicnn` (about 790k parameters): a musically motivated front end (input batch norm; "timbral"
  filters 7 frames x 38 and x 67 bands, and "temporal" filters 128, 64 and 32 frames x 1 band, each
  followed by batch norm and a max over frequency), a mid end of three 1-D convolutions (64 filters, 7
  frames) with residual connections whose outputs are concatenated with the front end's (dense
  connections, 753 channels), and a back end of temporal max and mean pooling (interleaved per channel),
  batch norm, dense 200 ReLU + batch norm (`penultimate`) and the 50 tag logits.
- `*_vgg`: five 3x3 convolution blocks of 128 filters with batch norm and max pooling; the flattened
  last pooling (256 values) feeds the 50 tag logits. Fixed input of 187 frames.

`build_tagger` is the published network (outputs named in `TAGGER_OUTPUTS`); its layers map one to one
onto the checkpoint's TensorFlow 1 variables (`checkpoint_map`), which `genre weights fetch musicnn`
converts once into Keras weight files (`genre.weights.musicnn`). `build` is the genre classifier for the
trainer: the tagger (named `BASE_NAME`) without its tag layer, and a new head on one of its outputs
(`head_input`). Training runs in two phases like `genre.models.mobilenet`: the base frozen (batch norms in
inference mode), then `unfreeze` makes every base layer but the batch norms trainable for
`fine_tune_epochs` at `fine_tune_learning_rate`. With `weights="none"` the net trains from scratch.

`predict_patches` runs a tagger over patches; `genre.models.musicnn_embeddings` turns its outputs into
clip features for the classic baselines, and `genre.tags` is `genre tags`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genre.models._common import BN_MOMENTUM, TRAINING_SPACE, Seeds, check_rate
from genre.search_space import Choice, FloatParam, SearchSpace

if TYPE_CHECKING:
    import keras

N_MELS = 96
PATCH_FRAMES = 187
BASE_NAME = "musicnn_base"
# The output tags of each training set, in the checkpoints' output order (the package's own lists).
MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House",
    "happy",
)  # fmt: skip
MTT_TAGS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano", "ambient",
    "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing", "vocals", "no vocals",
    "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal", "beats", "harp", "cello",
    "no voice", "weird", "country", "metal", "female voice", "choral",
)  # fmt: skip
VARIANTS: dict[str, str] = {
    "MSD_musicnn": "musicnn",
    "MTT_musicnn": "musicnn",
    "MSD_vgg": "vgg",
    "MTT_vgg": "vgg",
}
# What the tagger model returns, in order (the names the original extractor gives these arrays).
TAGGER_OUTPUTS = {
    "musicnn": ("taggram", "penultimate", "mean_pool", "max_pool"),
    "vgg": ("taggram", "pool5"),
}
HEAD_INPUTS = {"musicnn": ("penultimate", "mean_pool", "max_pool"), "vgg": ("pool5",)}
# Keras layer -> checkpoint variable scope, and which layers are the tag output. Names of the TF 1
# layers follow their creation order in the original graph; the shapes confirm each pairing.
_MUSICNN_LAYERS = (
    ("input_bn", "batch_normalization"),
    ("timbral_74", "conv2d"),
    ("timbral_74_bn", "batch_normalization_1"),
    ("timbral_77", "conv2d_1"),
    ("timbral_77_bn", "batch_normalization_2"),
    ("temporal_128", "conv2d_2"),
    ("temporal_128_bn", "batch_normalization_3"),
    ("temporal_64", "conv2d_3"),
    ("temporal_64_bn", "batch_normalization_4"),
    ("temporal_32", "conv2d_4"),
    ("temporal_32_bn", "batch_normalization_5"),
    ("mid_conv1", "conv2d_5"),
    ("mid_conv1_bn", "batch_normalization_6"),
    ("mid_conv2", "conv2d_6"),
    ("mid_conv2_bn", "batch_normalization_7"),
    ("mid_conv3", "conv2d_7"),
    ("mid_conv3_bn", "batch_normalization_8"),
    ("pool_bn", "batch_normalization_9"),
    ("dense", "dense"),
    ("penultimate", "batch_normalization_10"),
    ("tags", "dense_1"),
)
_VGG_LAYERS = (
    ("input_bn", "batch_normalization"),
    *((f"conv{i}", f"{i}CNN") for i in range(1, 6)),
    *((f"conv{i}_bn", f"batch_normalization_{i}") for i in range(1, 6)),
    ("tags", "dense"),
)


def tags_of(variant: str) -> tuple[str, ...]:
    check_variant(variant)
    return MSD_TAGS if variant.startswith("MSD") else MTT_TAGS


def check_variant(variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(f"unknown musicnn variant {variant!r}; valid variants are {list(VARIANTS)}")
    return VARIANTS[variant]


def checkpoint_map(variant: str) -> tuple[tuple[str, str], ...]:
    """(Keras layer name, checkpoint variable scope) of every layer with weights in `build_tagger(variant)`."""
    return _MUSICNN_LAYERS if check_variant(variant) == "musicnn" else _VGG_LAYERS


# What a tuner may vary: the head, and the second phase's learning rate (it fine-tunes the whole base).
SEARCH_SPACE: SearchSpace = {
    **TRAINING_SPACE,
    "dropout": FloatParam(0.0, 0.6),
    "dense_units": Choice((0, 64, 256)),
    "fine_tune_learning_rate": FloatParam(1e-6, 1e-4, log=True),
}


@dataclass(frozen=True)
class MusicnnConfig:
    """variant: one of `VARIANTS`. weights: "pretrained" (converted by `genre weights fetch musicnn` into
    `cache_dir`, default `genre.weights.default_cache_dir()`) or "none" (random, trained from scratch).

    head_input: which tagger output feeds the genre head (None: `penultimate` for musicnn, `pool5` for
    VGG). The base is frozen at build when pretrained;
    fine_tune_epochs more epochs at fine_tune_learning_rate then train every base layer but the batch
    norms (0 skips that phase). seed: seeds every initialiser and dropout the builder creates.
    """

    variant: str = "MSD_musicnn"
    weights: str = "pretrained"
    cache_dir: str | None = None
    head_input: str | None = None
    dropout: float = 0.5
    dense_units: int = 0
    fine_tune_learning_rate: float = 1e-5
    fine_tune_epochs: int = 5
    freeze_base: bool | None = None  # None: frozen when pretrained, trained with weights="none"
    seed: int = 0

    @property
    def frozen(self) -> bool:
        """Whether the base is frozen at build: random features frozen would teach the head nothing."""
        return self.freeze_base if self.freeze_base is not None else self.weights != "none"

    @property
    def head_layer(self) -> str:
        return self.head_input or HEAD_INPUTS[VARIANTS[self.variant]][0]

    def __post_init__(self) -> None:
        arch = check_variant(self.variant)
        if self.weights not in ("pretrained", "none"):
            raise ValueError(f'musicnn weights must be "pretrained" or "none", got {self.weights!r}')
        if self.head_input is not None and self.head_input not in HEAD_INPUTS[arch]:
            raise ValueError(
                f"head_input {self.head_input!r} is not an output of {self.variant}; valid: {list(HEAD_INPUTS[arch])}"
            )
        check_rate("dropout", self.dropout)
        if isinstance(self.dense_units, bool) or not isinstance(self.dense_units, int) or self.dense_units < 0:
            raise ValueError(f"dense_units must be a non-negative integer, got {self.dense_units!r}")
        if not self.fine_tune_learning_rate > 0:
            raise ValueError(f"fine_tune_learning_rate must be positive, got {self.fine_tune_learning_rate!r}")
        if self.fine_tune_epochs < 0:
            raise ValueError(f"fine_tune_epochs must be non-negative, got {self.fine_tune_epochs!r}")


# ---- the published networks ----------------------------------------------------------------------


def build_tagger(
    variant: str = "MSD_musicnn",
    frames: int | None = PATCH_FRAMES,
    *,
    seed: int = 0,
    bn_momentum: float = 0.99,
    name: str | None = None,
) -> keras.Model:
    """The published tagger, randomly initialised: patches `(batch, frames, 96)` -> `TAGGER_OUTPUTS[arch]`.

    The taggram is the sigmoid of the tag logits. musicnn takes any number of frames (None: variable);
    the VGG variants only `PATCH_FRAMES`.
    """
    import keras

    arch = check_variant(variant)
    if arch == "vgg" and frames != PATCH_FRAMES:
        raise ValueError(f"{variant} takes patches of exactly {PATCH_FRAMES} frames, got {frames}")
    seeds = Seeds(seed)
    inputs = keras.Input(shape=(frames, N_MELS), dtype="float32", name="patch")
    x = keras.layers.Reshape((-1, N_MELS, 1), name="as_image")(inputs)
    # Keras's batch norm epsilon (1e-3) is TF 1's; the momentum only matters in training.
    x = keras.layers.BatchNormalization(momentum=bn_momentum, name="input_bn")(x)
    if arch == "musicnn":
        outputs = _musicnn_body(keras, x, len(tags_of(variant)), seeds, bn_momentum)
    else:
        outputs = _vgg_body(keras, x, len(tags_of(variant)), seeds, bn_momentum)
    return keras.Model(inputs, outputs, name=name or variant)


def _musicnn_body(keras, x, num_tags: int, seeds: Seeds, momentum: float) -> list:
    layers = keras.layers

    def block(inputs, filters: int, kernel: tuple[int, int], pad: tuple[int, int], name: str):
        # Zero padding in time only, then a 'valid' convolution: the original's padding, explicit, so
        # no backend's 'same' convention for even kernels matters. Max over all remaining bands.
        y = layers.ZeroPadding2D((pad, (0, 0)), name=f"{name}_pad")(inputs)
        y = layers.Conv2D(filters, kernel, activation="relu", kernel_initializer=seeds.kernel(), name=name)(y)
        y = layers.BatchNormalization(momentum=momentum, name=f"{name}_bn")(y)
        y = layers.MaxPooling2D((1, y.shape[2]), name=f"{name}_freq_max")(y)
        return layers.Reshape((-1, filters), name=f"{name}_squeeze")(y)

    front = [
        block(x, 204, (7, int(0.4 * N_MELS)), (3, 3), "timbral_74"),
        block(x, 204, (7, int(0.7 * N_MELS)), (3, 3), "timbral_77"),
        # TensorFlow's 'same' for an even kernel k pads (k - 1) // 2 before and the rest after.
        *(block(x, 51, (k, 1), ((k - 1) // 2, k // 2), f"temporal_{k}") for k in (128, 64, 32)),
    ]
    front = layers.Concatenate(axis=-1, name="front_end")(front)  # (batch, frames, 561)
    mids, y = [front], front
    for i in (1, 2, 3):
        z = layers.ZeroPadding1D(3, name=f"mid_conv{i}_pad")(y)
        z = layers.Conv1D(64, 7, activation="relu", kernel_initializer=seeds.kernel(), name=f"mid_conv{i}")(z)
        z = layers.BatchNormalization(momentum=momentum, name=f"mid_conv{i}_bn")(z)
        y = z if i == 1 else layers.Add(name=f"mid_res{i}")([z, y])
        mids.append(y)
    features = layers.Concatenate(axis=-1, name="mid_end")(mids)  # (batch, frames, 753)
    max_pool = layers.GlobalMaxPooling1D(name="max_pool")(features)
    mean_pool = layers.GlobalAveragePooling1D(name="mean_pool")(features)
    # The original stacks (max, mean) per channel before flattening: its dense kernel expects that order.
    channels = features.shape[-1]
    pooled = layers.Concatenate(axis=-1, name="pool_pairs")(
        [layers.Reshape((channels, 1), name=f"{n}_col")(p) for n, p in (("max", max_pool), ("mean", mean_pool))]
    )
    pooled = layers.Flatten(name="pool_flat")(pooled)
    pooled = layers.BatchNormalization(momentum=momentum, name="pool_bn")(pooled)
    pooled = layers.Dropout(0.5, seed=seeds.next(), name="pool_dropout")(pooled)
    dense = layers.Dense(200, activation="relu", kernel_initializer=seeds.kernel(), name="dense")(pooled)
    penultimate = layers.BatchNormalization(momentum=momentum, name="penultimate")(dense)
    y = layers.Dropout(0.5, seed=seeds.next(), name="penultimate_dropout")(penultimate)
    logits = layers.Dense(num_tags, kernel_initializer=seeds.kernel(), name="tags")(y)
    taggram = layers.Activation("sigmoid", dtype="float32", name="taggram")(logits)
    return [taggram, penultimate, mean_pool, max_pool]


def _vgg_body(keras, x, num_tags: int, seeds: Seeds, momentum: float) -> list:
    layers = keras.layers
    pools = ((4, 1), (2, 2), (2, 2), (2, 2), (4, 4))
    strides = ((2, 2), (2, 2), (2, 2), (2, 2), (4, 4))
    for i, (pool, stride) in enumerate(zip(pools, strides, strict=True), start=1):
        if i > 1:
            x = layers.Dropout(0.25, seed=seeds.next(), name=f"pool{i - 1}_dropout")(x)
        x = layers.Conv2D(
            128, 3, padding="same", activation="relu", kernel_initializer=seeds.kernel(), name=f"conv{i}"
        )(x)
        x = layers.BatchNormalization(momentum=momentum, name=f"conv{i}_bn")(x)
        x = layers.MaxPooling2D(pool, strides=stride, name=f"pool{i}")(x)
    pool5 = layers.Flatten(name="pool5_flat")(x)
    y = layers.Dropout(0.5, seed=seeds.next(), name="pool5_dropout")(pool5)
    logits = layers.Dense(num_tags, kernel_initializer=seeds.kernel(), name="tags")(y)
    taggram = layers.Activation("sigmoid", dtype="float32", name="taggram")(logits)
    return [taggram, pool5]


def load_pretrained(model: keras.Model, variant: str, cache_dir: str | Path | None = None) -> None:
    """Loads the converted weights of `variant` into a `build_tagger` model, after checking their SHA-256."""
    from genre.weights.musicnn import musicnn_weights_path

    model.load_weights(musicnn_weights_path(variant, cache_dir))


def pretrained_tagger(
    variant: str = "MSD_musicnn", cache_dir: str | Path | None = None, frames: int | None = PATCH_FRAMES
) -> keras.Model:
    """The published tagger with its pretrained weights; fails before building when they are missing."""
    from genre.weights.musicnn import musicnn_weights_path

    musicnn_weights_path(variant, cache_dir)  # the clear error first, before any Keras work
    model = build_tagger(variant, frames)
    load_pretrained(model, variant, cache_dir)
    return model


# ---- the genre classifier ------------------------------------------------------------------------


def build(config: MusicnnConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """The tagger without its tag layer, and a new softmax head on `config.head_layer`; uncompiled."""
    import keras

    input_shape = tuple(input_shape)
    if len(input_shape) != 2 or input_shape[1] != N_MELS:
        raise ValueError(f"musicnn expects log-Mel patches (frames, {N_MELS}), got input_shape {input_shape}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    check_weights(config, input_shape)
    seeds = Seeds(config.seed)
    momentum = 0.99 if config.frozen else BN_MOMENTUM
    base = build_tagger(config.variant, input_shape[0], seed=seeds.next(), bn_momentum=momentum, name=BASE_NAME)
    if config.weights == "pretrained":
        load_pretrained(base, config.variant, config.cache_dir)
    base.trainable = not config.frozen
    # The tag layer feeds no genre output: trainable, it would get no gradient (an error on TensorFlow).
    base.get_layer("tags").trainable = False

    inputs = keras.Input(shape=input_shape, dtype="float32", name="patch")
    # A frozen base runs its batch norms (and dropouts) in inference mode, in both training phases.
    outputs = base(inputs, training=False) if config.frozen else base(inputs)
    x = outputs[TAGGER_OUTPUTS[VARIANTS[config.variant]].index(config.head_layer)]
    return keras.Model(inputs, _head(keras, x, config, seeds, num_classes), name="musicnn")


def _head(keras, x, config: MusicnnConfig, seeds: Seeds, num_classes: int):
    x = keras.layers.Dropout(config.dropout, seed=seeds.next(), name="head_dropout")(x)
    if config.dense_units:
        x = keras.layers.Dense(config.dense_units, activation="relu", kernel_initializer=seeds.kernel(), name="head")(x)
    return keras.layers.Dense(
        num_classes, activation="softmax", kernel_initializer=seeds.kernel(), dtype="float32", name="probabilities"
    )(x)


# ---- the head alone, on the frozen tagger's outputs ----------------------------------------------


def encoder(config: MusicnnConfig) -> TaggerEncoder | None:
    """The frozen pretrained tagger as an encoder (`genre.train.encoded_data`) when only the head trains:
    the base frozen with its published weights and no fine-tuning phase. None otherwise."""
    if not (config.frozen and config.weights == "pretrained" and config.fine_tune_epochs == 0):
        return None
    return TaggerEncoder(config.variant, config.head_layer, config.cache_dir)


@dataclass(frozen=True)
class TaggerEncoder:
    """What the frozen base says of each patch: one tagger output (`layer`), computed once per split and
    cached with every other (`genre.models.musicnn_embeddings.tagger_outputs`)."""

    variant: str
    layer: str
    cache_dir: str | None = None

    def outputs(self, data_dir: Path, split: str, fold=None):
        """(clips, patches, dim) outputs, labels, track ids, and the seconds the tagger took over them."""
        from genre.models.musicnn_embeddings import tagger_outputs

        out = tagger_outputs(data_dir, split, fold=fold, variant=self.variant, cache_dir=self.cache_dir)
        return out.layers[self.layer], out.labels, out.track_ids, out.seconds


def build_head(config: MusicnnConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """The genre head of `build` alone, on the tagger output `config.head_layer` (`input_shape` = (dim,)),
    initialised as `build` initialises it (the same seeds); uncompiled."""
    import keras

    seeds = Seeds(config.seed)
    seeds.next()  # the base's, in `build`
    inputs = keras.Input(shape=tuple(input_shape), dtype="float32", name=config.head_layer)
    return keras.Model(inputs, _head(keras, inputs, config, seeds, num_classes), name="musicnn_head")


def compose(config: MusicnnConfig, head: keras.Model, input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    """The whole net of `build` (its pretrained base) with the trained weights of `head` (`build_head`)."""
    model = build(config, input_shape, num_classes)
    for layer in head.layers:
        if layer.weights:
            model.get_layer(layer.name).set_weights(layer.get_weights())
    return model


def unfreeze(model: keras.Model, config: MusicnnConfig) -> None:
    """Makes every base layer trainable except the batch norms (kept in inference mode), in place.

    The unused tag layer stays frozen. Compile again afterwards, at `config.fine_tune_learning_rate`.
    """
    import keras

    try:
        base = model.get_layer(BASE_NAME)
    except ValueError:
        names = [layer.name for layer in model.layers]
        raise ValueError(f"model {model.name!r} has no musicnn base named {BASE_NAME!r}; its layers: {names}") from None
    base.trainable = True
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization) or layer.name == "tags":
            layer.trainable = False


def check_weights(config: MusicnnConfig, input_shape: tuple[int, ...]) -> None:
    """Fails now, naming `genre weights fetch musicnn`, when pretrained weights are missing or altered."""
    frames = tuple(input_shape)[:1]
    if check_variant(config.variant) == "vgg" and frames != (PATCH_FRAMES,):
        raise ValueError(f"{config.variant} takes patches of exactly {PATCH_FRAMES} frames, got {input_shape}")
    if config.weights == "pretrained":
        from genre.weights.musicnn import musicnn_weights_path

        musicnn_weights_path(config.variant, config.cache_dir)


# ---- running a tagger ----------------------------------------------------------------------------


def predict_patches(model: keras.Model, patches: np.ndarray, batch_size: int = 64) -> list[np.ndarray]:
    """A tagger's outputs over `(n, frames, 96)` patches, in fixed-size batches (the last one padded, so
    a JAX model compiles once)."""
    patches = np.asarray(patches, dtype=np.float32)
    n = len(patches)
    batch_size = max(1, min(batch_size, n)) if n else 1
    chunks: list[list[np.ndarray]] = []
    for start in range(0, n, batch_size):
        batch = patches[start : start + batch_size]
        if len(batch) < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - len(batch), *batch.shape[1:]), np.float32)])
        out = model.predict_on_batch(batch)
        out = out if isinstance(out, list | tuple) else [out]
        chunks.append([np.asarray(o)[: min(batch_size, n - start)] for o in out])
    if not chunks:
        return [np.zeros((0, *o.shape[1:]), np.float32) for o in model.outputs]
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]
