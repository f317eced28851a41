"""`genre baseline` as a library call: fit a classic pipeline on the train split, score it like the nets.

The run directory has the same shape as a net's where it can (`genre.run_dir`):

    RUN/config.json          the resolved BaselineConfig ("kind": "baseline")
    RUN/data_manifest.json   the manifest of the data it trained on
    RUN/model.skops          the fitted pipeline, in skops' format: loading it runs no pickle
    RUN/metrics.json         validation (and test) metrics, train and inference seconds,
                             and the model file's SHA-256, checked before every load

The validation split is not used to fit, only to score, so baselines and nets are chosen on the
same evidence; tuning passes `evaluate_test=False` and the test split is never read.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genre.baselines import get_baseline
from genre.baselines.config import BaselineConfig
from genre.baselines.vectors import get_source
from genre.data.manifest import MANIFEST_NAME, read_manifest, sha256_file
from genre.evaluate import RunMetrics, data_summary, one_hot, score_split, score_splits
from genre.run_dir import RunDir, RunError

if TYPE_CHECKING:
    from genre.data.folds import Fold

MODEL_FILE = "model.skops"


def default_baseline_config(name: str) -> BaselineConfig:
    return BaselineConfig(model=name, model_config=get_baseline(name).config_class())


def read_baseline_config(run: Path) -> BaselineConfig:
    raw = RunDir(run).config()
    if raw.get("kind") != BaselineConfig.KIND:
        raise RunError(f'{run}: not a baseline run (its config.json has no "kind": "baseline")')
    return BaselineConfig.from_dict(raw, get_baseline(raw["model"]).config_class)


def load_features(
    data: Path, split: str, features: str, layer: str = "max_pool", fold: Fold | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One vector per clip of a split (or a role of `fold`), and its label, from the source `features`
    (`genre.baselines.vectors`)."""
    return get_source(features).split(Path(data), split, layer, fold)


def fit_baseline(config: BaselineConfig, run: Path, *, evaluate_test: bool = True, fold: Fold | None = None) -> dict:
    """Fits on train, scores on validation (and test), writes the run directory; returns metrics. With a
    cross-validation `fold`, its roles replace the stored splits (kept in the run as `fold.json`)."""
    import skops.io

    run_dir = RunDir(run)
    spec = get_baseline(config.model)
    run_dir.require_new()
    data = Path(config.run.data)
    manifest = read_manifest(data)
    x_train, y_train = load_features(data, "train", config.run.features, config.run.embedding_layer, fold)
    if len(x_train) == 0:
        raise ValueError(f"{data}: the train split holds no clips")
    pipeline = spec.build(config.model_config, config.run.seed)
    _check_pca(config, x_train)

    run_dir.start(config.to_dict(), data / MANIFEST_NAME)
    run_dir.write_fold(fold)
    started = time.perf_counter()
    pipeline.fit(x_train, y_train)
    train_seconds = time.perf_counter() - started
    tmp = run_dir.path / (MODEL_FILE + ".tmp")
    skops.io.dump(pipeline, tmp)
    tmp.replace(run_dir.path / MODEL_FILE)

    splits = ("validation", "test") if evaluate_test else ("validation",)
    scores, seconds_per_clip = score_splits(
        lambda split: _predict_split(pipeline, config, split, len(manifest.genres), fold), splits, manifest.genres
    )
    metrics = RunMetrics(
        model=config.model,
        backend="scikit-learn",
        features=config.run.features,
        data=data_summary(data, manifest),
        epochs=None,
        stopped_early=False,
        train_seconds=train_seconds,
        checkpoint=MODEL_FILE,
        checkpoint_sha256=sha256_file(run_dir.path / MODEL_FILE),
        splits=scores,
        inference_seconds_per_clip=seconds_per_clip,
    ).to_dict()
    run_dir.write_metrics(metrics)
    return metrics


