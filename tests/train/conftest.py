"""A tiny conv1d configuration on the session's prepared data: seconds per run on either backend."""

from __future__ import annotations

import pytest

from genre.train.config import apply_overrides
from genre.train.fit import default_config

TINY = {"filters": "4,4", "dense_units": "8", "batch_size": "16", "progress": "false", "tensorboard": "false"}


@pytest.fixture
def tiny_config(prepared):
    def make(**overrides):
        settings = {**TINY, "data": str(prepared), **{k: str(v) for k, v in overrides.items()}}
        return apply_overrides(default_config("conv1d"), settings)

    return make


def tiny_set_arguments(prepared, **overrides) -> list[str]:
    settings = {**TINY, **{k: str(v) for k, v in overrides.items()}}
    return ["--data", str(prepared), *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")]]
