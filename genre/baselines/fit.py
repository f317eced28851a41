"""`genre baseline` as a library call: fit a classic pipeline on the train split, score it like the nets.

The run directory has the same shape as a net's where it can (`genre.train.run_dir`):

    RUN/config.json          the resolved BaselineConfig ("kind": "baseline")
    RUN/data_manifest.json   the manifest of the data it trained on
    RUN/model.skops          the fitted pipeline, in skops' format: loading it runs no pickle
    RUN/metrics.json         validation (and test) metrics, train and inference seconds,
                             and the model file's SHA-256, checked before every load

The validation split is not used to fit, only to score, so baselines and nets are chosen on the
same evidence; tuning passes `evaluate_test=False` and the test split is never read.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from genre.baselines import get_baseline
from genre.baselines.config import BaselineConfig
from genre.data.manifest import MANIFEST_NAME, read_manifest, sha256_file
from genre.evaluate import classification_metrics
from genre.train import run_dir as rd

MODEL_FILE = "model.skops"


def default_baseline_config(name: str) -> BaselineConfig:
    return BaselineConfig(model=name, model_config=get_baseline(name).config_class())


def read_baseline_config(run: Path) -> BaselineConfig:
    raw = rd.read_json(Path(run) / rd.CONFIG)
    if raw.get("kind") != BaselineConfig.KIND:
        raise rd.RunError(f'{run}: not a baseline run (its config.json has no "kind": "baseline")')
    return BaselineConfig.from_dict(raw, get_baseline(raw["model"]).config_class)


def load_features(data: Path, split: str, kind: str, layer: str = "max_pool") -> tuple[np.ndarray, np.ndarray]:
    """One vector per clip, and its label. For "musicnn", the pretrained net's embeddings of `layer`
    (computed once, then cached in the data folder; missing weights fail naming the fetch command)."""
    from genre.data import load_arrays

    if kind == "musicnn":
        from genre.models.musicnn import musicnn_embeddings

        return musicnn_embeddings(data, split, layer)
    x, y, _ = load_arrays(data, split, kind)
    return x.reshape(len(x), -1), y


def fit_baseline(config: BaselineConfig, run: Path, *, evaluate_test: bool = True) -> dict:
    """Fits on train, scores on validation (and test), writes the run directory; returns metrics."""
    import skops.io

    run = Path(run)
    spec = get_baseline(config.model)
    if run.exists() and any(run.iterdir()):
        raise rd.RunError(f"{run} exists and is not empty; choose a new --run-dir")
    data = Path(config.run.data)
    manifest = read_manifest(data)
    x_train, y_train = load_features(data, "train", config.run.features, config.run.embedding_layer)
    if len(x_train) == 0:
        raise ValueError(f"{data}: the train split holds no clips")
    pipeline = spec.build(config.model_config, config.run.seed)
    _check_pca(config, x_train)

    run.mkdir(parents=True, exist_ok=True)
    rd.write_json(run / rd.CONFIG, config.to_dict())
    shutil.copyfile(data / MANIFEST_NAME, run / rd.MANIFEST)
    started = time.perf_counter()
    pipeline.fit(x_train, y_train)
    train_seconds = time.perf_counter() - started
    tmp = run / (MODEL_FILE + ".tmp")
    skops.io.dump(pipeline, tmp)
    tmp.replace(run / MODEL_FILE)

    metrics = {
        "model": config.model,
        "backend": "scikit-learn",
        "features": config.run.features,
        "data": {"path": str(data), "synthetic": manifest.synthetic, "source": manifest.source},
        "epochs": None,
        "stopped_early": False,
        "train_seconds": round(train_seconds, 3),
        "checkpoint": MODEL_FILE,
        "checkpoint_sha256": sha256_file(run / MODEL_FILE),
    }
    splits = [("validation", "val")] + ([("test", "test")] if evaluate_test else [])
    total_seconds, total_clips = 0.0, 0
    for split, key in splits:
        x, y = load_features(data, split, config.run.features, config.run.embedding_layer)
        started = time.perf_counter()
        predicted = pipeline.predict(x)
        total_seconds += time.perf_counter() - started
        total_clips += len(y)
        metrics[key] = classification_metrics(y, predicted, manifest.genres)
    metrics["inference_seconds_per_clip"] = total_seconds / max(total_clips, 1)
    rd.write_json(run / rd.METRICS, metrics)
    return metrics


def load_baseline(run: Path):
    """The fitted pipeline of a finished baseline run; refuses a file that is not the one the run wrote."""
    import skops.io

    run = Path(run)
    path = run / MODEL_FILE
    if not path.is_file():
        raise rd.RunError(f"{path}: not found; did the baseline run finish?")
    recorded = rd.read_json(run / rd.METRICS).get("checkpoint_sha256")
    if recorded != sha256_file(path):
        raise rd.RunError(f"{path}: SHA-256 differs from the one its run recorded; refusing to load a changed model")
    untrusted = skops.io.get_untrusted_types(file=path)
    # Only scikit-learn's own types; skops builds them without unpickling anything.
    foreign = [t for t in untrusted if not t.startswith("sklearn.")]
    if foreign:
        raise rd.RunError(f"{path}: holds types outside scikit-learn {foreign}; refusing to load it")
    return skops.io.load(path, trusted=untrusted)


def evaluate_baseline(run: Path, split: str = "test") -> dict:
    """A finished baseline run's pipeline, scored on one split of its data."""
    config = read_baseline_config(run)
    pipeline = load_baseline(run)
    data = Path(config.run.data)
    x, y = load_features(data, split, config.run.features, config.run.embedding_layer)
    started = time.perf_counter()
    predicted = pipeline.predict(x)
    seconds = time.perf_counter() - started
    metrics = classification_metrics(y, predicted, read_manifest(data).genres)
    return {**metrics, "inference_seconds_per_clip": seconds / max(len(y), 1)}


def _check_pca(config: BaselineConfig, x_train: np.ndarray) -> None:
    wanted = getattr(config.model_config, "pca_components", 0)
    if wanted > min(x_train.shape):
        raise ValueError(
            f"pca_components={wanted} exceeds what the train split allows "
            f"({x_train.shape[0]} clips of {x_train.shape[1]} features)"
        )
