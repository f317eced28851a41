"""Tiny tuning studies on the session's prepared data, and a fresh PostgreSQL database per test.

PostgreSQL is a real server: `.ci/run` starts one and exports GENRE_TEST_POSTGRES_URL (a URL
with rights to create databases). Without it the PostgreSQL tests are skipped, saying why; with
GENRE_REQUIRE_POSTGRES=1 (set by `.ci/run`) they fail instead, so they cannot silently stop running there.
"""

from __future__ import annotations

import os
import uuid

import pytest

from tests.conftest import skip_or_fail
from tests.train.conftest import TINY
from tuning import TuneConfig

POSTGRES_ENV = "GENRE_TEST_POSTGRES_URL"

# Two epochs of two batches: a net trial takes seconds. Settings given here are fixed (they leave
# the search space); the space left is the [search_space] table below.
TINY_NET = {**TINY, "max_epochs": "2", "limit_train_batches": "2", "early_stopping_patience": "none"}
TINY_NET_SPACE = """
[search_space]
learning_rate = {low = 1e-3, high = 3e-2, log = true}
dropout = {low = 0.0, high = 0.5}
kernel_size = [3, 5]
"""


@pytest.fixture
def net_study(prepared, tmp_path):
    """A conv1d study in tmp_path/study: `net_study(trials=2, ...)` with TuneConfig fields as keywords."""
    space = tmp_path / "space.toml"
    space.write_text(TINY_NET_SPACE)

    def make(overrides: dict | None = None, **fields) -> TuneConfig:
        settings = {**TINY_NET, **(overrides or {})}
        defaults = {
            "model": "conv1d",
            "data": prepared,
            "trials": 2,
            "study_dir": tmp_path / "study",
            "config": space,
            "overrides": settings,
            "figures": False,
            "heartbeat_interval": 1,
        }
        return TuneConfig(**{**defaults, **fields})

    return make


# Baselines on the tiny set (about 20 training clips): neighbours and PCA sized for it.
# hgb's trials last about a second: long enough to be caught running and killed.
TINY_BASELINE = {"knn": {"pca_components": "0"}, "hgb": {"pca_components": "0", "max_iter": "30"}}
TINY_BASELINE_SPACE = {"knn": "[search_space]\nn_neighbors = {low = 1, high = 5}\n", "hgb": ""}


@pytest.fixture
def baseline_study(prepared, tmp_path):
    """A baseline study in tmp_path/study: `baseline_study("knn", trials=4, ...)`; trials take a second or less."""

    def make(model: str = "knn", **fields) -> TuneConfig:
        space = tmp_path / f"{model}-space.toml"
        space.write_text(TINY_BASELINE_SPACE[model])
        defaults = {
            "model": model,
            "data": prepared,
            "trials": 4,
            "study_dir": tmp_path / "study",
            "config": space,
            "overrides": TINY_BASELINE[model],
            "figures": False,
            "heartbeat_interval": 1,
        }
        return TuneConfig(**{**defaults, **fields})

    return make


def tune_arguments(config: TuneConfig) -> list[str]:
    """`genre tune` arguments for a study like `config` (for worker subprocesses)."""
    args = ["tune", "--model", config.model, "--trials", str(config.trials), "--run-dir", str(config.study_dir)]
    args += ["--heartbeat", str(config.heartbeat_interval), "--pruner", config.pruner, "--no-figures"]
    if config.data is not None:
        args += ["--data", str(config.data)]
    if config.storage is not None:
        args += ["--storage", config.storage]
    if config.timeout is not None:
        args += ["--timeout", str(config.timeout)]
    if config.config is not None:
        args += ["--config", str(config.config)]
    for key, value in config.overrides.items():
        args += ["--set", f"{key}={value}"]
    return args


@pytest.fixture(scope="session")
def postgres_server() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        skip_or_fail(
            f"no PostgreSQL server: set {POSTGRES_ENV} (`.ci/run` starts one and sets it)", "GENRE_REQUIRE_POSTGRES"
        )
    return url


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database on the test server, dropped after the test."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"genre_test_{uuid.uuid4().hex[:12]}"
    server = make_url(postgres_server)
    admin = server.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
