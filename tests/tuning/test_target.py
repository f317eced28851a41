"""Every model's declared search space names real settings; a TOML file and --set change it."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre.estimators import model_names
from genre.search_space import Choice, FloatParam, IntParam
from genre.train.config import valid_keys
from tuning import TuneConfig
from tuning.target import resolve_target

ALL_MODELS = model_names()


@pytest.mark.parametrize("model", ALL_MODELS)
def test_every_declared_space_names_settings_of_its_model(model):
    target = resolve_target(TuneConfig(model=model))
    assert target.space, f"{model} declares no search space"
    for name, param in target.space.items():
        for value in _corners(param):  # every bound and option makes a valid configuration
            target.config_for({name: value})
    if target.estimator.kind == "net":
        assert {"learning_rate", "batch_size"} <= set(target.space)
        assert set(target.space) <= set(valid_keys(target.base))


def _corners(param):
    if isinstance(param, Choice):
        return list(param.options)
    assert isinstance(param, IntParam | FloatParam)
    return [param.low, param.high]


def test_a_toml_file_and_set_change_the_space(tmp_path):
    path = tmp_path / "tune.toml"
    path.write_text(
        "[trainer]\nmax_epochs = 4\n\n"
        "[search_space]\n"
        "learning_rate = {low = 1e-4, high = 1e-3, log = true}\n"
        "batch_size = [16, 32]\n"
        "dropout = 0.3\n"
    )
    target = resolve_target(TuneConfig(model="conv1d", config=path, overrides={"kernel_size": "5"}))
    assert target.base.trainer.max_epochs == 4
    assert target.space["learning_rate"] == FloatParam(1e-4, 1e-3, log=True)
    assert target.space["batch_size"] == Choice((16, 32))
    assert "dropout" not in target.space and target.base.model_config.dropout == 0.3
    assert "kernel_size" not in target.space and target.base.model_config.kernel_size == 5


def test_unknown_models_and_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="valid models are"):
        resolve_target(TuneConfig(model="resnet"))
    path = tmp_path / "tune.toml"
    path.write_text("[search_space]\nlearning_rat = {low = 1e-4, high = 1e-3}\n")
    with pytest.raises(ValueError, match="unknown setting 'learning_rat'"):
        resolve_target(TuneConfig(model="conv1d", config=path))


def test_tune_config_checks_its_choices():
    with pytest.raises(ValueError, match="valid values are"):
        TuneConfig(model="conv1d", sampler="grid")
    assert TuneConfig(model="knn", storage="postgresql://u@h/db").storage_url == "postgresql+psycopg://u@h/db"
    assert TuneConfig(model="knn", study_dir=Path("studies/x")).storage_url.endswith("studies/x/study.db")
