"""The same metrics for every model: accuracy, macro-F1, per-genre precision/recall/F1, confusion.

Nets that see several windows of a clip are scored twice: per window, and per clip by averaging
the windows' probabilities (`aggregate_clips`). Baselines and single-image nets have one example
per clip, so both scores coincide. `score_splits` is the one loop that scores a model on its
splits, for nets and baselines alike, and `RunMetrics` the one record of a run's results
(`metrics.json`). Everything here is NumPy and scikit-learn: no backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# The bootstrap's seed: the same clips and predictions always give the same interval.
INTERVAL_SEED = 0
# metrics.json's key for each split's metrics.
SPLIT_KEYS = {"train": "train", "validation": "val", "test": "test"}


def classification_metrics(labels: np.ndarray, predicted: np.ndarray, genres: list[str]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    classes = list(range(len(genres)))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    return {
        "accuracy": float(accuracy_score(labels, predicted)) if len(labels) else float("nan"),
        "macro_f1": float(f1_score(labels, predicted, labels=classes, average="macro", zero_division=0)),
        "clips": len(labels),
        "per_genre": {
            genre: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, genre in enumerate(genres)
        },
        "confusion": confusion_matrix(labels, predicted, labels=classes).tolist(),
    }


def aggregate_clips(probabilities: np.ndarray) -> np.ndarray:
    """(clips, windows, classes) -> (clips, classes): a clip's score is the mean of its windows'."""
    if probabilities.ndim == 2:
        return probabilities
    return probabilities.mean(axis=1)


def score_split(
    probabilities: np.ndarray, labels: np.ndarray, genres: list[str], track_ids: np.ndarray | None = None
) -> dict:
    """Clip-level metrics with their 95% intervals, plus window-level accuracy when there are several
    windows per clip; with `track_ids`, every clip's label and prediction too, for paired tests
    between runs on the same clips (`genre.report`)."""
    from genre.uncertainty import BOOTSTRAP, EXACT, accuracy_interval, bootstrap_interval

    clip_probabilities = aggregate_clips(probabilities)
    predicted = clip_probabilities.argmax(axis=-1)
    metrics = classification_metrics(labels, predicted, genres)
    metrics["accuracy_interval"] = list(accuracy_interval(int(np.sum(predicted == labels)), len(labels)))
    metrics["macro_f1_interval"] = list(
        bootstrap_interval(labels, predicted, "macro_f1", n_classes=len(genres), seed=INTERVAL_SEED)
    )
    metrics["interval_method"] = {
        "level": 0.95,
        "accuracy": EXACT,
        "macro_f1": f"{BOOTSTRAP}, 2000 resamples, seed {INTERVAL_SEED}",
    }
    if probabilities.ndim == 3:
        windows = probabilities.shape[1]
        window_predicted = probabilities.argmax(axis=-1).ravel()
        metrics["window_accuracy"] = float(np.mean(window_predicted == np.repeat(labels, windows)))
        metrics["windows_per_clip"] = int(windows)
    if track_ids is not None:
        metrics["predictions"] = {
            "track_id": [int(t) for t in track_ids],
            "label": [int(y) for y in labels],
            "predicted": [int(p) for p in predicted],
        }
    return metrics


def score_splits(
    predict: Callable[[str], tuple[np.ndarray, np.ndarray, np.ndarray, float]], splits, genres: list[str]
) -> tuple[dict[str, dict], float]:
    """Scores a model on each split: `predict(split)` gives its (clips[, windows], classes)
    probabilities, the labels, the track ids, and the seconds spent in the model. Returns metrics by
    metrics.json key, and the model's mean seconds per clip over all splits."""
    out, seconds, clips = {}, 0.0, 0
    for split in splits:
        probabilities, labels, track_ids, spent = predict(split)
        seconds += spent
        clips += len(labels)
        out[SPLIT_KEYS[split]] = score_split(probabilities, labels, genres, track_ids)
    return out, seconds / max(clips, 1)


def one_hot(predicted: np.ndarray, classes: int) -> np.ndarray:
    """Class labels as probabilities, for models that only give a label."""
    return np.eye(classes, dtype=np.float32)[np.asarray(predicted, dtype=int)]


@dataclass
class RunMetrics:
    """What a finished run records in `metrics.json`, the same fields for every kind of model.

    checkpoint: the chosen model file, relative to the run directory (None: nothing kept).
    checkpoint_sha256: recorded where the file is checked before every load (baselines).
    splits: metrics by split key ("val", "test"), from `score_split`.
    """

    model: str
    backend: str
    features: str
    data: dict
    epochs: int | None
    stopped_early: bool
    train_seconds: float
    checkpoint: str | None
    splits: dict[str, dict]
    inference_seconds_per_clip: float
    checkpoint_sha256: str | None = None
    fast_dev_run: bool = False

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "backend": self.backend,
            "features": self.features,
            "data": self.data,
            "epochs": self.epochs,
            "stopped_early": self.stopped_early,
            "train_seconds": round(self.train_seconds, 3),
            "checkpoint": self.checkpoint,
            "checkpoint_sha256": self.checkpoint_sha256,
            "fast_dev_run": self.fast_dev_run,
            **self.splits,
            "inference_seconds_per_clip": self.inference_seconds_per_clip,
        }


def data_summary(path, manifest) -> dict:
    """How metrics.json names the data a run read."""
    return {"path": str(path), "synthetic": manifest.synthetic, "source": manifest.source}


def with_interval(split_metrics: dict, name: str, percent: bool = True) -> str:
    """A split's metric and its 95% interval as text, e.g. `41.0% [25.6, 57.9]` (or `0.402 [0.25, 0.55]`)."""

    def form(x: float) -> str:
        return f"{100 * x:.1f}%" if percent else f"{x:.3f}"

    interval = split_metrics.get(f"{name}_interval")
    if interval is None:  # metrics written before intervals were recorded
        return f"{form(split_metrics[name])} [no interval]"
    return f"{form(split_metrics[name])} [{form(interval[0])}, {form(interval[1])}]"
