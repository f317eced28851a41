"""A clip's tempo from its onset envelope, as librosa's `feature.tempo` estimates it, in one batch of FFTs.

librosa 0.11's defaults: an autocorrelation of 8 s windows of the onset envelope (centred, Hann
window, each normalised to its peak), averaged over the clip, weighted by a log-normal prior around
120 BPM, and the best lag below 320 BPM. The windows are autocorrelated as one batch of float32 FFTs
(librosa's are float64, framed through general helpers), which is what makes it cheaper; the
estimate is one of librosa's own tempo bins, so a value differs only where two lags score within
float32 rounding of each other (tests/data/test_spectral.py compares them).
"""

from __future__ import annotations

import numpy as np


def tempo(
    onset_envelope: np.ndarray,
    sample_rate: int,
    hop_length: int,
    start_bpm: float = 120.0,
    std_bpm: float = 1.0,
    ac_size: float = 8.0,
    max_tempo: float = 320.0,
) -> float:
    """The estimated tempo in beats per minute of a 1-D onset envelope."""
    import scipy.fft

    win = int(ac_size * sample_rate) // hop_length
    n = len(onset_envelope)
    padded = np.pad(np.asarray(onset_envelope, np.float32), win // 2, mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n]
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win) / win)).astype(np.float32)
    size = scipy.fft.next_fast_len(2 * win - 1, real=True)
    spectrum = scipy.fft.rfft(frames * window, n=size, axis=-1)
    autocorrelation = scipy.fft.irfft(spectrum.real**2 + spectrum.imag**2, n=size, axis=-1)[:, :win]
    peak = np.abs(autocorrelation).max(axis=1, keepdims=True)
    tempogram = (autocorrelation / np.where(peak < np.finfo(peak.dtype).tiny, 1.0, peak)).mean(axis=0, dtype=np.float64)

    with np.errstate(divide="ignore"):  # lag 0 is an infinite tempo, ruled out by max_tempo below
        bpms = 60.0 * sample_rate / (hop_length * np.arange(win, dtype=np.float64))
        log_prior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    log_prior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    return float(bpms[np.argmax(np.log1p(1e6 * tempogram) + log_prior)])
