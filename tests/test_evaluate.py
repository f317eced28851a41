"""Clip-level scoring: a clip's score is the mean of its windows' probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from genre.evaluate import aggregate_clips, score_split


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
