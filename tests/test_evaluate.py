"""Scoring: every split's metrics carry their 95% intervals and, with track ids, each clip's prediction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from genre.evaluate import aggregate_clips, score_split, with_interval

GENRES = ["a", "b", "c"]


def _probabilities(predicted: np.ndarray) -> np.ndarray:
    return np.eye(len(GENRES))[predicted]


def test_accuracy_interval_is_the_exact_binomial_one():
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    predicted = labels.copy()
    predicted[:3] = (labels[:3] + 1) % 3  # 7 of 10 right
    m = score_split(_probabilities(predicted), labels, GENRES)
    assert m["accuracy"] == pytest.approx(0.7)
    low, high = m["accuracy_interval"]
    # Clopper-Pearson from its definition: beta quantiles.
    assert low == pytest.approx(stats.beta.ppf(0.025, 7, 4))
    assert high == pytest.approx(stats.beta.ppf(0.975, 8, 3))
    assert m["interval_method"]["accuracy"].startswith("Clopper-Pearson")
    assert with_interval(m, "accuracy") == f"70.0% [{100 * low:.1f}%, {100 * high:.1f}%]"


def test_macro_f1_interval_is_reproducible_and_holds_the_value():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 60)
    predicted = np.where(rng.random(60) < 0.6, labels, rng.integers(0, 3, 60))
    first = score_split(_probabilities(predicted), labels, GENRES)
    again = score_split(_probabilities(predicted), labels, GENRES)
    low, high = first["macro_f1_interval"]
    assert first["macro_f1_interval"] == again["macro_f1_interval"]  # a fixed seed
    assert low < first["macro_f1"] < high and high - low > 0.1  # 60 clips leave a wide interval


def test_track_ids_record_every_clip_in_order():
    labels = np.array([0, 1, 2, 2])
    windows = np.stack([_probabilities(np.array([0, 1, 1, 0]))] * 2, axis=1)  # (clips, windows, classes)
    m = score_split(windows, labels, GENRES, track_ids=np.array([40, 10, 30, 20]))
    assert m["predictions"] == {"track_id": [40, 10, 30, 20], "label": [0, 1, 2, 2], "predicted": [0, 1, 1, 0]}
    assert "predictions" not in score_split(windows, labels, GENRES)


def test_a_clip_scores_the_mean_of_its_windows():
    # Clip 0: two windows lean to class 0 a little, one is sure of class 1. The mean, (0.4, 0.6), picks 1;
    # a majority vote over windows would pick 0.
    probabilities = np.array(
        [
            [[0.6, 0.4], [0.6, 0.4], [0.0, 1.0]],
            [[0.9, 0.1], [0.8, 0.2], [0.7, 0.3]],
        ]
    )
    np.testing.assert_allclose(aggregate_clips(probabilities), [[0.4, 0.6], [0.8, 0.2]])
    metrics = score_split(probabilities, np.array([1, 0]), ["a", "b"])
    assert metrics["accuracy"] == 1.0 and metrics["windows_per_clip"] == 3
    assert metrics["window_accuracy"] == pytest.approx(4 / 6)  # windows 0, 1 of clip 0 are wrong
