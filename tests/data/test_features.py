"""Feature kinds: shapes, storage encodings, and that each measures what it claims."""

from __future__ import annotations

import numpy as np
import pytest

from genre.data.audio import AudioConfig, Clip
from genre.data.features import (
    FeatureConfig,
    RawConfig,
    compute_features,
    handcrafted_names,
    to_model_input,
)
from genre.data.features.handcrafted import summary_stats, zero_crossing_rate

SR = 22050


def _clip(signal: np.ndarray, valid: int | None = None) -> Clip:
    valid = len(signal) if valid is None else valid
    return Clip(signal=signal.astype(np.float32), seconds=valid / SR, valid_samples=valid)


def _sine(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(round(seconds * SR)) / SR)).astype(np.float32)


CONFIG = FeatureConfig(audio=AudioConfig(duration=4.0), raw=RawConfig(window_length=1000, windows=4))


def test_shapes_and_stored_dtypes():
    features = compute_features(_clip(_sine(440, 4.0)), CONFIG)
    assert features["raw"].shape == (4, 1000) and features["raw"].dtype == np.int16
    assert features["mel"].shape == (224, 224) and features["mel"].dtype == np.uint8
    names = handcrafted_names(CONFIG.of("handcrafted"))
    assert features["handcrafted"].shape == (len(names),) and features["handcrafted"].dtype == np.float32
    assert len(names) == len(set(names)) == (20 + 12 + 6 + 7 + 5) * 7 + 1
    assert np.isfinite(features["handcrafted"]).all()
    for kind in ("raw", "mel", "handcrafted"):
        assert CONFIG.shape(kind) == features[kind].shape


def test_raw_windows_are_evenly_spread_and_the_first_starts_at_zero():
    signal = np.linspace(-0.9, 0.9, 4 * SR, dtype=np.float32)
    windows = to_model_input("raw", compute_features(_clip(signal), CONFIG)["raw"])[..., 0]
    starts = np.linspace(0, len(signal) - 1000, 4).round().astype(int)
    for window, start in zip(windows, starts, strict=True):
        np.testing.assert_allclose(window, signal[start : start + 1000], atol=1 / 32768)


def test_mel_image_is_bright_where_the_tone_is():
    low = to_model_input("mel", compute_features(_clip(_sine(200, 4.0)), CONFIG)["mel"])[..., 0]
    high = to_model_input("mel", compute_features(_clip(_sine(4000, 4.0)), CONFIG)["mel"])[..., 0]
    assert low.min() >= 0 and low.max() == 1.0
    assert low.mean(axis=1).argmax() < high.mean(axis=1).argmax()
    assert high.mean(axis=1).argmax() > 100  # 4 kHz sits high among 224 Mel bands up to 11 kHz


def test_mel_time_axis_follows_the_music():
    # Silence then a tone: the left of the image is dark, the right bright.
    signal = np.concatenate([np.zeros(2 * SR, np.float32) + 1e-4, _sine(1000, 2.0)])
    image = to_model_input("mel", compute_features(_clip(signal), CONFIG)["mel"])[..., 0]
    assert image[:, :100].mean() < 0.2 < 0.5 < image[:, 124:].max()


def test_padding_never_enters_the_handcrafted_statistics():
    music = _sine(330, 2.0) + 0.1 * np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32)
    padded = np.concatenate([music, np.zeros(2 * SR, np.float32)])
    two_seconds = FeatureConfig(audio=AudioConfig(duration=2.0), raw=CONFIG.of("raw"))
    from_padded = compute_features(_clip(padded, valid=2 * SR), CONFIG)["handcrafted"]
    from_music_alone = compute_features(_clip(music), two_seconds)["handcrafted"]
    np.testing.assert_allclose(from_padded, from_music_alone, rtol=1e-4, atol=1e-4)


def test_handcrafted_distinguishes_bright_from_dark():
    names = handcrafted_names(CONFIG.of("handcrafted"))
    centroid = names.index("centroid_mean")
    dark = compute_features(_clip(_sine(200, 4.0)), CONFIG)["handcrafted"][centroid]
    bright = compute_features(_clip(_sine(4000, 4.0)), CONFIG)["handcrafted"][centroid]
    assert dark < 400 < 3500 < bright


def test_zero_crossing_rate_matches_librosa():
    import librosa

    signal = np.random.default_rng(1).standard_normal(3 * SR).astype(np.float32)
    ours = zero_crossing_rate(signal, 2048, 512)
    theirs = librosa.feature.zero_crossing_rate(signal, frame_length=2048, hop_length=512)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours[:, 4:-4], theirs[:, 4:-4], atol=1e-3)  # edges pad differently


def test_summary_stats_match_numpy_and_scipy():
    from scipy import stats

    x = np.random.default_rng(4).gamma(2.0, size=(5, 1300)).astype(np.float32)
    ours = summary_stats(x)
    np.testing.assert_allclose(ours[:, 0], x.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(ours[:, 1], x.std(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(ours[:, 2:5], np.stack([x.min(1), x.max(1), np.median(x, 1)], axis=1))
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(ours[:, 5], stats.skew(x64, axis=1), rtol=1e-4)
    np.testing.assert_allclose(ours[:, 6], stats.kurtosis(x64, axis=1), rtol=1e-4)


def test_summary_stats_of_a_constant_row_are_finite():
    stats = summary_stats(np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 6.0]]))
    np.testing.assert_array_equal(stats[0], [2, 0, 2, 2, 2, 0, 0])
    assert stats[1, 5] > 0  # right-skewed row


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kinds": ("raw", "spectrogram")}, "valid kinds are"),
        ({"kinds": ()}, "valid kinds are"),
        ({"kinds": ("raw", "raw")}, "repeated"),
        ({"raw": RawConfig(window_length=10**7)}, "exceeds the clip length"),
    ],
)
def test_bad_feature_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FeatureConfig(**kwargs)
