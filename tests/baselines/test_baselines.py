"""Every classic baseline against one contract: fit, score both splits, save, reload in a fresh process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from genre import run_dir as rd
from genre.baselines import BASELINES, get_baseline
from genre.baselines.fit import MODEL_FILE, default_baseline_config, fit_baseline, load_baseline, load_features
from genre.cli import main
from genre.data import ManifestError, load_arrays
from genre.train.config import apply_overrides
from tests.conftest import missing_shard

# Small enough for the session's 32 training clips; every model keeps its own defaults otherwise.
SETTINGS = {"hgb": {"max_iter": "20"}}


def baseline_config(name: str, data, **overrides):
    settings = {"data": str(data), **SETTINGS.get(name, {}), **{k: str(v) for k, v in overrides.items()}}
    return apply_overrides(default_baseline_config(name), settings)


@pytest.fixture(scope="module")
def fitted(prepared, tmp_path_factory):
    root = tmp_path_factory.mktemp("baselines")
    return {name: (root / name, fit_baseline(baseline_config(name, prepared), root / name)) for name in BASELINES}


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_contract_fit_scores_and_saves(fitted, prepared, name):
    run, metrics = fitted[name]
    assert metrics["model"] == name and metrics["backend"] == "scikit-learn" and metrics["epochs"] is None
    _, y_val = load_features(prepared, "validation", "handcrafted")
    x_test, y_test = load_features(prepared, "test", "handcrafted")
    for key, y in (("val", y_val), ("test", y_test)):
        assert metrics[key]["clips"] == len(y)
        assert np.asarray(metrics[key]["confusion"]).sum() == len(y)
        assert 0.0 <= metrics[key]["accuracy"] <= 1.0
    assert metrics["train_seconds"] >= 0 and metrics["inference_seconds_per_clip"] > 0
    on_disk = json.loads((run / rd.METRICS).read_text())
    assert on_disk["checkpoint"] == MODEL_FILE and on_disk["val"] == metrics["val"]
    assert json.loads((run / rd.CONFIG).read_text())["kind"] == "baseline"
    # The reloaded pipeline predicts what the scored one did: its metrics are reproduced.
    pipeline = load_baseline(run)
    assert np.mean(pipeline.predict(x_test) == y_test) == pytest.approx(metrics["test"]["accuracy"])


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_reload_in_a_fresh_process_gives_the_same_predictions(fitted, prepared, name, tmp_path):
    run, _ = fitted[name]
    x, _ = load_features(prepared, "test", "handcrafted")
    expected = load_baseline(run).predict(x)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np; from genre.baselines.fit import load_baseline; "
        "np.save(sys.argv[3], load_baseline(sys.argv[1]).predict(np.load(sys.argv[2])))"
    )
    subprocess.run([sys.executable, "-c", code, str(run), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), expected)


def test_same_seed_same_model(prepared, tmp_path):
    runs = [fit_baseline(baseline_config("hgb", prepared, seed=5), tmp_path / str(i)) for i in range(2)]
    assert runs[0]["val"] == runs[1]["val"] and runs[0]["test"] == runs[1]["test"]


def test_a_changed_model_file_is_refused(fitted, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(fitted["logreg"][0], run)
    with (run / MODEL_FILE).open("ab") as f:
        f.write(b"\0")
    with pytest.raises(rd.RunError, match="SHA-256 differs"):
        load_baseline(run)


def test_loading_refuses_a_model_file_with_types_outside_scikit_learn(fitted, tmp_path):
    import math

    import skops.io
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from genre.data.manifest import sha256_file

    run = tmp_path / "run"
    shutil.copytree(fitted["logreg"][0], run)
    skops.io.dump(make_pipeline(FunctionTransformer(math.sqrt)), run / MODEL_FILE)
    # The recorded hash matches, so the type check is what refuses it.
    metrics = json.loads((run / rd.METRICS).read_text())
    (run / rd.METRICS).write_text(json.dumps({**metrics, "checkpoint_sha256": sha256_file(run / MODEL_FILE)}))
    with pytest.raises(rd.RunError, match=r"holds types outside scikit-learn \['math\.sqrt'\]; refusing to load it"):
        load_baseline(run)


def test_tuning_mode_never_reads_the_test_split(prepared, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(prepared, data)
    shutil.rmtree(data / "test")
    metrics = fit_baseline(baseline_config("svm", data), tmp_path / "run", evaluate_test=False)
    assert "test" not in metrics and "val" in metrics
    # The same run with the test split scored does read it (the temporary path holds "test" too, so the
    # match names the shard).
    with pytest.raises(ManifestError, match=missing_shard(data / "test")):
        fit_baseline(baseline_config("svm", data), tmp_path / "run2")


def test_settings_are_checked(prepared, tmp_path):
    with pytest.raises(ValueError, match=r"unknown setting 'gama'.*'gamma'"):
        baseline_config("svm", prepared, gama=1)
    with pytest.raises(ValueError, match="gamma must be"):
        baseline_config("svm", prepared, gamma="wide")
    with pytest.raises(ValueError, match="pca_components=999 exceeds"):
        fit_baseline(baseline_config("logreg", prepared, pca_components=999), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(ValueError, match="unknown baseline 'forest'"):
        get_baseline("forest")


def test_pca_is_applied(prepared, tmp_path):
    fit_baseline(baseline_config("logreg", prepared, pca_components=8), tmp_path / "run")
    assert load_baseline(tmp_path / "run").named_steps["pca"].n_components_ == 8


def test_cli_baseline_with_toml_config_then_test(prepared, tmp_path, capsys):
    config = tmp_path / "knn.toml"
    config.write_text("[model_config]\nn_neighbors = 3\nmetric = 'manhattan'\n")
    run = tmp_path / "run"
    args = ["baseline", "--model", "knn", "--data", str(prepared), "--config", str(config), "--run-dir", str(run)]
    assert main([*args, "--set", "weights=distance"]) == 0
    assert "knn on scikit-learn" in capsys.readouterr().out
    saved = json.loads((run / rd.CONFIG).read_text())["model_config"]
    assert saved == {"n_neighbors": 3, "weights": "distance", "metric": "manhattan", "pca_components": 0}
    assert main(["test", "--run", str(run), "--split", "validation"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["accuracy"] == json.loads((run / rd.METRICS).read_text())["val"]["accuracy"]
    assert main([*args]) == 2  # the run directory is taken
    assert "not empty" in capsys.readouterr().err


def test_recorded_predictions_name_the_right_clips(fitted, prepared, synth_root):
    """The per-clip predictions of metrics.json are aligned with their track ids: each recorded label
    is that track's genre in the catalog, and the predictions reproduce the accuracy."""
    from genre.data.fma import load_fma_catalog

    genres = json.loads((prepared / "manifest.json").read_text())["genres"]
    catalog = load_fma_catalog(synth_root).tracks.set_index("track_id")["genre"]
    for _, metrics in fitted.values():
        for split in ("val", "test"):
            p = metrics[split]["predictions"]
            assert [genres[y] for y in p["label"]] == [catalog[t] for t in p["track_id"]]
            correct = np.mean(np.array(p["label"]) == np.array(p["predicted"]))
            assert correct == pytest.approx(metrics[split]["accuracy"])
            low, high = metrics[split]["accuracy_interval"]
            assert low <= metrics[split]["accuracy"] <= high


def test_a_baseline_predicts_files_as_prepare_featurised_them(fitted, prepared, synth_root, capsys):
    """A file's features are computed as `prepare` computed the stored ones, so the prediction for a
    clip of the data set is the pipeline's prediction for its stored vector."""
    from genre.data.fma import load_fma_catalog

    run, _ = fitted["knn"]
    pipeline = load_baseline(run)
    x, _ = load_features(prepared, "test", "handcrafted")
    _, _, ids = load_arrays(prepared, "test", "handcrafted")
    paths = load_fma_catalog(synth_root).tracks.set_index("track_id")["path"]
    files = [paths[int(t)] for t in ids[:3]]
    assert main(["predict", "--run", str(run), "--json", *map(str, files), "missing.mp3"]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "error" in lines[-1] and "missing.mp3" in lines[-1]["path"]
    genres = json.loads((run / rd.MANIFEST).read_text())["genres"]
    for line, expected in zip(lines[:3], pipeline.predict_proba(x[:3]), strict=True):
        got = np.array([line["probabilities"][g] for g in genres])
        np.testing.assert_allclose(got, expected, atol=1e-5)
        assert line["top"][0] == genres[int(expected.argmax())] or expected.max() == np.sort(expected)[-2]
