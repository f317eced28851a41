"""The configuration of one baseline run: the model's own settings and what it trains on.

Shaped like `genre.train.config.FitConfig` (named sections of dataclasses), so the same
`apply_overrides`, `read_toml` and `--set key=value` address its fields by plain name, and a
shared name (`seed`) sets every section that has it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genre.train.config import from_plain, to_plain

EMBEDDING_LAYERS = ("max_pool", "mean_pool", "penultimate", "taggram")


@dataclass(frozen=True)
class BaselineRunConfig:
    data: Path = Path("genre-demo/data")
    features: str = "handcrafted"  # the per-clip vector the pipeline reads (`genre.baselines.vectors`)
    embedding_layer: str = "max_pool"  # features="musicnn_embeddings" only: which layer's outputs are pooled
    seed: int = 0

    def __post_init__(self) -> None:
        from genre.baselines.vectors import get_source

        get_source(self.features)
        if self.embedding_layer not in EMBEDDING_LAYERS:
            raise ValueError(
                f"unknown embedding_layer {self.embedding_layer!r}; valid layers are {list(EMBEDDING_LAYERS)}"
            )


@dataclass(frozen=True)
class BaselineConfig:
    model: str
    model_config: Any
    run: BaselineRunConfig = field(default_factory=BaselineRunConfig)

    SECTIONS: typing.ClassVar[tuple[str, ...]] = ("model_config", "run")
    KIND: typing.ClassVar[str] = "baseline"

    def to_dict(self) -> dict:
        sections = {s: to_plain(dataclasses.asdict(getattr(self, s))) for s in self.SECTIONS}
        return {"kind": self.KIND, "model": self.model, **sections}

    @classmethod
    def from_dict(cls, raw: dict, model_config_class: type) -> BaselineConfig:
        return cls(
            model=raw["model"],
            model_config=from_plain(model_config_class, raw.get("model_config", {})),
            run=from_plain(BaselineRunConfig, raw.get("run", {})),
        )