def _predict_split(pipeline, config: BaselineConfig, split: str, classes: int, fold: Fold | None = None):
    """A split's (or a fold role's) clip vectors through the pipeline: (one-hot predictions, labels, track ids,
    seconds in the model)."""
    from genre.data.pipeline import track_ids

    data = Path(config.run.data)
    x, y = load_features(data, split, config.run.features, config.run.embedding_layer, fold)
    ids = track_ids(data, split, fold)
    started = time.perf_counter()
    predicted = pipeline.predict(x)
    return one_hot(predicted, classes), y, ids, time.perf_counter() - started


def load_baseline(run: Path):
    """The fitted pipeline of a finished baseline run; refuses a file that is not the one the run wrote."""
    import skops.io

    run_dir = RunDir(run)
    path = run_dir.path / MODEL_FILE
    if not path.is_file():
        raise RunError(f"{path}: not found; did the baseline run finish?")
    recorded = run_dir.metrics().get("checkpoint_sha256")
    if recorded != sha256_file(path):
        raise RunError(f"{path}: SHA-256 differs from the one its run recorded; refusing to load a changed model")
    untrusted = skops.io.get_untrusted_types(file=path)
    # Only scikit-learn's own types; skops builds them without unpickling anything.
    foreign = [t for t in untrusted if not t.startswith("sklearn.")]
    if foreign:
        raise RunError(f"{path}: holds types outside scikit-learn {foreign}; refusing to load it")
    return skops.io.load(path, trusted=untrusted)


def evaluate_baseline(run: Path, split: str = "test") -> dict:
    """A finished baseline run's pipeline, scored on one split of its data (a fold's run: one role of its fold)."""
    config = read_baseline_config(run)
    pipeline = load_baseline(run)
    genres = read_manifest(config.run.data).genres
    fold = RunDir(run).fold()
    probabilities, labels, ids, seconds = _predict_split(pipeline, config, split, len(genres), fold)
    return {
        **score_split(probabilities, labels, genres, ids),
        "inference_seconds_per_clip": seconds / max(len(labels), 1),
    }


class SettingsExceedData(ValueError):
    """Settings valid in themselves that the data set cannot take (e.g. more PCA components than
    training clips); a tuning study ends such a trial as pruned, with this one-line reason."""


def _check_pca(config: BaselineConfig, x_train: np.ndarray) -> None:
    wanted = getattr(config.model_config, "pca_components", 0)
    if wanted > min(x_train.shape):
        raise SettingsExceedData(
            f"pca_components={wanted} exceeds what the train split allows "
            f"({x_train.shape[0]} clips of {x_train.shape[1]} features)"
        )


def predict_baseline(run: Path, paths: list[Path], top: int = 3) -> list[dict]:
    """Per file, as `genre predict` gives it for a net: the file's features computed as `prepare`
    would (per segment of the clip duration; musicnn embeddings through the pretrained tagger), the
    pipeline's probabilities averaged over the segments."""
    from genre.train.inference import file_segments, predictions

    config = read_baseline_config(run)
    pipeline = load_baseline(run)
    manifest = read_manifest(RunDir(run).manifest_file)
    source = get_source(config.run.features)

    def probabilities_of(path):
        x = source.of_stored(file_segments(path, manifest, source.stored_kind), config.run.embedding_layer)
        return class_probabilities(pipeline, x, len(manifest.genres)).mean(axis=0)

    return predictions(paths, manifest.genres, probabilities_of, top)


def class_probabilities(pipeline, x: np.ndarray, classes: int) -> np.ndarray:
    """(clips, classes) probabilities over every genre of the data set: the pipeline's own where it has
    them, else its predicted label as a certainty (an SVM fitted without Platt scaling)."""
    if not hasattr(pipeline, "predict_proba"):
        return one_hot(pipeline.predict(x), classes)
    out = np.zeros((len(x), classes), np.float32)
    out[:, pipeline.classes_] = pipeline.predict_proba(x)
    return out
