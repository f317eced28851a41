"""One clip's power STFT and the per-frame statistics read from it and its Mel product, in NumPy.

Each function computes what its librosa namesake computes (librosa 0.11: `stft`, `spectral_centroid`,
`spectral_bandwidth`, `spectral_rolloff`, `spectral_contrast`, `chroma_stft`, `rms`, `power_to_db`,
`mfcc`, `tonnetz`, `onset_strength`), from one (bins, frames) spectrogram the caller shares, without
librosa's per-call copies, renormalisation and validation, which made them most of a clip's feature
time, and without importing librosa (see `filters`). tests/data/test_spectral.py holds each to its
namesake on the real FMA clip, generated clips and synthetic signals:

- the power STFT, the rolloff and power_to_db: bit for bit;
- centroid, bandwidth, chroma, RMS, MFCC, onset strength: 1e-4 relative or better (float32 sums in
  another order); tonnetz: 1e-6;
- contrast: 0.01 dB (measured: 1e-5 dB).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from genre.data.features import filters

_STFT_BLOCK = 64  # frames transformed at once: a whole clip's float64 frames would not stay in cache


def power_spectrogram(signal: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """(1 + n_fft // 2, frames) float32 C-contiguous |STFT|², equal to `np.abs(librosa.stft(signal,
    n_fft=n_fft, hop_length=hop_length)) ** 2` bit for bit: the same centred zero-padded frames,
    float64 Hann window, FFT and complex64 rounding, in blocks of frames, written bins-major."""
    import scipy.fft

    padded = np.pad(np.asarray(signal, dtype=np.float32), n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    power = np.empty((1 + n_fft // 2, len(frames)), np.float32)
    for start in range(0, len(frames), _STFT_BLOCK):
        block = scipy.fft.rfft(frames[start : start + _STFT_BLOCK] * filters.hann(n_fft), axis=-1)
        power[:, start : start + _STFT_BLOCK] = (np.abs(block.astype(np.complex64)) ** 2).T
    return power


def spectral_shape(
    magnitude: np.ndarray, freqs: np.ndarray, roll_percent: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spectral centroid, bandwidth (`p=2`) and rolloff of a (bins, frames) magnitude, one value a frame."""
    freqs = freqs.astype(magnitude.dtype)  # a float64 vector would copy the spectrogram to float64
    total = np.maximum(magnitude.sum(axis=0), np.finfo(np.float32).tiny)  # a silent frame: 0, as librosa's
    centroid = (freqs @ magnitude) / total
    bandwidth = np.sqrt(np.maximum((freqs**2 @ magnitude) / total - centroid**2, 0.0))
    cumulative = _cumulative_sum(magnitude)
    below = (cumulative < roll_percent * cumulative[-1]).sum(axis=0)
    return centroid, bandwidth, freqs[np.minimum(below, len(freqs) - 1)]


def _cumulative_sum(x: np.ndarray) -> np.ndarray:
    """`np.cumsum(x, axis=0)` to the bit (the same sequential sums), a row at a time: NumPy's own
    accumulates one element at a time and is seven times slower on a spectrogram."""
    out = np.empty_like(x)
    out[0] = x[0]
    for row in range(1, len(x)):
        np.add(out[row - 1], x[row], out=out[row])
    return out


@functools.lru_cache(maxsize=8)
def _contrast_bands(sample_rate: int, n_fft: int, fmin: float, n_bands: int, quantile: float) -> tuple:
    """librosa's octave bands as (first bin, end bin, bins averaged at each side) triples, its edge rules
    included: each band but the first takes the bin below it, the last runs to the top bin, and every band
    but the last drops its top bin (after the count that sets the quantile)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    n_bins = len(freqs)
    edges = np.zeros(n_bands + 2)
    edges[1:] = fmin * 2.0 ** np.arange(n_bands + 1)
    if np.any(edges[:-1] >= 0.5 * sample_rate):
        raise ValueError(f"spectral contrast bands from {fmin:g} Hz exceed the Nyquist frequency of {sample_rate} Hz")
    bands = []
    for k, (low, high) in enumerate(itertools.pairwise(edges)):
        inside = np.flatnonzero((freqs >= low) & (freqs <= high))
        first = inside[0] - 1 if k > 0 else inside[0]
        end = n_bins if k == n_bands else inside[-1] + 1
        side = max(int(np.rint(quantile * (end - first))), 1)
        bands.append((int(first), int(end if k == n_bands else end - 1), side))
    return tuple(bands)


def spectral_contrast(
    magnitude: np.ndarray,
    sample_rate: int,
    n_fft: int,
    fmin: float = 200.0,
    n_bands: int = 6,
    quantile: float = 0.02,
) -> np.ndarray:
    """(n_bands + 1, frames) of a (bins, frames) magnitude: per octave band, the dB of the mean of its
    loudest `quantile` of bins minus that of its quietest, as librosa's `spectral_contrast` (which takes
    dB of magnitudes, not powers)."""
    peaks, valleys = [], []
    for first, end, side in _contrast_bands(sample_rate, n_fft, fmin, n_bands, quantile):
        ordered = np.sort(magnitude[first:end], axis=0)
        valleys.append(ordered[:side].mean(axis=0))
        peaks.append(ordered[-side:].mean(axis=0))
    return power_to_db(np.array(peaks)) - power_to_db(np.array(valleys))


def chroma(power: np.ndarray, sample_rate: int, n_fft: int) -> np.ndarray:
    """(12, frames) chroma of a (bins, frames) power spectrogram, each frame scaled to a maximum of 1."""
    energy = filters.chroma_filters(sample_rate, n_fft) @ power
    peak = energy.max(axis=0)
    return energy / np.where(peak < np.finfo(energy.dtype).tiny, 1.0, peak)


def rms(power: np.ndarray, n_fft: int) -> np.ndarray:
    """Per frame, the root mean square of the windowed frame, from its power spectrum (Parseval), as
    librosa's `rms(S=...)`: the DC and Nyquist bins count once, the others twice."""
    once = power[0] + (power[-1] if n_fft % 2 == 0 else 0.0)
    return np.sqrt(2.0 * (power.sum(axis=0) - 0.5 * once) / n_fft**2)


def power_to_db(power: np.ndarray, top_db: float = 80.0) -> np.ndarray:
    """librosa's `power_to_db` with its defaults: 10·log10 of power (floored at 1e-10), at most
    `top_db` below the array's maximum."""
    db = 10.0 * np.log10(np.maximum(1e-10, power))
    return np.maximum(db, db.max() - top_db)


def mfcc(mel_db: np.ndarray, n_mfcc: int) -> np.ndarray:
    """librosa's `feature.mfcc(S=mel_db)`: the orthonormal DCT-II of the log-Mel bands, first `n_mfcc`."""
    import scipy.fft

    return scipy.fft.dct(mel_db, axis=-2, type=2, norm="ortho")[:n_mfcc]


def tonnetz(chroma: np.ndarray) -> np.ndarray:
    """librosa's `feature.tonnetz(chroma=...)`: (6, frames) fifths, minor and major thirds, as sines
    and cosines of each frame's L1-normalised chroma."""
    dim_map = np.linspace(0, 12, num=chroma.shape[-2], endpoint=False)
    scale = np.asarray([7.0 / 6, 7.0 / 6, 3.0 / 2, 3.0 / 2, 2.0 / 3, 2.0 / 3])
    angles = np.multiply.outer(scale, dim_map)
    angles[::2] -= 0.5  # even rows are sines
    phi = np.array([1, 1, 1, 1, 0.5, 0.5])[:, np.newaxis] * np.cos(np.pi * angles)
    total = np.sum(np.abs(chroma).astype(float), axis=-2, keepdims=True)
    total[total < np.finfo(chroma.dtype).tiny] = 1.0
    normalised = np.empty_like(chroma)
    normalised[:] = chroma / total
    return np.einsum("pc,...ci->...pi", phi, normalised, optimize=True)


def onset_strength(mel_db: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """librosa's `onset.onset_strength(S=mel_db)` with its defaults: the mean over bands of each frame's
    rise from the one before, shifted to the centres of librosa's frames, as long as the input."""
    rise = np.maximum(0.0, mel_db[:, 1:] - mel_db[:, :-1]).mean(axis=0)
    lag = 1 + n_fft // (2 * hop_length)
    return np.pad(rise, (lag, 0))[: mel_db.shape[-1]]
