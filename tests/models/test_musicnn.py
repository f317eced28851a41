"""musicnn in Keras 3: faithful to the original's outputs, its weights cache, and its three uses.

Tests that need the pretrained weights take the `musicnn_cache` fixture (tests/conftest.py): converted
once per session from $GENRE_MUSICNN_WHEEL, else skipped with a reason naming `genre weights fetch musicnn`.
"""

from __future__ import annotations

import json
import shutil
import zipfile

import keras
import numpy as np
import pytest

from genre import tags
from genre.cli import main
from genre.models import MODELS
from genre.models import musicnn as mn
from genre.models import musicnn_embeddings as emb
from genre.weights.musicnn import FETCH_COMMAND, INDEX_NAME, fetch_musicnn, musicnn_dir, musicnn_weights_path
from tests.conftest import MUSICNN_REFERENCE, REAL_MP3

OUTPUTS = mn.TAGGER_OUTPUTS["musicnn"]


@pytest.fixture(scope="module")
def reference():
    if not (MUSICNN_REFERENCE.is_file() and REAL_MP3.is_file()):
        pytest.skip(f"the musicnn reference ({MUSICNN_REFERENCE}) or its clip is not here")
    with np.load(MUSICNN_REFERENCE) as stored:
        return {k: stored[k] for k in stored.files}


@pytest.fixture(scope="module")
def tagger(musicnn_cache):
    return mn.pretrained_tagger("MSD_musicnn", musicnn_cache)


# ---- faithfulness ----------------------------------------------------------------------------------


