"""Decoding one audio file into the fixed-length mono signal every feature starts from.

`load_clip` either returns a `Clip` or raises `ClipError` whose message is the reason the clip is
skipped (it lands in the manifest): missing, unreadable or empty file, undecodable data, too short,
silent, non-finite samples. A file that stops decoding early (cut short, or corrupt part way through)
keeps what decodes, and `Clip.cut_short` says so. Nothing here knows about features, shards or labels.
"""

from __future__ import annotations

import os
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
    cut_short: str = ""  # why decoding ended before the file's declared end (truncated or corrupt); "" if it did not


def load_clip(path: str | Path, config: AudioConfig) -> Clip:
    """The first `duration` seconds of a file, mono at the configured rate, zero-padded to length."""
    mono, cut_short = _load(path, config, max_seconds=config.duration)
    signal = np.zeros(config.samples, dtype=np.float32)
    n = min(len(mono), config.samples)
    signal[:n] = mono[:n]
    return Clip(signal=signal, seconds=n / config.sample_rate, valid_samples=n, cut_short=cut_short)


def load_audio(path: str | Path, config: AudioConfig, max_seconds: float) -> np.ndarray:
    """Up to `max_seconds` of a file, mono float32 at `config.sample_rate`, unpadded; checked."""
    return _load(path, config, max_seconds)[0]


def _load(path: str | Path, config: AudioConfig, max_seconds: float) -> tuple[np.ndarray, str]:
    path = Path(path)
    _check_readable(path)
    samples, rate, cut_short = _decode(path, max_seconds, config.pad_tolerance)
    if samples.size == 0:
        raise ClipError("no decodable audio (0 samples)")
    mono = downmix(samples)
    if not np.isfinite(mono).all():
        raise ClipError("non-finite samples (NaN or inf) in decoded audio")
    seconds = len(mono) / rate
    if seconds < config.min_duration:
        detail = f"; {cut_short}" if cut_short else ""
        raise ClipError(f"too short: {seconds:.2f} s (minimum {config.min_duration:g} s){detail}")
    if rate != config.sample_rate:
        mono = soxr.resample(mono, rate, config.sample_rate, quality="HQ").astype(np.float32, copy=False)
    peak = float(np.max(np.abs(mono)))
    peak_db = 20 * np.log10(peak) if peak > 0 else -np.inf
    if peak_db < config.silence_db:
        raise ClipError(f"silent: peak {peak_db:.1f} dBFS (threshold {config.silence_db:g} dBFS)")
    return mono, cut_short


def _check_readable(path: Path) -> None:
    if not path.is_file():
        raise ClipError("not a regular file" if path.exists() else "missing file")
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except OSError as err:  # permissions, I/O errors: the decoders would only say they cannot open it
        raise ClipError(f"unreadable file: {err.strerror or type(err).__name__}") from err
    if empty:
        raise ClipError("empty file (0 bytes)")


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


def _decode(path: Path, duration: float, tolerance: float) -> tuple[np.ndarray, int, str]:
    """Up to `duration` seconds of (frames, channels) float32 samples, the file's sample rate, and why
    decoding ended early ("" when it did not): a file cut short, or corrupt data part way through."""
    name = os.fsencode(path)  # bytes: a file name that is not valid UTF-8 is still a valid path on POSIX
    try:
        with sf.SoundFile(name) as f:
            rate, declared = f.samplerate, f.frames
            wanted = int(np.ceil(duration * rate))
            try:
                samples = f.read(frames=wanted, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                samples, cut_short = _decode_until_error(name, wanted, err)
                return samples, rate, cut_short
    except (sf.LibsndfileError, RuntimeError, EOFError) as err:
        return _decode_audioread(path, duration, f"libsndfile: {_detail(err)}")
    return samples, rate, _cut_short(len(samples), min(declared, wanted), rate, tolerance)


def _cut_short(decoded: int, expected: int, rate: int, tolerance: float) -> str:
    # The header's length is exact for WAV, FLAC and MP3 with a Xing/Info frame, an estimate otherwise.
    if 0 < expected < 2**62 and decoded < expected - tolerance * rate:
        return f"file cut short: decodes {decoded / rate:.2f} s of the {expected / rate:.2f} s its header declares"
    return ""


def _decode_until_error(name: bytes, wanted: int, error: Exception) -> tuple[np.ndarray, str]:
    """What decodes before corrupt data stops libsndfile, read again in blocks of a tenth of a second
    (the failed read returned nothing); the error again when nothing does."""
    blocks, total = [], 0
    with sf.SoundFile(name) as f:
        try:
            while total < wanted:
                block = f.read(frames=min(max(f.samplerate // 10, 1), wanted - total), dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                blocks.append(block)
                total += len(block)
        except (sf.LibsndfileError, RuntimeError):
            pass
        if not blocks:
            raise error
        return np.concatenate(blocks), f"decoding stopped at {total / f.samplerate:.2f} s: libsndfile: {_detail(error)}"


def _detail(err: Exception) -> str:
    # libsndfile's own message, without soundfile's "Error opening <name>: " prefix (the manifest has the path).
    return (getattr(err, "error_string", "") or str(err)).strip() or type(err).__name__


def _decode_audioread(path: Path, duration: float, sf_error: str) -> tuple[np.ndarray, int, str]:
    # audioread covers formats libsndfile lacks (e.g. AAC) only where it finds a backend such as ffmpeg or
    # GStreamer; alone it reads WAV, AIFF and AU through the standard library, as libsndfile does.
    import audioread

    try:
        with audioread.audio_open(str(path)) as f:
            rate, channels = f.samplerate, f.channels
            if rate <= 0 or channels <= 0:
                raise ClipError(f"undecodable audio: {sf_error}; audioread: {rate} Hz, {channels} channel(s)")
            limit = int(np.ceil(duration * rate)) * channels
            chunks, total = [], 0
            for block in f:
                chunk = np.frombuffer(block, dtype="<i2")
                chunks.append(chunk)
                total += len(chunk)
                if total >= limit:
                    break
    # RuntimeError and ValueError: what the standard library's readers raise on some malformed headers.
    except (audioread.DecodeError, audioread.NoBackendError, OSError, EOFError, RuntimeError, ValueError) as err:
        detail = str(err).strip() or type(err).__name__
        raise ClipError(f"undecodable audio: {sf_error}; audioread: {detail}") from err
    data = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, dtype="<i2")
    data = data[: len(data) - len(data) % channels].reshape(-1, channels)
    return data.astype(np.float32) / 32768.0, rate, ""
