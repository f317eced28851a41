"""musicnn's pretrained weights in the local cache: fetched and converted once, by one explicit command.

`genre weights fetch musicnn` (`fetch_musicnn`) gets the `musicnn` 0.1.0 wheel from the package index
(`pip download --no-deps`), or takes a wheel file the user names (offline machines), checks its SHA-256,
reads its four TensorFlow 1 checkpoints with `tf.compat.v1.train.NewCheckpointReader`, assigns every
variable to the matching layer of `genre.models.musicnn.build_tagger`, and writes one Keras
`.weights.h5` file per variant into `CACHE/musicnn/`, with `weights.json` recording the SHA-256 of each
file and of the wheel. Nothing of the package's code is installed or run.

Models find the weights with `musicnn_weights_path`, which verifies the file's SHA-256 against
`weights.json` and otherwise fails with one message naming the fetch command. Nothing is downloaded or
converted at import, at build or in tests.

Cache folder: `genre.weights.default_cache_dir` unless a `cache_dir` is given.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from genre.data.manifest import sha256_file
from genre.weights import default_cache_dir

MUSICNN_PACKAGE = "musicnn==0.1.0"
# SHA-256 of musicnn-0.1.0-py3-none-any.whl as published on the package index (files there never change).
MUSICNN_WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
FETCH_COMMAND = "genre weights fetch musicnn"
INDEX_NAME = "weights.json"


def musicnn_dir(cache_dir: str | Path | None = None) -> Path:
    return (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / "musicnn"


def _read_index(folder: Path, variant: str) -> dict:
    index = folder / INDEX_NAME
    if not index.is_file():
        raise FileNotFoundError(
            f"musicnn weights ({variant}) not found: {index} does not exist. Run `{FETCH_COMMAND}` once "
            f"(it needs the package index, or `--wheel FILE` with the musicnn 0.1.0 wheel), with --cache "
            f"{folder.parent} or GENRE_CACHE={folder.parent}"
        )
    try:
        return json.loads(index.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{index}: not valid JSON ({err}); run `{FETCH_COMMAND}` again") from err


def musicnn_weights_path(variant: str, cache_dir: str | Path | None = None) -> Path:
    """The converted weights file of `variant`, after checking its SHA-256 against `weights.json`."""
    from genre.models.musicnn import check_variant

    check_variant(variant)
    folder = musicnn_dir(cache_dir)
    entry = _read_index(folder, variant).get("variants", {}).get(variant)
    if entry is None:
        raise FileNotFoundError(f"musicnn weights of {variant} are not in {folder / INDEX_NAME}; run `{FETCH_COMMAND}`")
    path = folder / entry["file"]
    if not path.is_file():
        raise FileNotFoundError(f"musicnn weights file {path} is missing; run `{FETCH_COMMAND}` again")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ValueError(
            f"musicnn weights file {path} has SHA-256 {actual}, but {folder / INDEX_NAME} records "
            f"{entry['sha256']} (corrupt or changed file); run `{FETCH_COMMAND}` again"
        )
    return path


def musicnn_weights_sha256(variant: str, cache_dir: str | Path | None = None) -> str:
    """The recorded SHA-256 of `variant`'s weights file (checked against the file first)."""
    path = musicnn_weights_path(variant, cache_dir)
    return _read_index(path.parent, variant)["variants"][variant]["sha256"]


