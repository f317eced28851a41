"""The model builders: one contract suite run against every registered model, then each model's own promises.

Every model in `genre.models.MODELS` gets a tiny config and input shape here (a new model must add
one), is built, fitted a few steps on seeded random data, saved to `.keras` and reloaded. Shapes are
tiny because the JAX backend compiles every new model on this CPU.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from genre.models import MODELS, Conv1DConfig, MelCNNConfig, MobileNetConfig, MusicnnConfig, get_model, load_model
from genre.models import mobilenet as mobilenet_module

NUM_CLASSES = 5
TINY = {
    "conv1d": (Conv1DConfig(filters=(4, 4), dense_units=(8, 4), seed=1), (512, 1)),
    "mobilenet": (
        MobileNetConfig(alpha=0.35, weights="none", dense_units=8, fine_tune_blocks=2, freeze_base=True, seed=1),
        (32, 32, 1),
    ),
    "melcnn": (MelCNNConfig(channels=(4, 8, 8), crop_frames=32, dense_units=8, seed=1), (64, 64, 1)),
    # Random weights, so no weights file is needed; the published net is fully convolutional in time.
    "musicnn": (MusicnnConfig(weights="none", dense_units=8, seed=1), (32, 96)),
}
# Inputs as `genre.data.make_dataset` delivers them: raw windows in [-1, 1], Mel images in [0, 1],
# musicnn patches of log10(10000·mel + 1) (0 to about 6).
VALUE_RANGE = {"raw": (-1.0, 1.0), "mel": (0.0, 1.0), "musicnn": (0.0, 6.0)}


def random_data(name: str, n: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    spec = MODELS[name]
    low, high = VALUE_RANGE[spec.feature_kind]
    rng = np.random.default_rng(seed)
    x = rng.uniform(low, high, size=(n, *TINY[name][1])).astype("float32")
    y = (np.arange(n) % NUM_CLASSES).astype("int32")
    return x, y


def build_tiny(name: str) -> keras.Model:
    config, shape = TINY[name]
    return MODELS[name].build(config, shape, NUM_CLASSES)


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return model.predict(x, batch_size=len(x), verbose=0)


@dataclasses.dataclass
class Fitted:
    name: str
    model: keras.Model
    x: np.ndarray
    y: np.ndarray
    losses: list[float]


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request) -> Fitted:
    """Each model built, compiled and fitted 2 epochs of 2 steps, once per module (JAX compiles are slow)."""
    name = request.param
    x, y = random_data(name)
    model = build_tiny(name)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return Fitted(name, model, x, y, history.history["loss"])


# ---- the registry --------------------------------------------------------------------------------


def test_every_registered_model_has_a_tiny_test_config():
    assert set(TINY) == set(MODELS)
    for name, (config, _) in TINY.items():
        assert isinstance(config, MODELS[name].config_class)


def test_registry_describes_what_each_model_reads():
    assert {name: (spec.feature_kind, spec.window_mode) for name, spec in MODELS.items()} == {
        "conv1d": ("raw", "flat"),
        "mobilenet": ("mel", "flat"),
        "melcnn": ("mel", "flat"),
        "musicnn": ("musicnn", "flat"),
    }
    assert all(spec.name == name for name, spec in MODELS.items())


def test_get_model_names_the_bad_value_and_the_valid_ones():
    assert get_model("melcnn") is MODELS["melcnn"]
    with pytest.raises(ValueError, match=r"'resnet'.*\['conv1d', 'melcnn', 'mobilenet', 'musicnn'\]"):
        get_model("resnet")


def test_importing_the_registry_imports_no_backend():
    code = (
        "import sys, genre.models; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'jax'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- the contract, for every model ---------------------------------------------------------------


def test_builds_an_uncompiled_model_for_the_input_shape(fitted):
    model = build_tiny(fitted.name)
    assert isinstance(model, keras.Model)
    assert not model.compiled
    assert tuple(model.input_shape[1:]) == TINY[fitted.name][1]
    assert tuple(model.output_shape) == (None, NUM_CLASSES)


def test_fit_runs_with_finite_loss(fitted):
    assert len(fitted.losses) == 2
    assert all(np.isfinite(fitted.losses))


def test_predictions_are_probabilities(fitted):
    p = predict(fitted.model, fitted.x)
    assert p.shape == (len(fitted.x), NUM_CLASSES)
    assert np.all(p >= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_saved_model_reloads_without_custom_objects_and_predicts_the_same(fitted, tmp_path):
    path = tmp_path / f"{fitted.name}.keras"
    fitted.model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(predict(reloaded, fitted.x), predict(fitted.model, fitted.x), atol=1e-5)
    assert [w.shape for w in reloaded.trainable_weights] == [w.shape for w in fitted.model.trainable_weights]
    np.testing.assert_allclose(predict(load_model(path), fitted.x), predict(fitted.model, fitted.x), atol=1e-5)


def test_config_round_trips_through_asdict_and_json(fitted):
    spec = MODELS[fitted.name]
    for config in (TINY[fitted.name][0], spec.default_config()):
        values = dataclasses.asdict(config)
        assert spec.config_class(**values) == config
        assert spec.config_from_dict(json.loads(json.dumps(values))) == config  # JSON lists become tuples again
    with pytest.raises(ValueError, match=r"'colour'.*valid fields are"):
        spec.config_from_dict({"colour": 1})


def test_same_config_builds_the_same_weights(fitted):
    # The config seed fixes every initialiser the builders create; only MobileNetV2's own base
    # (weights="none") follows keras.utils.set_random_seed, which the trainer calls.
    keras.utils.set_random_seed(1)
    first = [keras.ops.convert_to_numpy(w) for w in build_tiny(fitted.name).weights]
    keras.utils.set_random_seed(1 if fitted.name == "mobilenet" else 2)
    second = [keras.ops.convert_to_numpy(w) for w in build_tiny(fitted.name).weights]
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- conv1d: the study's net ---------------------------------------------------------------------


def test_conv1d_matches_the_study():
    model = MODELS["conv1d"].build(Conv1DConfig(), (10000, 1), 8)
    layers = model.layers[1:]
    # BlockMaxPooling1D is Keras's MaxPooling1D (a subclass), computed faster on JAX.
    assert [type(layer).__name__ for layer in layers] == [
        "Conv1D",
        "BlockMaxPooling1D",
        "Conv1D",
        "BlockMaxPooling1D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
        "Dropout",
        "Dense",
    ]
    convs = [layer for layer in layers if isinstance(layer, keras.layers.Conv1D)]
    denses = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
    assert [c.filters for c in convs] == [128, 64]
    assert [c.kernel_size for c in convs] == [(3,), (3,)]
    assert [d.units for d in denses] == [100, 20, 8]
    assert [d.activation.__name__ for d in convs + denses] == ["relu"] * 4 + ["softmax"]
    assert [layer.rate for layer in layers if isinstance(layer, keras.layers.Dropout)] == [0.5, 0.5]
    pools = [layer for layer in layers if isinstance(layer, keras.layers.MaxPooling1D)]
    assert [(p.pool_size, p.strides, p.padding) for p in pools] == [((2,), (2,), "valid")] * 2
    assert tuple(model.input_shape) == (None, 10000, 1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"filters": ()}, "filters"),
        ({"dense_units": (100, 0)}, "dense_units"),
        ({"dropout": 1.0}, "dropout"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"pooling": "mean"}, r"unknown pooling 'mean'.*\['flatten', 'average', 'max'\]"),
    ],
)
def test_conv1d_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv1DConfig(**kwargs)


@pytest.mark.parametrize("pooling, layer", [("average", "GlobalAveragePooling1D"), ("max", "GlobalMaxPooling1D")])
def test_conv1d_pooled_over_time_has_the_same_weights_for_any_window(pooling, layer):
    config = Conv1DConfig(filters=(4, 6), dense_units=(8,), pooling=pooling)
    short, long = (MODELS["conv1d"].build(config, (n, 1), 3) for n in (64, 1024))
    assert type(short.layers[5]).__name__ == layer
    assert short.count_params() == long.count_params()
    assert tuple(long.layers[5].output.shape) == (None, 6)
    # Flattening gives every position its own weights: a longer window, more of them.
    flat = Conv1DConfig(filters=(4, 6), dense_units=(8,))
    assert (
        MODELS["conv1d"].build(flat, (1024, 1), 3).count_params()
        > MODELS["conv1d"].build(flat, (64, 1), 3).count_params()
    )


def test_conv1d_rejects_a_window_too_short():
    with pytest.raises(ValueError, match="window_length 8"):
        MODELS["conv1d"].build(Conv1DConfig(), (8, 1), 8)


# ---- mobilenet: transfer learning ----------------------------------------------------------------


def trainable_ids(layer) -> set[int]:
    return {id(w) for w in layer.trainable_weights}


def test_mobilenet_base_is_frozen_and_only_the_head_trains():
    model = build_tiny("mobilenet")
    base = model.get_layer(mobilenet_module.BASE_NAME)
    assert not base.trainable and base.trainable_weights == []
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"dense", "probabilities"}


def test_mobilenet_from_scratch_trains_its_whole_base():
    config = MobileNetConfig(alpha=0.35, weights="none", dense_units=0, seed=1)
    assert not config.frozen and MobileNetConfig(weights="imagenet").frozen
    model = MODELS["mobilenet"].build(config, (32, 32, 1), NUM_CLASSES)
    base = model.get_layer(mobilenet_module.BASE_NAME)
    assert base.trainable and len(base.trainable_weights) > 100


def test_mobilenet_unfreeze_top_after_reload_trains_the_top_blocks_only(tmp_path):
    config, _ = TINY["mobilenet"]
    x, y = random_data("mobilenet", n=8)
    path = tmp_path / "mobilenet.keras"
    build_tiny("mobilenet").save(path)
    model = keras.saving.load_model(path)
    base = model.get_layer(mobilenet_module.BASE_NAME)
    assert base.trainable_weights == []  # frozen state survives the reload

    mobilenet_module.unfreeze_top(model, config)
    assert base.trainable_weights
    trainable_layers = {layer.name for layer in base.layers if layer.trainable_weights}
    assert trainable_layers == {
        f"block_{b}_{part}" for b in (15, 16) for part in ("expand", "depthwise", "project")
    } | {"Conv_1"}
    assert not any(layer.trainable for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization))

    def snapshot() -> dict[str, np.ndarray]:
        return {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.weights}

    before = snapshot()
    # A randomly initialised MobileNetV2 shrinks activations (and so gradients) to about 1e-11 by its
    # top; Adam with a tiny epsilon still takes a full step on any non-zero gradient.
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-30), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    after = snapshot()
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    trainable = {w.path for w in model.trainable_weights}
    assert changed <= trainable  # nothing frozen moved, batch norm statistics included
    assert changed & {w.path for w in base.trainable_weights}


def test_mobilenet_imagenet_weights_missing_name_the_expected_path(monkeypatch, tmp_path):
    # Keras reads KERAS_HOME once, when it is imported; point its home (what get_file uses) at tmp_path.
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path))
    expected = tmp_path / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    assert mobilenet_module.imagenet_weights_path(1.0) == expected
    with pytest.raises(FileNotFoundError) as info:
        MODELS["mobilenet"].build(MobileNetConfig(weights="imagenet"), (224, 224, 1), 8)
    message = str(info.value)
    assert str(expected) in message
    assert mobilenet_module.WEIGHTS_URL + expected.name in message
    assert "--weights none" in message and "--weights PATH" in message


def test_mobilenet_weights_path_is_where_keras_looks(monkeypatch, tmp_path):
    """The file name and cache folder match what keras.applications asks get_file for (no download: intercepted)."""
    from keras.src.utils import file_utils

    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path))
    asked = {}

    def fake_get_file(fname, origin, cache_subdir="datasets", **kwargs):
        asked.update(fname=fname, origin=origin, cache_subdir=cache_subdir, cache_dir=kwargs.get("cache_dir"))
        raise RuntimeError("intercepted")

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    with pytest.raises(RuntimeError, match="intercepted"):
        keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights="imagenet")
    path = mobilenet_module.imagenet_weights_path(0.35, 96)
    assert asked == {
        "fname": path.name,
        "origin": mobilenet_module.WEIGHTS_URL + path.name,
        "cache_subdir": "models",
        "cache_dir": None,
    }
    assert path.parent == tmp_path / "models"


def test_mobilenet_weights_file_missing_is_named(tmp_path):
    missing = tmp_path / "nowhere.weights.h5"
    with pytest.raises(FileNotFoundError, match=r"nowhere\.weights\.h5"):
        MODELS["mobilenet"].build(MobileNetConfig(alpha=0.35, weights=str(missing)), (32, 32, 1), 8)


def test_mobilenet_loads_a_local_weights_file(tmp_path):
    config, shape = TINY["mobilenet"]
    source = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    path = tmp_path / "base.weights.h5"
    source.save_weights(path)
    model = MODELS["mobilenet"].build(dataclasses.replace(config, weights=str(path)), shape, NUM_CLASSES)
    base = model.get_layer(mobilenet_module.BASE_NAME)
    for a, b in zip(source.weights, base.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"weights": "imagenet", "alpha": 0.6}, r"alpha=0\.6"),
        ({"weights": ""}, "weights"),
        ({"fine_tune_blocks": 18}, "fine_tune_blocks"),
        ({"fine_tune_learning_rate": 0.0}, "fine_tune_learning_rate"),
    ],
)
def test_mobilenet_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MobileNetConfig(**kwargs)


# ---- melcnn: short-chunk CNN ---------------------------------------------------------------------


@pytest.mark.parametrize("fitted", ["melcnn"], indirect=True)
def test_melcnn_crops_in_training_only_and_is_deterministic_at_inference(fitted):
    model, x = fitted.model, fitted.x[:4]
    crop = model.get_layer("time_crop")
    cropped = keras.ops.convert_to_numpy(crop(x, training=True))
    assert cropped.shape == (4, 64, 32, 1)
    for example, window in zip(x, cropped, strict=True):  # a contiguous run of the example's own frames
        assert any(np.array_equal(example[:, o : o + 32], window) for o in range(64 - 32 + 1))
    assert keras.ops.convert_to_numpy(crop(x, training=False)).shape == x.shape
    assert tuple(model(x, training=True).shape) == tuple(model(x, training=False).shape) == (4, NUM_CLASSES)
    np.testing.assert_array_equal(predict(model, x), predict(model, x))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"channels": (8, 8, 8), "crop_frames": 4}, "crop_frames 4"), ({"dense_units": -1}, "dense_units")],
)
def test_melcnn_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MelCNNConfig(**kwargs)


def test_melcnn_rejects_a_crop_wider_than_the_image():
    with pytest.raises(ValueError, match="crop_frames 96 exceeds the 64 frames"):
        MODELS["melcnn"].build(MelCNNConfig(), (64, 64, 1), 8)


def test_nets_trained_from_scratch_use_a_fast_batch_norm_momentum():
    from genre.models._common import BN_MOMENTUM

    scratch = MODELS["mobilenet"].build(MobileNetConfig(alpha=0.35, weights="none", seed=1), (32, 32, 1), 5)
    frozen = build_tiny("mobilenet")
    for model, expected in ((scratch, BN_MOMENTUM), (frozen, 0.999)):
        base = model.get_layer(mobilenet_module.BASE_NAME)
        assert {layer.momentum for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)} == {
            expected
        }
    melcnn = build_tiny("melcnn")
    assert {layer.momentum for layer in melcnn.layers if isinstance(layer, keras.layers.BatchNormalization)} == {
        BN_MOMENTUM
    }


# ---- musicnn: the published tagger's architecture ------------------------------------------------


def test_musicnn_matches_the_published_architecture():
    from genre.models import musicnn as mn

    tagger = mn.build_tagger("MSD_musicnn")
    assert [tuple(o.shape) for o in tagger.outputs] == [(None, 50), (None, 200), (None, 753), (None, 753)]
    kernels = {
        name: tuple(tagger.get_layer(name).kernel.shape)
        for name, _ in mn.checkpoint_map("MSD_musicnn")
        if hasattr(tagger.get_layer(name), "kernel")
    }
    assert kernels["timbral_74"] == (7, 38, 1, 204) and kernels["timbral_77"] == (7, 67, 1, 204)
    assert [kernels[f"temporal_{k}"] for k in (128, 64, 32)] == [(k, 1, 1, 51) for k in (128, 64, 32)]
    assert kernels["mid_conv1"] == (7, 561, 64) and kernels["dense"] == (1506, 200)
    assert tuple(mn.build_tagger("MTT_vgg").outputs[1].shape) == (None, 256)
    # Fully convolutional in time: any patch length gives the same output sizes.
    assert [tuple(o.shape) for o in mn.build_tagger("MSD_musicnn", frames=None).outputs][1] == (None, 200)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"variant": "MSD_resnet"}, "valid variants"),
        ({"weights": "imagenet"}, "pretrained"),
        ({"head_input": "max_pool", "variant": "MSD_vgg"}, "head_input"),
        ({"fine_tune_learning_rate": 0.0}, "fine_tune_learning_rate"),
    ],
)
def test_musicnn_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MusicnnConfig(**kwargs)


def test_musicnn_vgg_classifier_reads_pool5_by_default():
    from genre.models import musicnn as mn

    config = MusicnnConfig(variant="MTT_vgg", weights="none", seed=1)
    assert config.head_layer == "pool5" and MusicnnConfig().head_layer == "penultimate"
    model = mn.build(config, (mn.PATCH_FRAMES, mn.N_MELS), 4)
    assert tuple(model.output_shape) == (None, 4)
    assert model.get_layer("probabilities").kernel.shape == (256, 4)
    with pytest.raises(ValueError, match="exactly 187 frames"):
        mn.build(config, (32, mn.N_MELS), 4)
