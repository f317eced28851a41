"""The shared STFT and the NumPy spectral statistics against librosa's own functions, on the real FMA
clip, generated clips and synthetic signals, at the tolerances genre/data/features/spectral.py states."""

from __future__ import annotations

import numpy as np
import pytest

from genre.data.audio import AudioConfig, Clip, load_clip
from genre.data.features import FeatureConfig, HandcraftedConfig, compute_features, spectral
from genre.data.features.handcrafted import summary_stats, zero_crossing_rate
from genre.data.features.tempo import tempo
from tests.conftest import REAL_MP3

SR, N_FFT, HOP = 22050, 2048, 512


def _noisy_tone() -> np.ndarray:
    rng = np.random.default_rng(2)
    t = np.arange(3 * SR) / SR
    return (0.4 * np.sin(2 * np.pi * 700 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.fixture(scope="module")
def signals(synth_root) -> dict[str, np.ndarray]:
    """The real 30 s FMA clip, three generated clips of other genres, a noisy tone, and a tone that stops
    half way (silent frames)."""
    audio = AudioConfig(duration=30.0)
    generated = sorted(synth_root.glob("fma_small/*/*.mp3"))[::11][:3]
    stops = _noisy_tone()
    stops[len(stops) // 2 :] = 0.0
    return {
        "real": load_clip(REAL_MP3, audio).signal,
        **{f"generated-{p.stem}": load_clip(p, AudioConfig(duration=3.0)).signal for p in generated},
        "tone": _noisy_tone(),
        "tone-then-silence": stops,
    }


def _librosa_power(signal: np.ndarray) -> np.ndarray:
    import librosa

    return np.abs(librosa.stft(signal, n_fft=N_FFT, hop_length=HOP)) ** 2


def test_power_spectrogram_equals_librosa_bit_for_bit(signals):
    for name, signal in signals.items():
        ours = spectral.power_spectrogram(signal, N_FFT, HOP)
        assert ours.dtype == np.float32 and ours.flags.c_contiguous, name
        np.testing.assert_array_equal(ours, _librosa_power(signal), err_msg=name)


def test_spectral_statistics_match_librosa(signals):
    import librosa

    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    for name, signal in signals.items():
        power = _librosa_power(signal)
        magnitude = np.sqrt(power)
        centroid, bandwidth, rolloff = spectral.spectral_shape(magnitude, freqs, 0.85)
        theirs = librosa.feature.spectral_centroid(S=magnitude, sr=SR)[0]
        np.testing.assert_allclose(centroid, theirs, rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(
            bandwidth, librosa.feature.spectral_bandwidth(S=magnitude, sr=SR)[0], rtol=1e-4, atol=1e-3, err_msg=name
        )
        np.testing.assert_array_equal(rolloff, librosa.feature.spectral_rolloff(S=magnitude, sr=SR)[0], err_msg=name)
        np.testing.assert_allclose(
            spectral.spectral_contrast(magnitude, SR, N_FFT),
            librosa.feature.spectral_contrast(S=magnitude, sr=SR, n_fft=N_FFT),
            atol=0.01,
            err_msg=name,
        )
        np.testing.assert_allclose(
            spectral.chroma(power, SR, N_FFT),
            librosa.feature.chroma_stft(S=power, sr=SR, n_fft=N_FFT, tuning=0.0),
            rtol=1e-4,
            atol=1e-7,
            err_msg=name,
        )
        np.testing.assert_allclose(
            spectral.rms(power, N_FFT),
            librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0],
            rtol=1e-4,
            atol=1e-9,
            err_msg=name,
        )


def test_chroma_finds_the_pitch_class():
    t = np.arange(2 * SR) / SR
    a440 = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    assert spectral.chroma(_librosa_power(a440), SR, N_FFT).mean(axis=1).argmax() == 9  # A


def _onsets(signal: np.ndarray) -> np.ndarray:
    import librosa

    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=_librosa_power(signal), sr=SR))
    return librosa.onset.onset_strength(S=mel_db, sr=SR, hop_length=HOP)


def test_tempo_matches_librosa(signals):
    import librosa

    rng = np.random.default_rng(5)
    # Pulse trains at many periods besides the clips' own envelopes, so the estimate covers the BPM range.
    envelopes = {name: _onsets(signal) for name, signal in signals.items()}
    for period in rng.uniform(6.0, 80.0, 40):
        envelope = np.abs(rng.standard_normal(1292)) * (1 + np.sin(2 * np.pi * np.arange(1292) / period))
        envelopes[f"pulse every {period:.1f} frames"] = envelope.astype(np.float32)
    found = set()
    for name, envelope in envelopes.items():
        ours = tempo(envelope, SR, HOP)
        assert ours == librosa.feature.tempo(onset_envelope=envelope, sr=SR, hop_length=HOP)[0], name
        found.add(ours)
    assert len(found) > 10  # many different tempi were compared, not one


def _librosa_vector(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """The handcrafted vector through librosa's own feature functions, as the vector was first computed
    (the zero-crossing rate aside: librosa's pads its edge frames differently; test_features checks it)."""
    import librosa

    h = config.of("handcrafted")
    power = _librosa_power(signal)
    magnitude = np.sqrt(power)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=SR, n_fft=N_FFT, n_mels=h.n_mels))
    chroma = librosa.feature.chroma_stft(S=power, sr=SR, n_fft=N_FFT, tuning=0.0)
    frames = [
        librosa.feature.mfcc(S=mel_db, n_mfcc=h.n_mfcc),
        chroma,
        librosa.feature.tonnetz(chroma=chroma, sr=SR),
        librosa.feature.spectral_contrast(S=magnitude, sr=SR, n_fft=N_FFT),
        librosa.feature.spectral_centroid(S=magnitude, sr=SR),
        librosa.feature.spectral_bandwidth(S=magnitude, sr=SR),
        librosa.feature.spectral_rolloff(S=magnitude, sr=SR, roll_percent=h.rolloff_percent),
        zero_crossing_rate(signal, N_FFT, HOP),
        librosa.feature.rms(S=magnitude, frame_length=N_FFT),
    ]
    per_frame = np.concatenate(frames).astype(np.float32)
    onset = librosa.onset.onset_strength(S=mel_db, sr=SR, hop_length=HOP)
    bpm = librosa.feature.tempo(onset_envelope=onset, sr=SR, hop_length=HOP)
    return np.concatenate([summary_stats(per_frame).ravel(), bpm]).astype(np.float32)


