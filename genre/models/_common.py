"""Helpers shared by the model builders: config validation and seeded initialisers.

Keras is imported inside functions so that importing a model module (and `genre.models`) stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genre.search_space import Choice, FloatParam, SearchSpace

# Batch-norm momentum of the nets trained from scratch. Keras's 0.99 (and MobileNetV2's 0.999) need
# many hundred steps before the moving statistics used at inference are right; small data sets
# train far fewer (melcnn with 0.99: 86% on training clips, chance on validation).
BN_MOMENTUM = 0.9

# The optimiser and data settings every net's search space starts from (plain setting names).
TRAINING_SPACE: SearchSpace = {
    "learning_rate": FloatParam(1e-4, 1e-2, log=True),
    "batch_size": Choice((16, 32, 64)),
}


def positive_ints(name: str, values: Sequence[int], *, allow_empty: bool = False) -> tuple[int, ...]:
    """`values` as a tuple of positive ints (a JSON list becomes a tuple again), or a ValueError naming it."""
    if isinstance(values, int | str):
        raise ValueError(f"{name} must be a sequence of positive integers, got {values!r}")
    out = tuple(values)
    if not allow_empty and not out:
        raise ValueError(f"{name} must hold at least one value, got {values!r}")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in out):
        raise ValueError(f"{name} must hold positive integers only, got {values!r}")
    return out


def check_positive(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_rate(name: str, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


class Seeds:
    """Distinct, deterministic seeds for one model's initialisers and random layers, from the config seed.

    Seeded initialisers make a build a pure function of its config: no call to
    `keras.utils.set_random_seed` is needed for the same config to give the same initial weights.
    """

    def __init__(self, seed: int) -> None:
        self._seed = int(seed)
        self._count = 0

    def next(self) -> int:
        self._count += 1
        # Far-apart offsets so that config seeds 0, 1, 2... do not share initialiser streams.
        return (self._seed * 10007 + self._count) % (2**31 - 1)

    def kernel(self) -> Any:
        import keras

        return keras.initializers.GlorotUniform(seed=self.next())

    def he(self) -> Any:
        import keras

        return keras.initializers.HeNormal(seed=self.next())
