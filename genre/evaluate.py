"""The same metrics for every model: accuracy, macro-F1, per-genre precision/recall/F1, confusion.

Nets that see several windows of a clip are scored twice: per window, and per clip by averaging
the windows' probabilities (`aggregate_clips`). Baselines and single-image nets have one example
per clip, so both scores coincide. Everything here is NumPy and scikit-learn: no backend.
"""

from __future__ import annotations

import numpy as np


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


def score_split(probabilities: np.ndarray, labels: np.ndarray, genres: list[str]) -> dict:
    """Clip-level metrics, plus window-level accuracy when there are several windows per clip."""
    clip_probabilities = aggregate_clips(probabilities)
    metrics = classification_metrics(labels, clip_probabilities.argmax(axis=-1), genres)
    if probabilities.ndim == 3:
        windows = probabilities.shape[1]
        window_predicted = probabilities.argmax(axis=-1).ravel()
        metrics["window_accuracy"] = float(np.mean(window_predicted == np.repeat(labels, windows)))
        metrics["windows_per_clip"] = int(windows)
    return metrics
