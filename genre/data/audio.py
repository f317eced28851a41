"""Decoding one audio file into the fixed-length mono signal every feature starts from.

`load_clip` either returns a `Clip` or raises `ClipError` whose message is the reason the clip is
skipped (it lands in the manifest): missing or empty file, undecodable data, too short, silent,
non-finite samples. Nothing here knows about features, shards or labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS: tuple[str, ...] = (".mp3", ".wav", ".flac", ".ogg", ".au")


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 22050
    duration: float = 30.0  # seconds kept from the start of each file; shorter clips are zero-padded
    min_duration: float = 1.0  # shorter decoded audio is skipped
    pad_tolerance: float = 1.0  # clips short by more than this are listed as padded in the manifest
    silence_db: float = -60.0  # a clip whose peak is below this (dBFS) is skipped as silent

    @property
    def samples(self) -> int:
        return round(self.sample_rate * self.duration)


class ClipError(Exception):
    """The clip cannot be used; the message says why."""


@dataclass(frozen=True)
class Clip:
    signal: np.ndarray  # float32, mono, exactly config.samples long
    seconds: float  # decoded length kept, before padding
    valid_samples: int  # how many leading samples of `signal` are audio rather than padding


def load_clip(path: str | Path, config: AudioConfig) -> Clip:
    """The first `duration` seconds of a file, mono at the configured rate, zero-padded to length."""
    mono = load_audio(path, config, max_seconds=config.duration)
    signal = np.zeros(config.samples, dtype=np.float32)
    n = min(len(mono), config.samples)
    signal[:n] = mono[:n]
    return Clip(signal=signal, seconds=n / config.sample_rate, valid_samples=n)


def load_audio(path: str | Path, config: AudioConfig, max_seconds: float) -> np.ndarray:
    """Up to `max_seconds` of a file, mono float32 at `config.sample_rate`, unpadded; checked."""
    path = Path(path)
    if not path.is_file():
        raise ClipError("missing file")
    if path.stat().st_size == 0:
        raise ClipError("empty file (0 bytes)")
    samples, rate = _decode(path, max_seconds)
    if samples.size == 0:
        raise ClipError("no decodable audio (0 samples)")
    mono = downmix(samples)
    if not np.isfinite(mono).all():
        raise ClipError("non-finite samples (NaN or inf) in decoded audio")
    seconds = len(mono) / rate
    if seconds < config.min_duration:
        raise ClipError(f"too short: {seconds:.2f} s (minimum {config.min_duration:g} s)")
    if rate != config.sample_rate:
        mono = soxr.resample(mono, rate, config.sample_rate, quality="HQ").astype(np.float32, copy=False)
    peak = float(np.max(np.abs(mono)))
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < config.silence_db:
        raise ClipError(f"silent: peak {peak_db:.1f} dBFS (threshold {config.silence_db:g} dBFS)")
    return mono


def downmix(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) -> mono float32, channel by channel: numpy's mean over a short last axis is
    about ten times slower, a tenth of a clip's whole preparation time."""
    if samples.ndim == 1:
        return samples.astype(np.float32)
    mono = samples[:, 0].astype(np.float32)
    for channel in range(1, samples.shape[1]):
        mono += samples[:, channel]
    mono /= samples.shape[1]
    return mono


def _decode(path: Path, duration: float) -> tuple[np.ndarray, int]:
    """Up to `duration` seconds of (frames, channels) float32 samples, and the file's sample rate."""
    try:
        with sf.SoundFile(path) as f:
            rate = f.samplerate
            return f.read(frames=int(np.ceil(duration * rate)), dtype="float32", always_2d=True), rate
    except (sf.LibsndfileError, RuntimeError, EOFError) as err:
        sf_error = str(err).strip() or type(err).__name__
    return _decode_audioread(path, duration, sf_error)


def _decode_audioread(path: Path, duration: float, sf_error: str) -> tuple[np.ndarray, int]:
    # audioread covers formats libsndfile lacks (e.g. AAC via ffmpeg), where such a backend is installed.
    import audioread

    try:
        with audioread.audio_open(str(path)) as f:
            rate, channels = f.samplerate, f.channels
            limit = int(np.ceil(duration * rate)) * channels
            chunks, total = [], 0
            for block in f:
                chunk = np.frombuffer(block, dtype="<i2")
                chunks.append(chunk)
                total += len(chunk)
                if total >= limit:
                    break
    except (audioread.DecodeError, audioread.NoBackendError, OSError, EOFError) as err:
        detail = str(err).strip() or type(err).__name__
        raise ClipError(f"undecodable audio: {sf_error}; audioread: {detail}") from err
    data = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, dtype="<i2")
    data = data[: len(data) - len(data) % channels].reshape(-1, channels)
    return data.astype(np.float32) / 32768.0, rate