def test_port_reproduces_the_original_outputs(tagger, reference):
    out = dict(zip(OUTPUTS, mn.predict_patches(tagger, reference["patches"], batch_size=4), strict=True))
    np.testing.assert_allclose(out["taggram"], reference["taggram"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(out["mean_pool"], reference["mean_pool"], rtol=0, atol=1e-4)
    # max_pool reaches 85: float32 sums of 561-channel convolutions in another order differ by a few
    # units in the last place there (measured: 2e-4 on TensorFlow, 4e-4 on JAX, relative 5e-6).
    np.testing.assert_allclose(out["max_pool"], reference["max_pool"], rtol=1e-5, atol=1e-4)
    # The original extractor keeps the first batch's `penultimate` for every later batch (it concatenates
    # a stale variable), so its rows after the first repeat the first; only row 0 is the network's output.
    rows = [0] if (reference["penultimate"] == reference["penultimate"][0]).all() else slice(None)
    np.testing.assert_allclose(out["penultimate"][rows], reference["penultimate"][rows], rtol=0, atol=1e-4)
    assert list(mn.tags_of("MSD_musicnn")) == list(reference["tags"])


def test_own_preprocessing_gives_the_same_top_tags(musicnn_cache, reference):
    [result] = tags.tag_files([REAL_MP3], cache_dir=musicnn_cache, top=5)
    expected = reference["taggram"].mean(axis=0)
    assert result["top"] == [reference["tags"][i] for i in np.argsort(expected)[::-1][:5]]
    for i, tag in enumerate(reference["tags"]):
        assert result["probabilities"][tag] == pytest.approx(expected[i], abs=1e-4)


def test_conversion_uses_every_checkpoint_variable(musicnn_cache):
    index = json.loads((musicnn_dir(musicnn_cache) / INDEX_NAME).read_text())
    assert set(index["variants"]) == set(mn.VARIANTS)
    for variant, entry in index["variants"].items():
        model = mn.build_tagger(variant)
        assert entry["parameters"] == model.count_params()  # convert_checkpoint checked each was assigned
        model.load_weights(musicnn_weights_path(variant, musicnn_cache))
        assert len(model.outputs) == len(mn.TAGGER_OUTPUTS[mn.VARIANTS[variant]])


def test_the_vgg_taggers_agree_with_musicnn_on_the_reference_clip(musicnn_cache, reference):
    # No reference outputs for VGG: its converted weights should at least tag the clip sensibly.
    vgg = mn.pretrained_tagger("MSD_vgg", musicnn_cache)
    taggram = mn.predict_patches(vgg, reference["patches"])[0].mean(axis=0)
    top = [reference["tags"][i] for i in np.argsort(taggram)[::-1][:3]]
    assert reference["tags"][reference["taggram"].mean(axis=0).argmax()] in top


# ---- the weights cache ---------------------------------------------------------------------------


def test_missing_weights_fail_before_any_work_naming_the_fetch_command(tmp_path):
    config = mn.MusicnnConfig(cache_dir=str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=FETCH_COMMAND):
        MODELS["musicnn"].preflight(config, (187, 96))
    with pytest.raises(FileNotFoundError, match=FETCH_COMMAND):
        mn.build(config, (187, 96), 8)
    with pytest.raises(FileNotFoundError, match=FETCH_COMMAND):
        tags.tag_files([REAL_MP3], cache_dir=tmp_path / "empty")


def test_fit_without_weights_stops_before_the_run_starts(musicnn_prepared, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENRE_CACHE", str(tmp_path / "no-cache"))
    run = tmp_path / "run"
    assert main(["fit", "--model", "musicnn", "--data", str(musicnn_prepared), "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and FETCH_COMMAND in err
    assert not run.exists()


def test_a_changed_weights_file_is_refused(musicnn_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(musicnn_dir(musicnn_cache), musicnn_dir(cache))
    path = musicnn_weights_path("MSD_musicnn", cache)
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=rf"SHA-256.*{FETCH_COMMAND}"):
        musicnn_weights_path("MSD_musicnn", cache)
    with pytest.raises(ValueError, match="SHA-256"):
        mn.build(mn.MusicnnConfig(cache_dir=str(cache)), (187, 96), 8)


def test_fetch_refuses_a_wheel_that_is_not_the_published_one(tmp_path, capsys):
    fake = tmp_path / "musicnn-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as archive:
        archive.writestr("musicnn/__init__.py", "")
    with pytest.raises(ValueError, match="SHA-256"):
        fetch_musicnn(tmp_path / "cache", fake)
    assert main(["weights", "fetch", "musicnn", "--wheel", str(tmp_path / "nope.whl"), "--cache", str(tmp_path)]) == 2
    assert "nope.whl" in capsys.readouterr().err
    assert not (musicnn_dir(tmp_path / "cache") / INDEX_NAME).exists()


# ---- the three uses --------------------------------------------------------------------------------


def test_tags_command_prints_as_the_original_tagger(musicnn_cache, reference, capsys):
    assert main(["tags", str(REAL_MP3), "--top", "3", "--cache", str(musicnn_cache)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"[{REAL_MP3}] Top3 tags: "
    best = reference["tags"][reference["taggram"].mean(axis=0).argmax()]
    assert len(lines) == 4 and lines[1].startswith(f" - {best} ")
    assert main(["tags", str(REAL_MP3), "--json", "--cache", str(musicnn_cache)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["probabilities"]) == 50 and result["patches"] == len(reference["patches"])


def test_clip_embeddings_are_mean_and_std_over_patches(tagger, reference):
    patches = reference["patches"]
    x = emb.clip_embeddings(np.stack([patches, patches[::-1]]), "max_pool", model=tagger, batch_size=3)
    expected = np.concatenate([reference["max_pool"].mean(axis=0), reference["max_pool"].std(axis=0)])
    assert x.shape == (2, 2 * reference["max_pool"].shape[1]) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x[1], x[0], rtol=1e-6, atol=1e-5)  # patch order does not matter
    with pytest.raises(ValueError, match="valid layers"):
        emb.clip_embeddings(patches[None], "cnn9", model=tagger)


def test_embeddings_of_a_prepared_split_are_cached_by_weights_and_layer(musicnn_prepared, musicnn_cache):
    from genre.data.pipeline import load_arrays

    x, y = emb.musicnn_embeddings(musicnn_prepared, "train", "penultimate", cache_dir=musicnn_cache)
    _, labels, _ = load_arrays(musicnn_prepared, "train", "musicnn")
    assert x.shape == (len(labels), 400) and np.isfinite(x).all()
    np.testing.assert_array_equal(y, labels)
    [cached] = (musicnn_prepared / "embeddings").glob("MSD_musicnn-outputs-*-train.npz")
    np.testing.assert_array_equal(
        emb.musicnn_embeddings(musicnn_prepared, "train", "penultimate", cache_dir=musicnn_cache)[0], x
    )
    assert cached.is_file()


def test_frozen_base_keeps_its_weights_and_fine_tuning_trains_all_but_batch_norms(musicnn_cache):
    config = mn.MusicnnConfig(cache_dir=str(musicnn_cache), dense_units=8, seed=1)
    model = mn.build(config, (32, 96), 3)
    base = model.get_layer(mn.BASE_NAME)
    assert config.frozen and base.trainable_weights == []
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 4, (8, 32, 96)).astype("float32"), np.arange(8) % 3

    def base_snapshot():
        return [keras.ops.convert_to_numpy(w).copy() for w in base.weights]

    before = base_snapshot()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(before, base_snapshot(), strict=True):
        np.testing.assert_array_equal(a, b)  # batch norm statistics included

    mn.unfreeze(model, config)
    trainable = {w.path for w in base.trainable_weights}
    assert any("mid_conv3" in p for p in trainable) and any("timbral_74" in p for p in trainable)
    assert not any(p.startswith(f"{mn.BASE_NAME}/tags") for p in trainable)
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)


def test_fit_end_to_end_with_the_pretrained_net(musicnn_prepared, musicnn_cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GENRE_CACHE", str(musicnn_cache))
    run = tmp_path / "run"
    settings = {
        "max_epochs": 1,
        "fine_tune_epochs": 1,
        "batch_size": 8,
        "dense_units": 8,
        "progress": "false",
        "tensorboard": "false",
    }
    sets = [a for k, v in settings.items() for a in ("--set", f"{k}={v}")]
    assert main(["fit", "--model", "musicnn", "--data", str(musicnn_prepared), *sets, "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["features"] == "musicnn" and metrics["epochs"] == 2  # frozen phase, then fine-tuning
    assert metrics["test"]["clips"] > 0 and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    assert (run / "checkpoints" / "finetune").is_dir()
    capsys.readouterr()
    # `genre predict` cuts a file into the data set's clip length and scores every patch of each piece.
    assert main(["predict", "--run", str(run), str(REAL_MP3), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_baseline_on_musicnn_embeddings(musicnn_prepared, musicnn_cache, tmp_path, capsys, monkeypatch):
    from genre.baselines.fit import load_features

    monkeypatch.setenv("GENRE_CACHE", str(tmp_path / "no-cache"))
    run = tmp_path / "svm"
    args = ["baseline", "--model", "svm", "--data", str(musicnn_prepared), "--features", "musicnn_embeddings"]
    assert main([*args, "--run-dir", str(run)]) == 2  # no weights: stops before the run starts
    assert FETCH_COMMAND in capsys.readouterr().err and not run.exists()

    monkeypatch.setenv("GENRE_CACHE", str(musicnn_cache))
    assert main([*args, "--set", "embedding_layer=mean_pool", "--run-dir", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["features"] == "musicnn_embeddings" and metrics["val"]["clips"] > 0
    x, y = load_features(musicnn_prepared, "validation", "musicnn_embeddings", "mean_pool")
    assert len(y) == len(x)
    expected = emb.musicnn_embeddings(musicnn_prepared, "validation", "mean_pool", cache_dir=musicnn_cache)
    np.testing.assert_array_equal(x, expected[0])
    assert x.shape == (metrics["val"]["clips"], 2 * 753)
    # A new file gets the same embeddings of each of its segments; the SVM, without Platt scaling,
    # says one genre with certainty.
    capsys.readouterr()
    assert main(["predict", "--run", str(run), str(REAL_MP3), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sorted(result["probabilities"].values())[-2:] == [0.0, 1.0] and len(result["top"]) == 3


def test_a_folds_tagger_outputs_are_its_clips_of_each_splits_outputs(musicnn_prepared, musicnn_cache):
    from genre.data.folds import Fold

    by_split = {s: emb.tagger_outputs(musicnn_prepared, s, cache_dir=musicnn_cache) for s in ("train", "test")}
    ids = np.concatenate([by_split["train"].track_ids[:3], by_split["test"].track_ids[:2]])
    rest = np.setdiff1d(np.concatenate([o.track_ids for o in by_split.values()]), ids)
    fold = Fold(0, 0, train=np.sort(ids), validation=rest[:2], test=rest[2:])
    role = emb.tagger_outputs(musicnn_prepared, "train", fold=fold, cache_dir=musicnn_cache)
    np.testing.assert_array_equal(np.sort(role.track_ids), np.sort(ids))
    for name, values in role.layers.items():
        for i, track in enumerate(role.track_ids):
            split = "train" if track in by_split["train"].track_ids else "test"
            j = list(by_split[split].track_ids).index(track)
            np.testing.assert_array_equal(values[i], by_split[split].layers[name][j])


def _head_only_config(data, cache, **more):
    from genre.train.config import apply_overrides
    from genre.train.fit import default_config

    settings = {"data": str(data), "cache_dir": str(cache), "fine_tune_epochs": "0", "batch_size": "4"}
    settings |= {"progress": "false", "tensorboard": "false", **more}
    return apply_overrides(default_config("musicnn"), settings)


def test_a_frozen_pretrained_base_trains_its_head_alone_and_the_run_keeps_the_whole_net(
    musicnn_prepared, musicnn_cache, tmp_path
):
    from genre.models import load_model
    from genre.train.fit import WHOLE_MODEL, evaluate_run, train_and_evaluate

    config = _head_only_config(musicnn_prepared, musicnn_cache, max_epochs="2", dense_units="8")
    assert mn.encoder(config.model_config) is not None
    assert mn.encoder(_head_only_config(musicnn_prepared, musicnn_cache, fine_tune_epochs="1").model_config) is None
    run = tmp_path / "run"
    metrics = train_and_evaluate(config, run)
    assert metrics["epochs"] == 2 and metrics["checkpoint"] == WHOLE_MODEL
    # The epochs' checkpoints are the head alone, on the tagger's 200 penultimate values ...
    [kept] = (run / "checkpoints").glob("epoch=*.keras")
    assert load_model(kept).inputs[0].shape[1:] == (200,)
    # ... and the run's model is the whole net, which scores the clips' patches as the head scored
    # their encodings.
    whole = load_model(run / WHOLE_MODEL)
    assert whole.get_layer(mn.BASE_NAME) is not None and whole.inputs[0].shape[1:] == (187, 96)
    again = evaluate_run(run, "validation")
    assert again["accuracy"] == metrics["val"]["accuracy"] and again["clips"] == metrics["val"]["clips"]
    assert again["predictions"] == metrics["val"]["predictions"]
    assert again["window_accuracy"] == pytest.approx(metrics["val"]["window_accuracy"])


def test_the_head_alone_starts_as_the_whole_nets_head_and_composes_back(musicnn_cache):
    config = mn.MusicnnConfig(cache_dir=str(musicnn_cache), dense_units=8, seed=3, fine_tune_epochs=0)
    whole, head = mn.build(config, (187, 96), 5), mn.build_head(config, (200,), 5)
    assert [layer.name for layer in head.layers if layer.weights] == ["head", "probabilities"]
    for layer in (layer for layer in head.layers if layer.weights):
        for a, b in zip(layer.get_weights(), whole.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    head.get_layer("probabilities").set_weights([rng.normal(size=(8, 5)).astype("float32"), np.ones(5, "float32")])
    patches = rng.uniform(0, 3, (3, 187, 96)).astype("float32")
    tagger = keras.Model(whole.get_layer(mn.BASE_NAME).inputs, whole.get_layer(mn.BASE_NAME).outputs[1])
    expected = head.predict_on_batch(tagger.predict_on_batch(patches))
    composed = mn.compose(config, head, (187, 96), 5)
    np.testing.assert_allclose(composed.predict_on_batch(patches), expected, rtol=1e-5, atol=1e-6)


def test_encoded_epochs_resume_inside_an_epoch_with_the_same_batches(musicnn_prepared, musicnn_cache):
    from genre.train.fit import training_setup

    config = _head_only_config(musicnn_prepared, musicnn_cache)
    data, task = training_setup(config, ("train", "validation"))
    assert task.head_only and data.input_shape == (200,)
    [whole], steps = data.train_epochs(0, 2)
    batches = [(x, y) for x, y in whole.batches.as_numpy_iterator()]
    assert steps == data.steps_per_epoch() and len(batches) == 2 * steps
    legs, _ = data.train_epochs(0, 2, first_step=2)
    resumed = [(x, y) for leg in legs for x, y in leg.batches.as_numpy_iterator()]
    assert len(resumed) == len(batches) - 2
    for (x, y), (rx, ry) in zip(batches[2:], resumed, strict=True):
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(y, ry)
    # Epochs differ in order, and every training patch is in each.
    first = np.concatenate([x for x, _ in batches[:steps]])
    second = np.concatenate([x for x, _ in batches[steps:]])
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(first, axis=0), np.sort(second, axis=0))