def test_handcrafted_vector_matches_librosa_within_float32_rounding(signals):
    for name, signal in signals.items():
        config = FeatureConfig(kinds=("handcrafted",), audio=AudioConfig(duration=len(signal) / SR))
        clip = Clip(signal=signal, seconds=len(signal) / SR, valid_samples=len(signal))
        ours = compute_features(clip, config)["handcrafted"]
        theirs = _librosa_vector(signal, config)
        # Relative to the value, or absolute for values near zero (a skew, a centred MFCC).
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4, err_msg=name)


def test_mel_image_matches_the_dense_filter_bank_product(signals):
    import librosa

    from genre.data.features.kind import Spectrum
    from genre.data.features.mel import MelConfig, mel_image

    m = MelConfig()
    for name, signal in signals.items():
        power = _librosa_power(signal)
        dense = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=m.n_mels) @ power
        config = FeatureConfig(audio=AudioConfig(duration=len(signal) / SR))
        sparse = Spectrum(Clip(signal, len(signal) / SR, len(signal)), config).mel_power(m.n_mels)
        np.testing.assert_allclose(sparse, dense, rtol=1e-5, atol=1e-6 * dense.max(), err_msg=name)
        steps = np.abs(mel_image(sparse, m).astype(int) - mel_image(dense, m).astype(int))
        assert steps.max() <= 1 and steps.mean() < 1e-3, name  # a rounding boundary at most, and rarely


