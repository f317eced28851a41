"""The analysis window and filter banks the shared STFT and its statistics use, built in NumPy.

Each equals what librosa 0.11 (or scipy, for the window) builds with the settings `genre` uses:
`scipy.signal.get_window("hann", n, fftbins=True)`, `librosa.filters.mel` (Slaney scale and
normalisation) and `librosa.filters.chroma` (its defaults, tuning 0). Built here so that a worker
process computing the default feature kinds never imports librosa, scipy.signal or numba: those
imports were most of the 2.6 s of CPU each worker spent starting. Each is built once per process
and setting. tests/data/test_spectral.py compares them with the originals.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=8)
def hann(n: int) -> np.ndarray:
    """The periodic Hann window of `n` points, float64, computed as scipy's general cosine window."""
    fac = np.linspace(-np.pi, np.pi, n + 1)
    window = np.zeros(n + 1)
    for k, a in enumerate((0.5, 0.5)):
        window += a * np.cos(k * fac)
    return window[:-1]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale: linear to 1 kHz, logarithmic above.
    hz = np.asarray(hz, dtype=np.float64)
    mels = hz / (200.0 / 3)
    log_region = hz >= 1000.0
    mels[log_region] = 1000.0 / (200.0 / 3) + np.log(hz[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    hz = (200.0 / 3) * mels
    log_region = mels >= 1000.0 / (200.0 / 3)
    hz[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mels[log_region] - 1000.0 / (200.0 / 3)))
    return hz


@functools.lru_cache(maxsize=8)
def mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None):
    """librosa's Mel filter bank, (n_mels, 1 + n_fft // 2) float32, as a SciPy sparse matrix.

    Each filter spans a few bins (under 1 % of the weights are nonzero at 224 bands of a 2048-point
    STFT): the sparse product of a 30 s clip takes 0.3 ms against 10 ms dense, and differs by float32
    rounding."""
    import scipy.sparse

    fmax = sample_rate / 2 if fmax is None else fmax
    fft_freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0], _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((n_mels, len(fft_freqs)), np.float32)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]  # Slaney: equal area
    return scipy.sparse.csr_array(weights)


@functools.lru_cache(maxsize=8)
def chroma_filters(sample_rate: int, n_fft: int, n_chroma: int = 12) -> np.ndarray:
    """librosa's chroma filter bank (tuning 0, centred on octave 5 with a 2-octave Gaussian, each bin's
    column of unit L2 norm, starting at C), (n_chroma, 1 + n_fft // 2) float32."""
    frequencies = np.linspace(0, sample_rate, n_fft, endpoint=False)[1:]
    frqbins = n_chroma * np.log2(frequencies / (440.0 / 16))
    # The 0 Hz bin is put 1.5 octaves below bin 1.
    frqbins = np.concatenate(([frqbins[0] - 1.5 * n_chroma], frqbins))
    binwidthbins = np.concatenate((np.maximum(frqbins[1:] - frqbins[:-1], 1.0), [1]))
    distance = np.subtract.outer(frqbins, np.arange(0, n_chroma, dtype="d")).T
    half = np.round(float(n_chroma) / 2)
    distance = np.remainder(distance + half + 10 * n_chroma, n_chroma) - half
    weights = np.exp(-0.5 * (2 * distance / np.tile(binwidthbins, (n_chroma, 1))) ** 2)
    norms = np.sum(np.abs(weights) ** 2, axis=0, keepdims=True) ** 0.5
    norms[norms < np.finfo(weights.dtype).tiny] = 1.0
    weights = weights / norms
    weights *= np.tile(np.exp(-0.5 * (((frqbins / n_chroma - 5.0) / 2) ** 2)), (n_chroma, 1))
    weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)
    return np.ascontiguousarray(weights[:, : int(1 + n_fft / 2)], dtype=np.float32)
