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


def narrow(space: SearchSpace, table: dict, origin: str = "[search_space]") -> tuple[SearchSpace, dict]:
    """A declared space changed by a TOML table, and the settings the table fixes.

    Each entry replaces (or, for a new name, adds) one parameter:
    `name = {low = 1e-4, high = 1e-2, log = true}` is a range (of the declared range's kind; for
    a new name, integers when both bounds are integers, and then `step` is allowed), `name = [16, 32]` a
    choice, and `name = 0.3` fixes the setting, which leaves the space. Whether a name is a valid
    setting is checked where the settings are applied.
    """
    out, fixed = dict(space), {}
    for name, value in table.items():
        if isinstance(value, dict):
            out[name] = _range(name, value, space.get(name), origin)
        elif isinstance(value, list):
            out[name] = Choice(tuple(value))
        else:
            out.pop(name, None)
            fixed[name] = value
    return out, fixed


def _range(name: str, value: dict, declared: Param | None, origin: str) -> Param:
    unknown = sorted(set(value) - {"low", "high", "log", "step"})
    if unknown or not {"low", "high"} <= set(value):
        raise ValueError(f"{origin}: {name} = {value!r}: a range takes low and high, optionally log and step")
    if isinstance(declared, IntParam | FloatParam):
        is_int = isinstance(declared, IntParam)  # a declared range keeps its kind
    else:
        is_int = all(isinstance(value[k], int) and not isinstance(value[k], bool) for k in ("low", "high"))
    try:
        if is_int:
            return IntParam(int(value["low"]), int(value["high"]), int(value.get("step", 1)), bool(value.get("log")))
        if "step" in value:
            raise ValueError("step is for integer ranges")
        return FloatParam(float(value["low"]), float(value["high"]), bool(value.get("log")))
    except (TypeError, ValueError) as err:
        raise ValueError(f"{origin}: {name} = {value!r}: {err}") from None
