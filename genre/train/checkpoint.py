"""What the Trainer keeps of a net on disk: `.keras` files that carry their run's config, and the
resume state of `checkpoints/last/` (see `genre.run_dir` for the run directory's layout).

Every `.keras` file written here also carries the run's config inside it (`genre.json`), so a
checkpoint copied elsewhere still says what it is.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from genre.run_dir import LAST, STATE, RunError, json_default, read_json, write_json

EMBEDDED_CONFIG = "genre.json"
VARIABLES = "variables.npz"
MODEL_FILE = "model.keras"


def save_model(model, path: Path, config: dict) -> None:
    """`model.save` plus the run config inside the archive."""
    tmp = path.with_name(path.name + ".tmp.keras")
    model.save(tmp)
    with zipfile.ZipFile(tmp, "a") as archive:
        archive.writestr(EMBEDDED_CONFIG, json.dumps(config, indent=1, default=json_default))
    os.replace(tmp, path)


def embedded_config(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read(EMBEDDED_CONFIG))


def save_resume_state(directory: Path, model, config: dict, state: dict, *, inside_epoch: bool = False) -> None:
    """Everything needed to continue exactly: all variables (seed generators and optimizer included,
    which `.keras` files do not restore), the metrics' accumulators (a state saved inside an epoch
    continues that epoch's running means), and the trainer's and callbacks' state. Written to a
    fresh folder and swapped in, so a kill at any moment leaves either the old state or the new one.

    inside_epoch: a state saved between steps keeps the last finished epoch's `model.keras` (a hard
    link, no copy), so `last/model.keras` is always a model of a finished epoch, and saving every
    few steps costs the variables alone."""
    import keras

    tmp, old = directory.with_name(LAST + ".tmp"), directory.with_name(LAST + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    groups = (
        ("model", model.variables),
        ("optimizer", model.optimizer.variables),
        ("metrics", model.metrics_variables),
    )
    arrays = {f"{prefix}_{i}": keras.ops.convert_to_numpy(v) for prefix, group in groups for i, v in enumerate(group)}
    np.savez(tmp / VARIABLES, **arrays)
    if not inside_epoch:
        save_model(model, tmp / MODEL_FILE, config)
    elif (directory / MODEL_FILE).is_file():
        _link_or_copy(directory / MODEL_FILE, tmp / MODEL_FILE)
    write_json(tmp / STATE, state)
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # a file system without hard links
        shutil.copyfile(source, target)


def load_resume_state(directory: Path, model) -> dict:
    """Restores variables into a freshly built and compiled model; returns the trainer state, with the
    metrics' saved accumulators under "metrics_values" (see `restore_metrics`)."""
    if not (directory / STATE).is_file():
        old = directory.with_name(LAST + ".old")
        if (old / STATE).is_file():  # killed between the two renames of save_resume_state
            directory = old
        else:
            raise RunError(f"{directory}: no resume state (no epoch finished, no step was saved); start the run again")
    state = read_json(directory / STATE)
    arrays = _read_variables(directory / VARIABLES)
    model.optimizer.build(model.trainable_variables)
    for prefix, variables in (("model", model.variables), ("optimizer", model.optimizer.variables)):
        for variable, value in zip(variables, _stored(arrays, prefix, len(variables), directory), strict=True):
            variable.assign(value)
    # States saved before the accumulators were: no key, and nothing to continue (they end epochs).
    state["metrics_values"] = [arrays[k] for k in _keys(arrays, "metrics")]
    return state


def restore_metrics(model, values: list[np.ndarray], directory: Path) -> None:
    """Sets the metrics' accumulators (after Keras reset them at an epoch's start) to a saved state's."""
    variables = model.metrics_variables
    for variable, value in zip(variables, _stored(values, None, len(variables), directory), strict=True):
        variable.assign(value)


def _keys(arrays: dict, prefix: str) -> list[str]:
    return sorted((k for k in arrays if k.startswith(prefix + "_")), key=lambda k: int(k.split("_")[1]))


def _stored(arrays, prefix: str | None, expected: int, directory: Path) -> list[np.ndarray]:
    """The saved values of one group of variables, in order, checked against the rebuilt model's count."""
    values = list(arrays) if prefix is None else [arrays[k] for k in _keys(arrays, prefix)]
    if len(values) != expected:
        raise RunError(
            f"{directory}: saved {prefix or 'metrics'} has {len(values)} variables, the rebuilt one {expected}; "
            "was the config changed?"
        )
    return values


def _read_variables(path: Path) -> dict[str, np.ndarray]:
    """Every array of `variables.npz`, read now, so a damaged file fails here with its name, not midway."""
    if path.is_file() and not zipfile.is_zipfile(path):
        raise RunError(f"{path}: damaged resume state (not an .npz archive); {_START_AGAIN}")
    try:
        with np.load(path) as arrays:
            return {key: arrays[key] for key in arrays.files}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as err:
        raise RunError(f"{path}: damaged resume state ({type(err).__name__}: {err}); {_START_AGAIN}") from None


_START_AGAIN = "the run cannot continue exactly from it: start it again in a new --run-dir (this one is left as it is)"
