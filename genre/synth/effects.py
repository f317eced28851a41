"""Effects and mastering: delay, reverb, side-chain pumping, bit-crushing, noise floor, limiter.

Owns what happens to stems and to the stereo mix after the sources have played: ``feedback_delay``
and ``reverb_returns`` on stems and sends, ``pump_gain`` per track, and ``master`` (tone,
saturation, lo-fi, noise floor, loudness, soft limiter) on ``(channels, samples)`` audio. It hands
on audio whose peak stays below 0.99.
"""

from __future__ import annotations

import numpy as np
from scipy import fft, signal

from genre.synth.arrangement import Track
from genre.synth.sources import upsample
from genre.synth.style import ArtistStyle


def feedback_delay(x: np.ndarray, samples: int, feedback: float) -> np.ndarray:
    y = x.copy()
    for tap in range(1, 4):
        d = tap * samples
        if d < len(x):
            y[d:] += feedback**tap * x[:-d]
    return y


def reverb_returns(
    send: np.ndarray, sr: int, seconds: float, channels: int, level: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """FFT convolution with decaying-noise impulse responses, run at ~11 kHz: tails are dark anyway.
    Each return is scaled by ``level``."""
    factor = max(1, sr // 11025)
    m = len(send) // factor
    low = send[: m * factor].reshape(m, factor) @ np.full(factor, 1 / factor, dtype=np.float32)  # block means
    t = np.arange(int(seconds * sr / factor), dtype=np.float32) / np.float32(sr / factor)
    size = fft.next_fast_len(m + len(t), real=True)
    spectrum = fft.rfft(low, size)
    outs = []
    for _ in range(channels):  # independent IRs per channel give stereo width
        ir = rng.standard_normal(len(t), dtype=np.float32) * np.exp(np.float32(-6.9 / seconds) * t)
        ir *= np.float32(level) / np.sqrt(np.vdot(ir, ir) * factor)
        wet = fft.irfft(spectrum * fft.rfft(ir, size), size)[:m]
        outs.append(upsample(wet, factor, len(send)))
    return outs


def pump_gain(tr: Track, depth: float) -> np.ndarray:
    """Side-chain style gain dip on every beat (the house/EDM 'breathing')."""
    hop = 64
    t = np.arange(tr.n // hop + 2) * hop / tr.sr + tr.offset_s
    phase = np.mod(t, 4 * tr.step_s)
    return upsample((1 - depth * np.exp(-phase / 0.08)).astype(np.float32), hop, tr.n)


def bit_crush(x: np.ndarray, bits: int, hold: int) -> np.ndarray:
    levels = 2.0 ** (bits - 1)
    y = np.round(x * levels) / levels
    return np.repeat(y[..., ::hold], hold, axis=-1)[..., : x.shape[-1]] if hold > 1 else y


def noise_floor(n: int, sr: int, style: ArtistStyle, rng: np.random.Generator) -> np.ndarray:
    # A tiled block of a prime length (~0.37 s) sounds like hiss and costs far less than n draws.
    block = rng.standard_normal(min(n, 16411 * max(1, sr // 44100)), dtype=np.float32)
    hiss = np.resize(block * np.float32(10 ** (style.hiss_db / 20)), n)
    if style.vinyl and n > 1:
        clicks = rng.integers(0, n - 1, rng.poisson(style.vinyl * n / sr))
        hiss[clicks] += rng.uniform(-0.3, 0.3, clicks.size).astype(np.float32)
        hiss[clicks + 1] -= 0.5 * hiss[clicks]  # a crackle is a short doublet
    return hiss


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.vdot(x, x) / x.size)) + 1e-12


def master(out: np.ndarray, tr: Track, style: ArtistStyle, rng: np.random.Generator) -> np.ndarray:
    """Tone, saturation, lo-fi, noise floor, loudness and a soft limiter on (channels, n) audio;
    hands on (n, channels) frames, as encoders and files take them."""
    cutoff = min(style.cutoff_hz * np.exp(rng.normal(0, 0.15)), 0.45 * tr.sr)
    b, a = signal.butter(2, cutoff, fs=tr.sr)  # one biquad: lfilter runs it faster than sosfilt
    out = signal.lfilter(b.astype(np.float32), a.astype(np.float32), out, axis=1)
    drive = style.drive + 0.05
    out *= np.float32(drive / (4 * rms(out)))  # drive into the saturator at a fixed level
    out = np.tanh(out, out=out)
    out *= np.float32(1 / np.tanh(drive))
    if style.crush_bits:
        out = bit_crush(out, style.crush_bits, max(1, int(rng.integers(1, 5)) * tr.sr // 22050))
    noise = noise_floor(tr.n, tr.sr, style, rng)
    for c in range(len(out)):  # shifted copies: decorrelated channels without more noise
        shift = c * 7919 % tr.n
        out[c, shift:] += noise[: tr.n - shift]
        out[c, :shift] += noise[tr.n - shift :]
    target = 10 ** ((style.loudness_db + rng.normal(0, 1.0)) / 20)
    out *= np.float32(target / (0.99 * rms(out)))
    out = np.tanh(out, out=out)  # soft limiter: |tanh| <= 1, so the peak stays at most 0.99
    frames = np.empty(out.shape[::-1], dtype=np.float32)
    for c in range(len(out)):  # one channel at a time: the fastest way to interleave here
        np.multiply(out[c], np.float32(0.99), out=frames[:, c])
    return frames
