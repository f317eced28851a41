"""Search spaces as plain data: what a tuner may vary in a model's settings, declared next to its config.

A search space maps a setting's plain name (the same name `--set` and a `--config` TOML file take) to
one of three parameter kinds. Nothing here imports a tuning library: `tuning/` turns these into its
own suggestions, and a suggested value goes back through `apply_overrides` like any `--set`.
Tuple settings (e.g. `filters`) are offered as comma-separated strings (`"128,64"`), which
`apply_overrides` parses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FloatParam:
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"a float range needs low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise ValueError(f"a log-scaled range needs low > 0, got {self.low}")


@dataclass(frozen=True)
class IntParam:
    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"an integer range needs low <= high, got [{self.low}, {self.high}]")
        if self.step < 1 or (self.log and (self.step != 1 or self.low < 1)):
            raise ValueError(f"an integer range needs step >= 1 (1 and low >= 1 when log), got {self}")


@dataclass(frozen=True)
class Choice:
    options: tuple[str | int | float | bool | None, ...]

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError("a choice needs at least one option")


Param = FloatParam | IntParam | Choice
SearchSpace = dict[str, Param]
