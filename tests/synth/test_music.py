"""Tests for the synthetic music renderer: contract, determinism, and genre separation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from genre.synth.music import render_track
from genre.synth.profiles import GENRES
from genre.synth.style import ArtistStyle, draw_artist_style

SR = 22050


def _style(genre: str, seed: int) -> ArtistStyle:
    return draw_artist_style(genre, np.random.default_rng(seed))


def _render(style: ArtistStyle, seed: int, seconds: float = 3.0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return render_track(style, rng, seconds=seconds, sample_rate=SR, channels=channels)


def test_same_seed_gives_identical_audio_and_other_seed_differs() -> None:
    style = _style("Electronic", 3)
    first, again = _render(style, 11, channels=2), _render(style, 11, channels=2)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, _render(style, 12, channels=2))


def test_style_draw_is_deterministic_and_varies_with_seed() -> None:
    assert _style("Folk", 5) == _style("Folk", 5)
    assert _style("Folk", 5) != _style("Folk", 6)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("genre", GENRES)
def test_render_contract_for_every_genre(genre: str, channels: int) -> None:
    audio = _render(_style(genre, 1), 2, seconds=3.0, channels=channels)
    assert audio.shape == (round(3.0 * SR), channels)
    assert audio.dtype == np.float32
    assert np.isfinite(audio).all()
    assert np.abs(audio).max() <= 0.99
    assert np.sqrt(np.mean(audio**2)) > 1e-3  # never silent


def test_odd_durations_and_default_rate_have_the_promised_length() -> None:
    style = _style("Hip-Hop", 4)
    odd = render_track(style, np.random.default_rng(0), seconds=0.37, sample_rate=SR)
    assert odd.shape == (round(0.37 * SR), 2)
    assert render_track(style, np.random.default_rng(0), seconds=0.5).shape == (22050, 2)
    assert render_track(style, np.random.default_rng(0), seconds=1 / SR, sample_rate=SR).shape == (1, 2)


def test_unknown_genre_is_rejected_with_the_choices() -> None:
    with pytest.raises(ValueError, match=r"'Polka'.*Hip-Hop.*Instrumental"):
        draw_artist_style("Polka", np.random.default_rng(0))
    style = dataclasses.replace(_style("Pop", 0), genre="Polka")
    with pytest.raises(ValueError, match="Polka"):
        render_track(style, np.random.default_rng(0), seconds=1.0)


def test_bad_channel_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="channels"):
        render_track(_style("Pop", 0), np.random.default_rng(0), seconds=1.0, channels=3)


def test_genre_tempo_distributions_differ() -> None:
    electronic = [_style("Electronic", s).tempo for s in range(150)]
    instrumental = [_style("Instrumental", s).tempo for s in range(150)]
    # Profile means are 126 vs 80 BPM; borrowing from other genres narrows but keeps the gap.
    assert np.mean(electronic) > np.mean(instrumental) + 20


def test_rock_is_louder_than_instrumental_on_average() -> None:
    def loudness_db(genre: str) -> float:
        levels = []
        for artist in range(12):
            audio = _render(_style(genre, 100 + artist), artist, seconds=2.0)
            levels.append(20 * np.log10(np.sqrt(np.mean(audio**2))))
        return float(np.mean(levels))

    # Profile targets are about -10.5 vs -20 dBFS RMS; a 4 dB margin cannot come from chance
    # draws of 12 artists each, and fails if loudness stops depending on the genre.
    assert loudness_db("Rock") > loudness_db("Instrumental") + 4.0
