"""Intervals and paired tests of genre.uncertainty, checked against formulas and published values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from genre.uncertainty import (
    ModelCorrectness,
    accuracy_interval,
    accuracy_with_interval,
    bootstrap_interval,
    compare_with_best,
    fold_summary,
    macro_f1_rows,
    mcnemar_exact,
    metric_with_interval,
    paired_bootstrap_difference,
)


def test_all_correct_reaches_one_and_all_wrong_reaches_zero():
    low, high = accuracy_interval(20, 20)
    assert high == 1.0
    # Clopper-Pearson at k = n: lower end is (alpha/2)^(1/n).
    assert low == pytest.approx(0.025 ** (1 / 20), rel=1e-9)
    low, high = accuracy_interval(0, 20)
    assert low == 0.0
    assert high == pytest.approx(1 - 0.025 ** (1 / 20), rel=1e-9)


def test_no_clips_gives_nan():
    assert all(math.isnan(v) for v in accuracy_interval(0, 0))
    assert math.isnan(accuracy_with_interval(np.array([], dtype=bool)).value)


def test_seven_of_ten_matches_beta_quantiles():
    k, n, alpha = 7, 10, 0.05
    low, high = accuracy_interval(k, n)
    assert low == pytest.approx(stats.beta.ppf(alpha / 2, k, n - k + 1), rel=1e-9)
    assert high == pytest.approx(stats.beta.ppf(1 - alpha / 2, k + 1, n - k), rel=1e-9)
    low90, high90 = accuracy_interval(k, n, level=0.90)
    assert low90 == pytest.approx(stats.beta.ppf(0.05, k, n - k + 1), rel=1e-9)
    assert high90 == pytest.approx(stats.beta.ppf(0.95, k + 1, n - k), rel=1e-9)


def test_published_values():
    # R's documented example `binom.test(c(682, 243), p = 3/4)`: 95% CI 0.7076683 0.7654066.
    assert accuracy_interval(682, 925) == pytest.approx((0.7076683, 0.7654066), abs=1e-7)
    # Newcombe (1998), Stat. Med. 17:857, Table II, exact method, 81/263: 0.2527 to 0.3676.
    assert accuracy_interval(81, 263) == pytest.approx((0.2527, 0.3676), abs=1e-4)


def test_interval_record_text_and_dict():
    estimate = accuracy_with_interval(np.arange(39) < 16)
    assert estimate.text() == "41.0% [25.6, 57.9] (39 clips)"
    assert estimate.to_dict()["method"] == "Clopper-Pearson exact binomial"
    assert estimate.to_dict()["n"] == 39


def test_bad_counts_are_refused_with_the_values():
    with pytest.raises(ValueError, match="correct=11, n=10"):
        accuracy_interval(11, 10)


def _predictions(n: int, accuracy: float, n_classes: int = 8, seed: int = 1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    wrong = rng.random(n) > accuracy
    predicted = np.where(wrong, (labels + rng.integers(1, n_classes, n)) % n_classes, labels)
    return labels, predicted


def test_bootstrap_is_reproducible_with_its_seed():
    labels, predicted = _predictions(39, 0.4)
    first = bootstrap_interval(labels, predicted, "macro_f1", n_classes=8, seed=5)
    again = bootstrap_interval(labels, predicted, "macro_f1", n_classes=8, seed=5)
    other = bootstrap_interval(labels, predicted, "macro_f1", n_classes=8, seed=6)
    assert first == again
    assert first != other


def test_bootstrap_accuracy_is_close_to_exact_on_many_clips():
    labels, predicted = _predictions(2000, 0.45)
    k = int((labels == predicted).sum())
    exact = accuracy_interval(k, 2000)
    boot = bootstrap_interval(labels, predicted, "accuracy", n_classes=8, resamples=2000, seed=0)
    assert boot == pytest.approx(exact, abs=0.004)
    # The width pins the level: a 90% interval would be about 16% narrower than this 95% one.
    assert (boot[1] - boot[0]) / (exact[1] - exact[0]) == pytest.approx(1.0, abs=0.06)


def test_macro_f1_rows_matches_scikit_learn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 5, size=(4, 30))
    predicted = rng.integers(0, 4, size=(4, 30))  # class 4 is never predicted
    labels[0] = np.where(labels[0] == 4, 0, labels[0])  # so in row 0 class 4 is neither true nor predicted
    labels[1] = np.where(labels[1] == 3, 0, labels[1])  # and in row 1 class 3 is predicted, never true
    ours = macro_f1_rows(labels, predicted, 5)
    theirs = [
        f1_score(t, p, labels=range(5), average="macro", zero_division=0)
        for t, p in zip(labels, predicted, strict=True)
    ]
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_metric_with_interval_holds_the_point_value():
    labels, predicted = _predictions(39, 0.4)
    estimate = metric_with_interval(labels, predicted, "accuracy", n_classes=8)
    assert estimate.value == pytest.approx(np.mean(labels == predicted))
    assert estimate.low <= estimate.value <= estimate.high
    assert estimate.method == "percentile bootstrap over clips"


def test_unknown_metric_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"'top5'.*\['accuracy', 'macro_f1'\]"):
        bootstrap_interval([0, 1], [0, 1], "top5", n_classes=2)


def test_mcnemar_hand_computed():
    a = np.array([1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0], dtype=bool)
    b = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0], dtype=bool)
    result = mcnemar_exact(a, b)
    # b = 7 (A right, B wrong), c = 1; p = 2 * P(X <= 1 | n=8, 1/2) = 2 * (1 + 8) / 256.
    assert (result.b, result.c) == (7, 1)
    assert result.p_value == pytest.approx(18 / 256, rel=1e-12)
    assert mcnemar_exact(b, a).p_value == pytest.approx(18 / 256, rel=1e-12)


def test_mcnemar_without_discordant_clips_is_one():
    same = np.array([True, False, True])
    assert mcnemar_exact(same, same).p_value == 1.0


def test_paired_difference_is_seeded_and_holds_the_difference():
    a = np.random.default_rng(0).random(500) < 0.6
    b = np.random.default_rng(1).random(500) < 0.4
    first = paired_bootstrap_difference(a, b, seed=3)
    assert first == paired_bootstrap_difference(a, b, seed=3)
    assert first != paired_bootstrap_difference(a, b, seed=4)
    assert first.value == pytest.approx(a.mean() - b.mean())
    assert first.low <= first.value <= first.high
    assert first.text().startswith("+") and " points [" in first.text()


def test_compare_with_best_aligns_by_track_id_and_marks_ties():
    ids = np.arange(100, 140)
    best = ids % 4 != 0  # 30 of 40 right
    close = best.copy()
    close[1:3] = False  # 2 discordant clips: p = 0.5, tied
    far = ~best  # 40 discordant: 10 for it, 30 against
    rows = [
        ModelCorrectness("close", ids[::-1], close[::-1]),  # same clips, other order
        ModelCorrectness("best", ids, best),
        ModelCorrectness("far", ids, far),
    ]
    out = compare_with_best(rows, best=1)
    assert [c.name for c in out] == ["close", "best", "far"]
    assert out[0].tied and (out[0].b, out[0].c) == (0, 2)
    assert out[1].is_best and out[1].tied
    assert out[2].distinguishable and (out[2].b, out[2].c) == (10, 30)
    assert out[2].difference == pytest.approx(0.25 - 0.75)


def test_compare_with_best_names_models_on_different_clips():
    rows = [
        ModelCorrectness("svm", np.array([1, 2, 3]), np.array([True, True, False])),
        ModelCorrectness("melcnn", np.array([1, 2, 4]), np.array([True, False, False])),
    ]
    with pytest.raises(ValueError, match=r"'svm' and 'melcnn'.*only in 'svm': \[3\]"):
        compare_with_best(rows, best=1)


def test_holm_adjustment_can_turn_a_difference_into_a_tie():
    ids = np.arange(30)
    best = np.ones(30, dtype=bool)
    rows = [ModelCorrectness("best", ids, best)]
    for i in range(3):
        worse = best.copy()
        worse[i : i + 6] = False  # 6 discordant: p = 2/64 = 0.03125
        rows.append(ModelCorrectness(f"m{i}", ids, worse))
    raw = compare_with_best(rows, best=0)
    holm = compare_with_best(rows, best=0, adjust="holm")
    assert all(c.distinguishable for c in raw[1:])
    assert all(c.tied for c in holm[1:])
    assert holm[1].p_adjusted == pytest.approx(3 * 2 / 64)


def test_fold_summary_uses_the_sample_standard_deviation():
    summary = fold_summary([0.4, 0.5, 0.6])
    assert summary.mean == pytest.approx(0.5)
    assert summary.std == pytest.approx(0.1)  # ddof=1; ddof=0 would give 0.0816
    assert summary.values == (0.4, 0.5, 0.6)
    assert summary.text() == "50.0% ± 10.0 (3 folds)"
    assert math.isnan(fold_summary([0.4]).std)


def test_the_corrected_fold_interval_is_wider_than_the_plain_t_interval():
    from genre.uncertainty import corrected_fold_interval

    values = [0.40, 0.46, 0.38, 0.52, 0.44]
    low, high = corrected_fold_interval(values, test_train_ratio=1 / 3)
    s = np.std(values, ddof=1)
    half = stats.t.ppf(0.975, 4) * s * np.sqrt(1 / 5 + 1 / 3)  # Nadeau and Bengio's variance, by hand
    assert (low, high) == pytest.approx((np.mean(values) - half, np.mean(values) + half))
    plain = stats.t.ppf(0.975, 4) * s / np.sqrt(5)
    assert high - low > 2 * plain
    assert corrected_fold_interval([0.0, 0.02, 0.01], 1.0)[0] == 0.0  # clipped to [0, 1]
    with pytest.raises(ValueError, match="at least two fold values"):
        corrected_fold_interval([0.4], 0.5)