def test_one_stft_and_one_mel_product_per_clip_and_setting(monkeypatch):
    from genre.data.features import filters

    calls = {"stft": 0, "mel": 0}
    stft, basis = spectral.power_spectrogram, filters.mel_filters

    def counted_stft(*args):
        calls["stft"] += 1
        return stft(*args)

    def counted_basis(*args):
        calls["mel"] += 1
        return basis(*args)

    monkeypatch.setattr(spectral, "power_spectrogram", counted_stft)
    monkeypatch.setattr(filters, "mel_filters", counted_basis)
    # handcrafted's Mel bands set as the image's: one product serves both.
    config = FeatureConfig(audio=AudioConfig(duration=3.0), handcrafted=HandcraftedConfig(n_mels=224))
    features = compute_features(Clip(_noisy_tone(), 3.0, 3 * SR), config)
    assert set(features) == {"raw", "mel", "handcrafted"}
    assert calls == {"stft": 1, "mel": 1}


def test_the_manifest_records_each_kinds_version():
    described = FeatureConfig(kinds=("raw", "mel", "handcrafted", "musicnn")).describe()
    assert {kind: entry["version"] for kind, entry in described.items()} == {
        "raw": 1,
        "mel": 2,
        "handcrafted": 2,
        "musicnn": 1,
    }


@pytest.mark.parametrize(
    ("sample_rate", "n_fft", "n_mels", "fmin", "fmax"),
    [
        (22050, 2048, 224, 0.0, None),
        (22050, 2048, 128, 0.0, None),
        (16000, 512, 96, 0.0, None),
        (44100, 1024, 40, 300.0, 5e3),
    ],
)
def test_window_and_filter_banks_equal_librosas(sample_rate, n_fft, n_mels, fmin, fmax):
    import librosa
    import scipy.signal

    from genre.data.features import filters

    np.testing.assert_array_equal(filters.hann(n_fft), scipy.signal.get_window("hann", n_fft, fftbins=True))
    ours = filters.mel_filters(sample_rate, n_fft, n_mels, fmin, fmax).toarray()
    np.testing.assert_array_equal(
        ours, librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    )
    np.testing.assert_array_equal(
        filters.chroma_filters(sample_rate, n_fft), librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, tuning=0.0)
    )


def test_mel_domain_features_equal_librosas(signals):
    import librosa

    for name, signal in signals.items():
        power = _librosa_power(signal)
        mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=SR, n_fft=N_FFT))
        np.testing.assert_array_equal(spectral.power_to_db(librosa.feature.melspectrogram(S=power, sr=SR)), mel_db)
        np.testing.assert_allclose(
            spectral.mfcc(mel_db, 20), librosa.feature.mfcc(S=mel_db, n_mfcc=20), rtol=1e-5, atol=1e-4, err_msg=name
        )
        chroma = librosa.feature.chroma_stft(S=power, sr=SR, n_fft=N_FFT, tuning=0.0)
        np.testing.assert_allclose(
            spectral.tonnetz(chroma), librosa.feature.tonnetz(chroma=chroma, sr=SR), atol=1e-6, err_msg=name
        )
        np.testing.assert_allclose(
            spectral.onset_strength(mel_db, N_FFT, HOP),
            librosa.onset.onset_strength(S=mel_db, sr=SR, n_fft=N_FFT, hop_length=HOP),
            rtol=1e-5,
            atol=1e-5,
            err_msg=name,
        )


def test_the_default_kinds_are_computed_without_importing_librosa(tmp_path):
    import subprocess
    import sys

    # A fresh interpreter, as a worker process is: librosa (with scipy.signal and numba) was most of its start-up.
    code = (
        "import sys, numpy as np\n"
        "from genre.data.audio import AudioConfig, Clip\n"
        "from genre.data.features import FeatureConfig, compute_features\n"
        "signal = np.random.default_rng(0).standard_normal(3 * 22050).astype(np.float32) * 0.1\n"
        "compute_features(Clip(signal, 3.0, len(signal)), FeatureConfig(audio=AudioConfig(duration=3.0)))\n"
        "print(sorted(m for m in ('librosa', 'numba', 'scipy.signal') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert result.stdout.strip() == "[]"
