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


def save_resume_state(directory: Path, model, config: dict, state: dict) -> None:
    """Everything needed to continue exactly: all variables (seed generators and optimizer included,
    which `.keras` files do not restore), and the trainer's and callbacks' state. Written to a fresh
    folder and swapped in, so a kill at any moment leaves either the old state or the new one."""
    import keras

    tmp, old = directory.with_name(LAST + ".tmp"), directory.with_name(LAST + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    arrays = {f"model_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.variables)}
    arrays |= {f"optimizer_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(model.optimizer.variables)}
    np.savez(tmp / VARIABLES, **arrays)
    save_model(model, tmp / "model.keras", config)
    write_json(tmp / STATE, state)
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    shutil.rmtree(old, ignore_errors=True)


def load_resume_state(directory: Path, model) -> dict:
    """Restores variables into a freshly built and compiled model; returns the trainer state."""
    if not (directory / STATE).is_file():
        old = directory.with_name(LAST + ".old")
        if (old / STATE).is_file():  # killed between the two renames of save_resume_state
            directory = old
        else:
            raise RunError(f"{directory}: no resume state; the run never finished an epoch, start it again")
    state = read_json(directory / STATE)
    arrays = _read_variables(directory / VARIABLES)
    model.optimizer.build(model.trainable_variables)
    for prefix, variables in (("model", model.variables), ("optimizer", model.optimizer.variables)):
        stored = sorted((k for k in arrays if k.startswith(prefix + "_")), key=lambda k: int(k.split("_")[1]))
        if len(stored) != len(variables):
            raise RunError(
                f"{directory}: saved {prefix} has {len(stored)} variables, the rebuilt one {len(variables)}; "
                "was the config changed?"
            )
        for key, variable in zip(stored, variables, strict=True):
            variable.assign(arrays[key])
    return state


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
