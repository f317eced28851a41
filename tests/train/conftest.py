"""A tiny conv1d configuration on the session's prepared data: seconds per run on either backend; and
what the tests that stop a run and resume it share."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from genre.train.config import apply_overrides
from genre.train.fit import default_config

TINY = {"filters": "4,4", "dense_units": "8", "batch_size": "16", "progress": "false", "tensorboard": "false"}


def tiny_fit_config(prepared, **overrides):
    settings = {**TINY, "data": str(prepared), **{k: str(v) for k, v in overrides.items()}}
    return apply_overrides(default_config("conv1d"), settings)


@pytest.fixture
def tiny_config(prepared):
    return lambda **overrides: tiny_fit_config(prepared, **overrides)


def tiny_set_arguments(prepared, **overrides) -> list[str]:
    settings = {**TINY, **{k: str(v) for k, v in overrides.items()}}
    return ["--data", str(prepared), *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")]]


def resume_state(run: Path) -> dict:
    return json.loads((run / "checkpoints" / "last" / "state.json").read_text())


def wait_for(path: Path, *processes) -> None:
    """Until `path` exists (a process paused by `tests.train.fit_with_hooks` wrote it); fails if any of
    `processes` ends first."""
    deadline = time.monotonic() + 300
    while not path.exists():
        for p in processes:
            assert p.poll() is None, f"a run ended (exit {p.returncode}) before it reached the pause"
        assert time.monotonic() < deadline, "the run never reached the pause"
        time.sleep(0.02)
