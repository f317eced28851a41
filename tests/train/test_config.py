"""Run configuration: plain-name overrides, TOML files, clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genre.train.config import FitConfig, apply_overrides, parse_set_arguments, read_toml
from genre.train.fit import default_config


def test_plain_names_reach_their_section_and_shared_names_set_all():
    config = apply_overrides(default_config("conv1d"), {"max_epochs": "2", "filters": "8,4", "seed": "5"})
    assert config.trainer.max_epochs == 2
    assert config.model_config.filters == (8, 4)
    assert config.trainer.seed == 5 and config.model_config.seed == 5


def test_a_net_with_its_own_learning_rate_gets_it_by_default_and_a_setting_overrides_it():
    from genre.models import MODELS
    from genre.train.config import OptimConfig

    for name, spec in MODELS.items():
        expected = spec.learning_rate or OptimConfig().learning_rate
        assert default_config(name).optim.learning_rate == expected, name
    assert default_config("musicnn").optim.learning_rate == 1e-2  # its frozen base leaves one layer to train
    config = apply_overrides(default_config("musicnn"), {"learning_rate": "0.0005"})
    assert config.optim.learning_rate == 0.0005
    assert FitConfig.from_dict(config.to_dict(), type(config.model_config)).optim.learning_rate == 0.0005


def test_unknown_setting_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown setting 'epochs'.*max_epochs"):
        apply_overrides(default_config("conv1d"), {"epochs": "3"})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("max_epochs", "two", "not a valid int"),
        ("deterministic", "maybe", "not a valid bool"),
        ("optimizer", "rmsprop", "valid optimizers"),
        ("max_epochs", "0", "at least 1"),
        ("checkpoint_every_n_steps", "0", "checkpoint_every_n_steps must be at least 1 or unset, got 0"),
        ("checkpoint_every_n_minutes", "-1", "checkpoint_every_n_minutes must be positive or unset, got -1.0"),
    ],
)
def test_bad_values_are_errors_naming_them(key, value, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(default_config("conv1d"), {key: value})


def test_none_and_optional_values():
    config = apply_overrides(default_config("conv1d"), {"clipnorm": "1.5", "early_stopping_patience": "none"})
    assert config.optim.clipnorm == 1.5 and config.trainer.early_stopping_patience is None


def test_toml_file_with_tables(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[trainer]\nmax_epochs = 4\n\n[optim]\nlearning_rate = 0.01\n\nfilters = [16, 8]\n")
    config = apply_overrides(default_config("conv1d"), read_toml(path), origin=str(path))
    assert config.trainer.max_epochs == 4 and config.optim.learning_rate == 0.01
    assert config.model_config.filters == (16, 8)
    path.write_text("max_epochs = [")
    with pytest.raises(ValueError, match=str(path)):
        read_toml(path)


def test_set_arguments_need_key_and_value():
    assert parse_set_arguments(["a=1", "b = x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ValueError, match="key=value"):
        parse_set_arguments(["max_epochs"])


def test_config_round_trips_through_its_dict():
    config = apply_overrides(default_config("melcnn"), {"data": "/some/where", "max_epochs": "3"})
    from genre.models import get_model

    again = FitConfig.from_dict(config.to_dict(), get_model("melcnn").config_class)
    assert again == config
    assert isinstance(again.data.data, Path)


def test_toml_file_errors_name_the_file_and_the_table(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("[trainr]\nmax_epochs = 4\n")  # misspelt: once flattened silently
    with pytest.raises(ValueError, match=r"run\.toml: unknown table \[trainr\]; valid tables are \[.*'trainer'"):
        read_toml(path)
    path.write_text("[trainer]\nmax_epochs = 4\n[trainer]\n")  # a table defined twice is malformed TOML
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: not valid TOML"):
        read_toml(path)
    with pytest.raises(FileNotFoundError, match=r"absent\.toml: config file not found"):
        read_toml(tmp_path / "absent.toml")


def test_fit_with_a_bad_config_file_is_a_one_line_error(tmp_path, capsys):
    from genre.cli import main

    path = tmp_path / "run.toml"
    path.write_text("[optimiser]\nlearning_rate = 0.1\n")
    assert main(["fit", "--model", "conv1d", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "unknown table [optimiser]" in err and "Traceback" not in err
    assert (
        main(["fit", "--model", "conv1d", "--config", str(tmp_path / "no.toml"), "--run-dir", str(tmp_path / "r")]) == 2
    )
    assert "no.toml: config file not found" in capsys.readouterr().err
