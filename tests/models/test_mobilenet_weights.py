"""`genre weights fetch mobilenet`: Keras's own download into Keras's cache, tried against a server on 127.0.0.1.

The served file has the real layout of MobileNetV2's no-top ImageNet weights (Keras's HDF5 weights
format, every layer of the base at width 0.35) with random values: small, made here, nothing
downloaded from anywhere else.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading

import keras
import numpy as np
import pytest

from genre.cli import main
from genre.data.manifest import sha256_file
from genre.models import MODELS
from genre.models.mobilenet import MobileNetConfig, imagenet_weights_file, imagenet_weights_path
from genre.weights.mobilenet import fetch_mobilenet

ALPHA, ROWS = 0.35, 96


@pytest.fixture
def keras_home(monkeypatch, tmp_path):
    # Keras reads KERAS_HOME once, at import; point its home (what get_file and our path use) at tmp_path.
    home = tmp_path / "keras-home"
    home.mkdir()  # Keras falls back to /tmp/.keras for a home it cannot write to
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(home))
    return home


def _base():
    return keras.applications.MobileNetV2(input_shape=(ROWS, ROWS, 3), alpha=ALPHA, include_top=False, weights=None)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A folder holding a weights file under the name Keras asks for, and the model its values came from."""
    import h5py
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    folder = tmp_path_factory.mktemp("server")
    model = _base()
    with h5py.File(folder / imagenet_weights_file(ALPHA, ROWS), "w") as f:
        save_weights_to_hdf5_group(f, model)
    return folder, model


@contextlib.contextmanager
def http_server(folder):
    """Serves `folder` on 127.0.0.1; yields (base URL, the paths requested)."""
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requested.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", requested
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_downloads_into_kerass_cache_where_mobilenet_then_finds_it(served, keras_home):
    folder, source = served
    with http_server(folder) as (url, requested):
        fetched = fetch_mobilenet(ALPHA, ROWS, base_url=url)
        assert requested == [f"/{imagenet_weights_file(ALPHA, ROWS)}"]
        assert fetched.path == imagenet_weights_path(ALPHA, ROWS) == keras_home / "models" / fetched.path.name
        assert fetched.sha256 == sha256_file(folder / fetched.path.name) and not fetched.cached_before
        again = fetch_mobilenet(ALPHA, ROWS, base_url=url)
        assert again.cached_before and len(requested) == 1  # cached: nothing requested again
    # With the server gone, Keras itself loads the cached file, as `weights="imagenet"` does.
    loaded = keras.applications.MobileNetV2(
        input_shape=(ROWS, ROWS, 3), alpha=ALPHA, include_top=False, weights="imagenet"
    )
    for a, b in zip(loaded.get_weights(), source.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    model = MODELS["mobilenet"].build(MobileNetConfig(alpha=ALPHA, weights="imagenet"), (ROWS, ROWS, 1), 8)
    np.testing.assert_array_equal(model.get_layer("mobilenetv2_base").get_weights()[0], source.get_weights()[0])


def test_a_file_with_another_digest_is_refused_and_not_cached(served, keras_home):
    folder, _ = served
    with http_server(folder) as (url, _), pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        fetch_mobilenet(ALPHA, ROWS, base_url=url, sha256="0" * 64)
    assert not imagenet_weights_path(ALPHA, ROWS).exists()


def test_a_served_file_that_is_not_weights_is_removed_with_its_name(tmp_path, keras_home):
    folder = tmp_path / "bad-server"
    folder.mkdir()
    (folder / imagenet_weights_file(ALPHA, ROWS)).write_text("<html>not found</html>")
    with http_server(folder) as (url, _), pytest.raises(ValueError) as info:
        fetch_mobilenet(ALPHA, ROWS, base_url=url)
    assert "not an HDF5 file" in str(info.value) and imagenet_weights_file(ALPHA, ROWS) in str(info.value)
    assert not imagenet_weights_path(ALPHA, ROWS).exists()


def test_weights_of_another_width_are_refused(served, tmp_path, keras_home):
    folder, _ = served
    wrong = tmp_path / "wrong" / imagenet_weights_file(0.5, ROWS)
    wrong.parent.mkdir()
    wrong.write_bytes((folder / imagenet_weights_file(ALPHA, ROWS)).read_bytes())  # 0.35's weights, 0.5's name
    with pytest.raises(ValueError, match=r"do not load into MobileNetV2 alpha=0\.5"):
        fetch_mobilenet(0.5, ROWS, file=wrong)
    assert not imagenet_weights_path(0.5, ROWS).exists()


def test_without_network_the_error_names_the_url_and_the_offline_way(keras_home):
    with http_server(keras_home.parent) as (url, _):
        pass  # the server is gone: nothing listens on its port any more
    with pytest.raises(FileNotFoundError) as info:
        fetch_mobilenet(ALPHA, ROWS, base_url=url)
    assert url in str(info.value) and "--file FILE" in str(info.value)
    assert not imagenet_weights_path(ALPHA, ROWS).exists()


def test_cli_copies_a_named_file_into_the_cache(served, keras_home, capsys):
    folder, _ = served
    source = folder / imagenet_weights_file(ALPHA, ROWS)
    argv = ["weights", "fetch", "mobilenet", "--file", str(source), "--alpha", str(ALPHA), "--rows", str(ROWS)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert str(imagenet_weights_path(ALPHA, ROWS)) in printed and sha256_file(source) in printed
    assert sha256_file(imagenet_weights_path(ALPHA, ROWS)) == sha256_file(source)
    assert main(["weights", "fetch", "mobilenet", "--wheel", str(source)]) == 2
    assert "--wheel do not apply to mobilenet" in capsys.readouterr().err
