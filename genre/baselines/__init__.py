"""The classic baselines: scikit-learn pipelines on per-clip feature vectors, by name.

`BASELINES` maps a name to a `BaselineSpec`: its config dataclass, its pipeline builder
`build(config, seed) -> sklearn Pipeline`, and its search space. `get_baseline(name)` looks one
up. They train on the same prepared data and splits as the nets (`genre.baselines.fit`).
Importing this package imports no scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genre.baselines import models
from genre.search_space import SearchSpace

__all__ = ["BASELINES", "BaselineSpec", "get_baseline"]


@dataclass(frozen=True)
class BaselineSpec:
    name: str
    description: str
    config_class: type
    build: Callable[[Any, int], Any]
    search_space: SearchSpace


BASELINES: dict[str, BaselineSpec] = {
    spec.name: spec
    for spec in (
        BaselineSpec("logreg", "logistic regression", models.LogRegConfig, models.build_logreg, models.LOGREG_SPACE),
        BaselineSpec("knn", "k-nearest neighbours", models.KNNConfig, models.build_knn, models.KNN_SPACE),
        BaselineSpec("nb", "Gaussian naive Bayes", models.NBConfig, models.build_nb, models.NB_SPACE),
        BaselineSpec("svm", "SVM, RBF kernel", models.SVMConfig, models.build_svm, models.SVM_SPACE),
        BaselineSpec("hgb", "gradient-boosted trees", models.HGBConfig, models.build_hgb, models.HGB_SPACE),
    )
}


def get_baseline(name: str) -> BaselineSpec:
    """The baseline called `name`, or a ValueError listing the valid names."""
    try:
        return BASELINES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown baseline {name!r}; valid baselines are {sorted(BASELINES)}") from None
