"""Search spaces as plain data, and the TOML table that narrows, widens or fixes them."""

from __future__ import annotations

import pytest

from genre.search_space import Choice, FloatParam, IntParam, narrow

DECLARED = {
    "learning_rate": FloatParam(1e-4, 1e-2, log=True),
    "kernel_size": IntParam(3, 9, step=2),
    "batch_size": Choice((16, 32, 64)),
}


def test_a_table_narrows_widens_and_fixes():
    space, fixed = narrow(
        DECLARED,
        {
            "learning_rate": {"low": 1e-3, "high": 5e-3, "log": True},
            "kernel_size": {"low": 3, "high": 5},
            "batch_size": [16, 32],
            "dropout": {"low": 0.1, "high": 0.4},
            "filters": "64,32",
        },
    )
    assert space["learning_rate"] == FloatParam(1e-3, 5e-3, log=True)
    assert space["kernel_size"] == IntParam(3, 5)
    assert space["batch_size"] == Choice((16, 32))
    assert space["dropout"] == FloatParam(0.1, 0.4)  # a new name widens the space
    assert fixed == {"filters": "64,32"} and "filters" not in space


def test_a_fixed_value_leaves_the_space():
    space, fixed = narrow(DECLARED, {"batch_size": 32})
    assert "batch_size" not in space and fixed == {"batch_size": 32}
    assert set(space) == {"learning_rate", "kernel_size"}


def test_a_range_keeps_its_declared_kind():
    space, _ = narrow(DECLARED, {"learning_rate": {"low": 1, "high": 2}, "kernel_size": {"low": 3.0, "high": 7.0}})
    assert space["learning_rate"] == FloatParam(1.0, 2.0) and space["kernel_size"] == IntParam(3, 7)
    space, _ = narrow({}, {"units": {"low": 8, "high": 64, "step": 8}, "rate": {"low": 0, "high": 0.5}})
    assert space["units"] == IntParam(8, 64, step=8) and space["rate"] == FloatParam(0.0, 0.5)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"low": 1e-3}, "takes low and high"),
        ({"low": 1e-3, "high": 1e-2, "scale": "log"}, "takes low and high"),
        ({"low": 1e-2, "high": 1e-3}, "low < high"),
        ({"low": 0.0, "high": 1.0, "log": True}, "low > 0"),
    ],
)
def test_bad_ranges_name_the_setting_and_the_file(entry, message):
    with pytest.raises(ValueError, match=message) as err:
        narrow({}, {"dropout": entry}, origin="space.toml [search_space]")
    assert "space.toml [search_space]: dropout" in str(err.value)
