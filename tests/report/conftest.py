"""Run directories for the report tests: the same tiny net trained under each backend, and two baselines."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from genre.baselines.fit import default_baseline_config, fit_baseline
from genre.train.config import apply_overrides
from tests.train.conftest import tiny_set_arguments

BACKENDS = ("jax", "tensorflow")


@pytest.fixture(scope="session")
def report_runs(prepared, tmp_path_factory):
    """runs/conv1d-jax, runs/conv1d-tensorflow (each trained in a process of its own backend), runs/logreg, runs/nb."""
    root = tmp_path_factory.mktemp("report-runs")
    for backend in BACKENDS:
        run = root / f"conv1d-{backend}"
        args = ["fit", "--model", "conv1d", "--run-dir", str(run), *tiny_set_arguments(prepared, max_epochs=2)]
        env = {**os.environ, "KERAS_BACKEND": backend}
        subprocess.run([sys.executable, "-m", "genre", *args], check=True, env=env, capture_output=True)
    for name in ("logreg", "nb"):
        fit_baseline(apply_overrides(default_baseline_config(name), {"data": str(prepared)}), root / name)
    return root


@pytest.fixture(scope="session")
def cv_report_runs(prepared, tmp_path_factory):
    """runs/cv-logreg (a 3-fold cross-validation, two repeats) and runs/nb (the stored splits)."""
    from genre.cross_validation import CVConfig, cross_validate
    from genre.estimators import estimator_for

    root = tmp_path_factory.mktemp("cv-report-runs")
    config = apply_overrides(default_baseline_config("logreg"), {"data": str(prepared)})
    cross_validate(estimator_for("logreg"), config, root / "cv-logreg", CVConfig(k=3, repeats=2), log=lambda _: None)
    fit_baseline(apply_overrides(default_baseline_config("nb"), {"data": str(prepared)}), root / "nb")
    return root
