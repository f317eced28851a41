"""The `genre` command: thin wrappers, one-line errors naming the bad input."""

from __future__ import annotations

import pytest

from genre.cli import main


def test_info_prints_counts_and_the_synthetic_warning(prepared, capsys):
    assert main(["info", str(prepared)]) == 0
    out = capsys.readouterr().out
    assert "GENERATED DATA" in out
    assert "Hip-Hop" in out and "total" in out and "handcrafted" in out
    assert [line.split()[3] for line in out.splitlines() if line.startswith("  mel ")] == ["v2"]


def test_info_json_is_the_manifest(prepared, capsys):
    import json

    assert main(["info", str(prepared), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["synthetic"] is True


def test_errors_are_one_line_naming_the_input(tmp_path, capsys, synth_root):
    assert main(["info", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "Traceback" not in err
    assert main(["prepare", "--fma", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "tracks.csv" in capsys.readouterr().err
    # A valid root, so that the feature kind is what fails.
    out = tmp_path / "o"
    assert main(["prepare", "--fma", str(synth_root), "--out", str(out), "--features", "raw,wave", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown feature kind(s) ['wave']; valid kinds are [" in err and "'raw'" in err and "Traceback" not in err
    assert not out.exists()


def test_prepare_and_synth_from_the_command_line(tmp_path, capsys):
    fma = tmp_path / "fma"
    assert (
        main(
            [
                "synth",
                "--out",
                str(fma),
                "--tracks-per-genre",
                "1",
                "--seconds",
                "1.5",
                "--sample-rate",
                "22050",
                "--channels",
                "1",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    assert "wrote 8 generated clips" in capsys.readouterr().out
    assert (
        main(
            [
                "prepare",
                "--fma",
                str(fma),
                "--out",
                str(tmp_path / "data"),
                "--duration",
                "1.5",
                "--features",
                "handcrafted,mel",
                "--split",
                "random",
                "--workers",
                "1",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "GENERATED DATA" in out and "raw" not in out.split("features")[1].split("shards")[0]


def test_unknown_command_exits_with_usage():
    with pytest.raises(SystemExit) as err:
        main(["train"])
    assert err.value.code == 2


def test_tensorflow_says_nothing_unless_verbose(prepared, tmp_path):
    """TensorFlow's start-up lines reach the user only with --verbose; the command's own output stays."""
    import subprocess
    import sys

    def baseline(*flags: str, run: str) -> subprocess.CompletedProcess:
        args = [*flags, "baseline", "--model", "nb", "--data", str(prepared), "--run-dir", str(tmp_path / run)]
        return subprocess.run([sys.executable, "-m", "genre", *args], capture_output=True, text=True, check=True)

    quiet = baseline(run="quiet")
    assert "nb on scikit-learn" in quiet.stdout
    assert quiet.stderr == ""
    # TensorFlow prints start-up lines at the test session's log level only on some CPUs (oneDNN,
    # instructions it was not built for): asked of TensorFlow alone, with the first operation
    # `silence_tensorflow` runs too, in this same environment.
    probe = "import tensorflow as tf; tf.constant(0.0) + 1.0"
    plain = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    if "oneDNN" not in plain.stderr and "cpu_feature_guard" not in plain.stderr:
        pytest.skip("TensorFlow prints no start-up lines on this CPU: --verbose has none to let through")
    verbose = baseline("--verbose", run="verbose")
    assert "oneDNN" in verbose.stderr or "cpu_feature_guard" in verbose.stderr  # what quiet keeps away


@pytest.mark.requires_jax_backend
@pytest.mark.slow
def test_jax_keeps_what_it_compiles_in_genres_cache_for_the_next_run(prepared, tmp_path):
    """A second identical `genre fit` finds the first one's compiled steps on disk; off when
    JAX_COMPILATION_CACHE_DIR is set, as the test session sets it (empty)."""
    import os
    import subprocess
    import sys

    from tests.train.conftest import tiny_set_arguments

    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    env |= {"GENRE_CACHE": str(tmp_path / "cache"), "KERAS_BACKEND": "jax"}
    # Every compilation kept, however quick: with genre's threshold of 0.5 s, a small one that took
    # 0.4 s in the first fit and 0.6 s in the second (a loaded machine) was kept only by the second.
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    cache = tmp_path / "cache" / "jax-compilation"

    def fit(run: str, environ: dict, **settings) -> None:
        sets = tiny_set_arguments(prepared, max_epochs=1, **settings)
        args = ["fit", "--model", "conv1d", *sets, "--run-dir", str(tmp_path / run)]
        subprocess.run([sys.executable, "-m", "genre", *args], env=environ, capture_output=True, check=True)

    fit("first", env)
    entries = set(os.listdir(cache))
    assert entries  # the training and inference steps, at least
    fit("second", env)
    assert set(os.listdir(cache)) == entries  # the same steps: found, not compiled and written again
    fit("off", env | {"JAX_COMPILATION_CACHE_DIR": ""}, filters="6,6")  # new steps, none kept
    assert set(os.listdir(cache)) == entries
