"""Tests for the sound sources' shortcuts: each must give what the plain formula gives."""

from __future__ import annotations

import numpy as np
import pytest

from genre.synth.sources import TIMBRES, articulate, note_shape, phase_index, tone, upsample, wavetable

SR = 22050


@pytest.mark.parametrize("factor", [4, 16, 64, 256])
def test_upsample_is_linear_interpolation(factor: int) -> None:
    x = np.random.default_rng(factor).standard_normal(37).astype(np.float32)
    n = len(x) * factor - 3
    expected = np.interp(np.arange(n) / factor, np.arange(len(x)), x)  # flat after the last sample
    y = upsample(x, factor, n)
    assert y.dtype == np.float32 and y.shape == (n,)
    np.testing.assert_allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize("name", ["pluck", "piano", "guitar", "dist_guitar", "saw_bass"])
def test_a_fading_tone_is_the_full_bright_to_dull_fade(name: str) -> None:
    """The bright part is computed only while the fade is above e**-12; later it must not matter."""
    tb, n, freq = TIMBRES[name], int(2.5 * SR), 440.0 * 2.0 ** ((50 - 69) / 12)
    shape = note_shape(tb, n, SR)
    k_max = max(1, min(24, int(0.45 * SR / freq)))
    phase = phase_index(freq, n, SR, tb.vibrato)
    bright, dull = wavetable(tb.bright, k_max, tb.odd)[phase], wavetable(tb.dull, k_max, tb.odd)[phase]
    expected = dull + (bright - dull) * shape[2]
    np.testing.assert_allclose(tone(name, 50.0, shape, SR, np.random.default_rng(0)), expected, atol=1e-4)


@pytest.mark.parametrize("name", sorted(set(TIMBRES) - {"flute"}))  # the flute's breath is fresh noise
def test_a_short_note_is_a_prefix_of_its_pitch_s_longest(name: str) -> None:
    """A part computes one oscillator per pitch at its longest note; shorter notes cut it."""
    tb, long, short = TIMBRES[name], int(1.5 * SR), int(0.4 * SR)
    long_shape, short_shape = note_shape(tb, long, SR), note_shape(tb, short, SR)
    for whole, part in zip(long_shape, short_shape, strict=True):
        np.testing.assert_array_equal(whole[:short], part)
    wave = tone(name, 57.0, long_shape, SR, np.random.default_rng(0))
    alone = tone(name, 57.0, short_shape, SR, np.random.default_rng(0))
    np.testing.assert_allclose(wave[:short], alone, atol=1e-6)
    note = articulate(tb, wave, long_shape[1], short, SR)
    assert note.shape == (short,) and note[-1] == 0  # the release ramp ends the note at silence
