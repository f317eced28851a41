"""Decoding: the real FMA MP3, other formats, and every kind of bad file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from genre.data.audio import AudioConfig, ClipError, load_clip
from tests.conftest import REAL_MP3

CONFIG = AudioConfig(sample_rate=22050, duration=30.0)


def _tone(seconds: float, rate: int = 44100, channels: int = 2, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    mono = amplitude * np.sin(2 * np.pi * 440.0 * t)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def test_real_fma_mp3_decodes_to_mono_22050():
    clip = load_clip(REAL_MP3, CONFIG)
    assert clip.signal.dtype == np.float32
    assert clip.signal.shape == (CONFIG.samples,)
    assert clip.seconds == pytest.approx(29.98, abs=0.05)
    assert clip.valid_samples == pytest.approx(29.98 * 22050, abs=0.05 * 22050)
    assert np.all(clip.signal[clip.valid_samples :] == 0)
    assert 0.05 < np.abs(clip.signal).max() <= 1.0


@pytest.mark.parametrize(("fmt", "suffix"), [("WAV", ".wav"), ("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")])
def test_formats_decode_and_resample(tmp_path, fmt, suffix):
    path = tmp_path / f"tone{suffix}"
    sf.write(path, _tone(2.0), 44100, format=fmt)
    clip = load_clip(path, AudioConfig(sample_rate=22050, duration=2.0))
    assert clip.signal.shape == (44100,)
    # 440 Hz survives resampling: the spectrum peaks there.
    spectrum = np.abs(np.fft.rfft(clip.signal))
    assert np.fft.rfftfreq(len(clip.signal), 1 / 22050)[spectrum.argmax()] == pytest.approx(440, abs=3)


def test_short_clip_is_padded_and_says_so(tmp_path):
    path = tmp_path / "short.wav"
    sf.write(path, _tone(5.0), 44100)
    clip = load_clip(path, CONFIG)
    assert clip.seconds == pytest.approx(5.0, abs=1e-3)
    assert clip.valid_samples == 5 * 22050
    assert np.all(clip.signal[clip.valid_samples :] == 0)


def test_long_clip_is_cut_to_duration(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, _tone(4.0, rate=22050, channels=1), 22050)
    clip = load_clip(path, AudioConfig(duration=3.0))
    assert clip.signal.shape == (3 * 22050,)
    assert clip.seconds == 3.0


def _bad_files(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "text.mp3").write_text("this is not audio\n" * 100)
    (tmp_path / "truncated.mp3").write_bytes(REAL_MP3.read_bytes()[:3000])
    sf.write(tmp_path / "tiny.wav", _tone(0.4), 44100)
    sf.write(tmp_path / "silent.wav", np.zeros((44100 * 2, 2), np.float32), 44100)
    noisy = _tone(2.0)
    noisy[100] = np.nan
    sf.write(tmp_path / "nan.wav", noisy, 44100, subtype="FLOAT")
    return {
        "missing.mp3": "missing file",
        "empty.mp3": "empty file",
        "text.mp3": "undecodable audio",
        "truncated.mp3": "too short",
        "tiny.wav": "too short: 0.40 s",
        "silent.wav": "silent",
        "nan.wav": "non-finite",
    }


def test_every_bad_file_raises_a_clip_error_with_its_reason(tmp_path):
    for name, reason in _bad_files(tmp_path).items():
        with pytest.raises(ClipError, match=reason):
            load_clip(tmp_path / name, CONFIG)


def test_downmix_is_the_channel_mean():
    from genre.data.audio import downmix

    stereo = np.random.default_rng(0).uniform(-1, 1, (1000, 2)).astype(np.float32)
    np.testing.assert_allclose(downmix(stereo), stereo.mean(axis=1), atol=1e-7)
    assert downmix(stereo[:, 0]).dtype == np.float32
