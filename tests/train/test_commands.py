"""`genre fit`, `genre test`, `genre predict`, and checkpoints that cross backends."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import soundfile as sf

from genre.cli import main
from genre.run_dir import RunDir
from tests.conftest import REAL_MP3
from tests.train.conftest import tiny_set_arguments


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, prepared):
    run = tmp_path_factory.mktemp("runs") / "conv1d"
    assert main(["fit", "--model", "conv1d", *tiny_set_arguments(prepared, max_epochs=2), "--run-dir", str(run)]) == 0
    return run


def test_fit_prints_a_summary_and_warns_on_generated_data(trained_run, capsys, prepared, tmp_path):
    assert (
        main(
            [
                "fit",
                "--model",
                "conv1d",
                *tiny_set_arguments(prepared, fast_dev_run="true"),
                "--run-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "GENERATED DATA" in out and "test  accuracy" in out and "window accuracy" in out


def test_fit_errors_are_one_line(tmp_path, capsys, prepared):
    assert main(["fit", "--model", "resnet", "--data", str(prepared)]) == 2
    assert "valid models are" in capsys.readouterr().err
    assert main(["fit", "--model", "conv1d", "--data", str(prepared), "--set", "epochs=1"]) == 2
    assert "valid settings are" in capsys.readouterr().err
    assert main(["fit", "--model", "conv1d", "--resume", "--run-dir", str(tmp_path / "none")]) == 2
    assert "config.json" in capsys.readouterr().err


def test_test_command_scores_the_best_checkpoint(trained_run, capsys):
    assert main(["test", "--run", str(trained_run)]) == 0
    scored = json.loads(capsys.readouterr().out)
    recorded = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert scored["accuracy"] == recorded["accuracy"] and scored["confusion"] == recorded["confusion"]


def test_predict_any_length_and_bad_files(trained_run, tmp_path, capsys):
    long_file = tmp_path / "long.wav"
    t = np.arange(int(22050 * 7.5)) / 22050  # 2.5 clips of the 3 s data set
    sf.write(long_file, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 22050)
    broken = tmp_path / "broken.mp3"
    broken.write_text("not audio")
    assert main(["predict", "--run", str(trained_run), "--json", str(long_file), str(REAL_MP3), str(broken)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for result in lines[:2]:
        assert set(result) == {"path", "top", "probabilities"}
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert result["top"][0] == max(result["probabilities"], key=result["probabilities"].get)
    assert "undecodable audio" in lines[2]["error"]


@pytest.mark.slow
def test_a_checkpoint_predicts_the_same_under_the_other_backend(trained_run, tmp_path):
    from genre.models import load_model

    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    checkpoint = RunDir(trained_run).best_checkpoint()
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (4, 2000, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    here = np.asarray(load_model(checkpoint).predict_on_batch(x))
    script = (
        "import sys, numpy as np; from genre.models import load_model; "
        "m = load_model(sys.argv[1]); np.save(sys.argv[3], np.asarray(m.predict_on_batch(np.load(sys.argv[2]))))"
    )
    env = {**os.environ, "KERAS_BACKEND": other}
    subprocess.run(
        [sys.executable, "-c", script, str(checkpoint), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        check=True,
        env=env,
        capture_output=True,
    )
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), here, atol=1e-5)


def test_missing_imagenet_weights_stop_before_any_work(tmp_path, capsys, prepared):
    from genre.models.mobilenet import IMAGENET_ROWS, MobileNetConfig, imagenet_weights_path

    # Decided before running: with the file absent, a `fit` that succeeds (downloads) is the failure.
    cached = [p for r in IMAGENET_ROWS if (p := imagenet_weights_path(MobileNetConfig().alpha, r)).is_file()]
    if cached:
        pytest.skip(f"Keras's ImageNet file for MobileNetV2 is cached on this machine: {cached[0]}")
    run = tmp_path / "run"
    code = main(
        ["fit", "--model", "mobilenet", "--data", str(prepared), "--weights", "imagenet", "--run-dir", str(run)]
    )
    err = capsys.readouterr().err
    assert code == 2 and "not found at" in err and "--weights none" in err and "Nothing is downloaded" in err
    assert not run.exists()
