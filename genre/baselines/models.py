"""The classic models: one config dataclass, one scikit-learn pipeline builder and one search space each.

Every pipeline standardises the features first (the handcrafted vector mixes Hz, dB and unit-free
statistics), then optionally projects onto `pca_components` principal components (the study's
suggested cure for its overfitting; 0 keeps every feature), then classifies. `hgb` is the stronger
classic model: histogram gradient-boosted trees, scikit-learn's own; on sets of over 10000 clips
it stops early on an internal split of the training data, never on the validation split.
"""

from __future__ import annotations

from dataclasses import dataclass

from genre.search_space import Choice, FloatParam, IntParam, SearchSpace


def _check_pca(pca_components: int) -> None:
    if isinstance(pca_components, bool) or not isinstance(pca_components, int) or pca_components < 0:
        raise ValueError(f"pca_components must be a non-negative integer (0: no PCA), got {pca_components!r}")


@dataclass(frozen=True)
class LogRegConfig:
    C: float = 0.1
    max_iter: int = 2000
    pca_components: int = 0

    def __post_init__(self) -> None:
        if not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C}")
        _check_pca(self.pca_components)


@dataclass(frozen=True)
class KNNConfig:
    n_neighbors: int = 5
    weights: str = "uniform"
    metric: str = "euclidean"
    pca_components: int = 0

    def __post_init__(self) -> None:
        if self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {self.n_neighbors}")
        if self.weights not in ("uniform", "distance"):
            raise ValueError(f"weights must be 'uniform' or 'distance', got {self.weights!r}")
        if self.metric not in ("euclidean", "manhattan", "cosine"):
            raise ValueError(f"metric must be 'euclidean', 'manhattan' or 'cosine', got {self.metric!r}")
        _check_pca(self.pca_components)


@dataclass(frozen=True)
class NBConfig:
    var_smoothing: float = 1e-9
    pca_components: int = 0

    def __post_init__(self) -> None:
        if not self.var_smoothing > 0:
            raise ValueError(f"var_smoothing must be positive, got {self.var_smoothing}")
        _check_pca(self.pca_components)


@dataclass(frozen=True)
class SVMConfig:
    C: float = 3.0
    gamma: str = "scale"  # "scale", "auto" or a positive number
    pca_components: int = 0

    def __post_init__(self) -> None:
        if not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C}")
        if self.gamma not in ("scale", "auto"):
            try:
                ok = float(self.gamma) > 0
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"gamma must be 'scale', 'auto' or a positive number, got {self.gamma!r}")
        _check_pca(self.pca_components)


@dataclass(frozen=True)
class HGBConfig:
    learning_rate: float = 0.1
    max_iter: int = 100  # boosting rounds; more overfit a few hundred training clips
    max_leaf_nodes: int = 31
    l2_regularization: float = 0.0
    pca_components: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.max_iter < 1 or self.max_leaf_nodes < 2:
            raise ValueError(
                f"max_iter must be >= 1 and max_leaf_nodes >= 2, got {self.max_iter}, {self.max_leaf_nodes}"
            )
        _check_pca(self.pca_components)


def _pipeline(config, classifier, seed: int):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps = [("scale", StandardScaler())]
    if config.pca_components:
        steps.append(("pca", PCA(n_components=config.pca_components, random_state=seed)))
    return Pipeline([*steps, ("classify", classifier)])


def build_logreg(config: LogRegConfig, seed: int):
    from sklearn.linear_model import LogisticRegression

    return _pipeline(config, LogisticRegression(C=config.C, max_iter=config.max_iter, random_state=seed), seed)


def build_knn(config: KNNConfig, seed: int):
    from sklearn.neighbors import KNeighborsClassifier

    classifier = KNeighborsClassifier(config.n_neighbors, weights=config.weights, metric=config.metric)
    return _pipeline(config, classifier, seed)


def build_nb(config: NBConfig, seed: int):
    from sklearn.naive_bayes import GaussianNB

    return _pipeline(config, GaussianNB(var_smoothing=config.var_smoothing), seed)


def build_svm(config: SVMConfig, seed: int):
    from sklearn.svm import SVC

    gamma = config.gamma if config.gamma in ("scale", "auto") else float(config.gamma)
    return _pipeline(config, SVC(C=config.C, gamma=gamma, random_state=seed), seed)


def build_hgb(config: HGBConfig, seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    classifier = HistGradientBoostingClassifier(
        learning_rate=config.learning_rate,
        max_iter=config.max_iter,
        max_leaf_nodes=config.max_leaf_nodes,
        l2_regularization=config.l2_regularization,
        early_stopping="auto",
        random_state=seed,
    )
    return _pipeline(config, classifier, seed)


_PCA = IntParam(0, 64, step=8)

LOGREG_SPACE: SearchSpace = {"C": FloatParam(1e-3, 1e2, log=True), "pca_components": _PCA}
KNN_SPACE: SearchSpace = {
    "n_neighbors": IntParam(1, 50, log=True),
    "weights": Choice(("uniform", "distance")),
    "metric": Choice(("euclidean", "manhattan", "cosine")),
    "pca_components": _PCA,
}
NB_SPACE: SearchSpace = {"var_smoothing": FloatParam(1e-12, 1e-1, log=True), "pca_components": _PCA}
SVM_SPACE: SearchSpace = {
    "C": FloatParam(1e-2, 1e3, log=True),
    "gamma": Choice(("scale", "auto", "0.0003", "0.001", "0.003", "0.01")),
    "pca_components": _PCA,
}
HGB_SPACE: SearchSpace = {
    "learning_rate": FloatParam(0.01, 0.3, log=True),
    "max_leaf_nodes": IntParam(8, 64, log=True),
    "l2_regularization": FloatParam(1e-6, 10.0, log=True),
    "pca_components": _PCA,
}