def fetch_musicnn(
    cache_dir: str | Path | None = None,
    wheel: str | Path | None = None,
    *,
    variants: tuple[str, ...] | None = None,
) -> dict:
    """Gets the wheel (downloads it unless `wheel` is given), converts its checkpoints, writes the cache.

    Returns what `weights.json` records. Converting again replaces the files with identical weights.
    """
    from genre.models.musicnn import VARIANTS

    variants = tuple(VARIANTS) if variants is None else tuple(variants)
    folder = musicnn_dir(cache_dir)
    with tempfile.TemporaryDirectory(prefix="genre-musicnn-") as tmp:
        tmp = Path(tmp)
        wheel_path = Path(wheel).expanduser() if wheel is not None else _download_wheel(tmp / "download")
        if not wheel_path.is_file():
            raise FileNotFoundError(f"--wheel {wheel}: no such file (the musicnn 0.1.0 wheel from the package index)")
        wheel_sha = sha256_file(wheel_path)
        if wheel_sha != MUSICNN_WHEEL_SHA256:
            raise ValueError(
                f"{wheel_path} has SHA-256 {wheel_sha}, not that of {MUSICNN_PACKAGE}'s published wheel "
                f"({MUSICNN_WHEEL_SHA256})"
            )
        unpacked = tmp / "wheel"
        with zipfile.ZipFile(wheel_path) as archive:
            members = [m for m in archive.namelist() if m.split("/")[0] == "musicnn" and m.count("/") == 2]
            archive.extractall(unpacked, members=members)
        folder.mkdir(parents=True, exist_ok=True)
        index = {"package": MUSICNN_PACKAGE, "wheel": {"file": wheel_path.name, "sha256": wheel_sha}, "variants": {}}
        for variant in variants:
            name = f"{variant}.weights.h5"
            parameters = convert_checkpoint(unpacked / "musicnn" / variant, variant, folder / name)
            index["variants"][variant] = {"file": name, "sha256": sha256_file(folder / name), "parameters": parameters}
    tmp_index = folder / (INDEX_NAME + ".tmp")
    tmp_index.write_text(json.dumps(index, indent=1) + "\n")
    tmp_index.replace(folder / INDEX_NAME)
    return index


def _download_wheel(dest: Path) -> Path:
    # Without the package index pip fails at once rather than retrying for a minute.
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--retries", "0", "--timeout", "15"]
    command += ["--dest", str(dest), MUSICNN_PACKAGE]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(dest.glob("musicnn-*.whl")) if dest.is_dir() else []
    if done.returncode != 0 or not wheels:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel written"]
        raise FileNotFoundError(
            f"could not download {MUSICNN_PACKAGE} with `{' '.join(command[2:])}` ({detail[0]}); on a machine "
            f"without the package index, download the wheel elsewhere and pass --wheel FILE"
        )
    return wheels[0]


def convert_checkpoint(checkpoint_dir: Path, variant: str, out: Path) -> int:
    """Reads one TF 1 checkpoint folder into `build_tagger(variant)` and saves its Keras weights to `out`.

    Every layer's variables are taken by name (kernel, bias, gamma, beta, moving_mean, moving_variance)
    and reshaped where the original used a 2-D convolution spanning all bands (our Conv1D). All
    checkpoint variables but the optimizer's must be used, and every shape must match. Returns the
    number of parameters.
    """
    import numpy as np
    import tensorflow as tf

    from genre.models.musicnn import build_tagger, checkpoint_map

    if not (checkpoint_dir / ".index").is_file():
        raise FileNotFoundError(f"{checkpoint_dir}: no TensorFlow checkpoint (.index) in the wheel")
    # The checkpoint's prefix is the folder itself: files named ".index" and ".data-00000-of-00001".
    reader = tf.compat.v1.train.NewCheckpointReader(str(checkpoint_dir) + "/")
    stored = {name for name in reader.get_variable_to_shape_map() if "Adam" not in name and not name.endswith("_power")}
    model = build_tagger(variant)
    used = set()
    for layer_name, scope in checkpoint_map(variant):
        layer = model.get_layer(layer_name)
        for weight in layer.weights:
            key = f"{scope}/{weight.name}"
            if key not in stored:
                raise ValueError(f"{checkpoint_dir}: no variable {key!r} for layer {layer_name!r}")
            value = reader.get_tensor(key)
            target = tuple(weight.shape)
            if int(np.prod(value.shape)) != int(np.prod(target)):
                raise ValueError(
                    f"{checkpoint_dir}: {key} has shape {value.shape}, layer {layer_name!r} needs {target}"
                )
            weight.assign(value.reshape(target).astype("float32"))
            used.add(key)
    if unused := sorted(stored - used):
        raise ValueError(f"{checkpoint_dir}: checkpoint variables not mapped to any layer: {unused}")
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(out)
    return int(sum(np.prod(w.shape) for w in model.weights))
