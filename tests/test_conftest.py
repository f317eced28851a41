"""The test suite's own machinery: a skip becomes a failure where its GENRE_REQUIRE_* switch is set."""

from __future__ import annotations

import pytest

from tests.conftest import skip_or_fail

SWITCH = "GENRE_REQUIRE_SOMETHING"


def _outcome(reason: str) -> BaseException | None:
    # Caught by hand: a skip escaping pytest.raises(fail) would skip this test, not fail it.
    try:
        skip_or_fail(reason, SWITCH)
    except BaseException as err:  # pytest's outcomes are BaseExceptions
        return err
    return None


@pytest.mark.parametrize("value", [None, "", "0", "false"])
def test_skips_unless_the_switch_is_1(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(SWITCH, raising=False)
    else:
        monkeypatch.setenv(SWITCH, value)  # "false" is set, and still skips (unlike `CI=false` before)
    outcome = _outcome("no widget")
    assert isinstance(outcome, pytest.skip.Exception) and str(outcome) == "no widget", outcome


def test_fails_naming_the_switch_when_it_is_1(monkeypatch):
    monkeypatch.setenv(SWITCH, "1")
    outcome = _outcome("no widget")
    assert isinstance(outcome, pytest.fail.Exception), outcome
    assert str(outcome) == f"no widget; {SWITCH}=1 says this test must run here"
