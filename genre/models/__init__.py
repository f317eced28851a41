"""The model registry: every trainable net by name, with what it needs from the data pipeline.

`MODELS` maps a name to a `ModelSpec`: its config dataclass, its builder
`build(config, input_shape, num_classes) -> keras.Model` (uncompiled, softmax output), the feature kind
it reads (`make_dataset(kind=...)`) and the window mode for raw audio. `get_model(name)` looks one up;
`load_model(path)` reloads a saved `.keras` file of any of them, on either backend.

Importing this package imports no Keras, TensorFlow or JAX: the model modules import Keras inside
their functions, and the custom layers (`genre.models.layers`) are imported when a model needs them.

Seeds: each config's `seed` seeds the initialisers, dropout and random crops of the layers the builder
creates, so the same config gives the same initial model. The one exception is the MobileNetV2 base
with `weights="none"`, whose initialisers follow `keras.utils.set_random_seed` (the trainer calls it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genre.models import conv1d, melcnn, mobilenet, musicnn
from genre.models.conv1d import Conv1DConfig
from genre.models.melcnn import MelCNNConfig
from genre.models.mobilenet import MobileNetConfig
from genre.models.musicnn import MusicnnConfig
from genre.search_space import SearchSpace

if TYPE_CHECKING:
    import keras

__all__ = [
    "MODELS",
    "Conv1DConfig",
    "MelCNNConfig",
    "MobileNetConfig",
    "ModelSpec",
    "MusicnnConfig",
    "get_model",
    "load_model",
]


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    feature_kind: the prepared feature it reads ("raw" windows, the "mel" image, "musicnn" patches).
    window_mode: `make_dataset`'s window mode for "raw" and "musicnn" ("flat": every window or patch is a
        training example); ignored for "mel".
    """

    name: str
    config_class: type
    build: Callable[[Any, tuple[int, ...], int], keras.Model]
    feature_kind: str
    window_mode: str = "flat"
    # Checks what a build would need (e.g. weight files) before any work starts; raises if missing.
    preflight: Callable[[Any, tuple[int, ...]], None] | None = None
    # A second training phase: changes the trained model in place (e.g. unfreezes layers); the config
    # then holds `fine_tune_epochs` and `fine_tune_learning_rate`.
    fine_tune: Callable[[keras.Model, Any], None] | None = None
    # What a tuner may vary, by plain setting name (the model's own and the shared training ones).
    search_space: SearchSpace = field(default_factory=dict)
    # The net's default learning rate where the shared default (`OptimConfig`'s) does not suit it.
    learning_rate: float | None = None
    # A frozen base a head alone can learn from (`genre.train.encoded_data`): `encoder(config)` gives it
    # where it applies to `config` (else None); `build_head(config, (dim,), classes)` builds the head
    # on the base's outputs, and `compose(config, head, input_shape, classes)` the whole net around it.
    encoder: Callable[[Any], Any] | None = None
    build_head: Callable[[Any, tuple[int, ...], int], keras.Model] | None = None
    compose: Callable[[Any, keras.Model, tuple[int, ...], int], keras.Model] | None = None

    def default_config(self) -> Any:
        return self.config_class()

    def config_from_dict(self, values: dict[str, Any]) -> Any:
        """A config from a dict (e.g. a run's JSON), or a ValueError naming unknown fields and the valid ones."""
        import dataclasses

        valid = [f.name for f in dataclasses.fields(self.config_class)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown {self.name} config fields {unknown}; valid fields are {valid}")
        return self.config_class(**values)


MODELS: dict[str, ModelSpec] = {
    "conv1d": ModelSpec(
        "conv1d", Conv1DConfig, conv1d.build, feature_kind="raw", window_mode="flat", search_space=conv1d.SEARCH_SPACE
    ),
    "mobilenet": ModelSpec(
        "mobilenet",
        MobileNetConfig,
        mobilenet.build,
        feature_kind="mel",
        preflight=mobilenet.check_weights,
        fine_tune=mobilenet.unfreeze_top,
        search_space=mobilenet.SEARCH_SPACE,
    ),
    "melcnn": ModelSpec("melcnn", MelCNNConfig, melcnn.build, feature_kind="mel", search_space=melcnn.SEARCH_SPACE),
    "musicnn": ModelSpec(
        "musicnn",
        MusicnnConfig,
        musicnn.build,
        feature_kind="musicnn",
        window_mode="flat",
        preflight=musicnn.check_weights,
        fine_tune=musicnn.unfreeze,
        search_space=musicnn.SEARCH_SPACE,
        encoder=musicnn.encoder,
        build_head=musicnn.build_head,
        compose=musicnn.compose,
        # With the base frozen only the head (one softmax layer) trains: at 1e-3 it needs 8 epochs to
        # reach what 1e-2 reaches in 1 (validation patches of the demo's set: 21% against 46% after
        # 2 epochs). With weights="none" the whole net trains: set a lower one.
        learning_rate=1e-2,
    ),
}


def get_model(name: str) -> ModelSpec:
    """The registered model called `name`, or a ValueError listing the valid names."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; valid models are {sorted(MODELS)}") from None


def load_model(path: str | Path, *, compile: bool = True) -> keras.Model:
    """A model saved as `.keras` by any builder here, under either backend, with its custom layers registered.

    A missing file is a FileNotFoundError and a damaged one a `ModelFileError`, each naming the file
    (Keras says "File not found" for both)."""
    import zipfile

    import keras

    import genre.models.layers  # noqa: F401  (registers the custom layers with Keras)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a .keras archive (damaged or truncated); it cannot be loaded")
    try:
        return keras.saving.load_model(path, compile=compile)
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError) as err:
        raise ModelFileError(f"{path}: cannot be loaded as a Keras model ({type(err).__name__}: {err})") from err


class ModelFileError(ValueError):
    """A `.keras` file that exists but cannot be loaded."""
