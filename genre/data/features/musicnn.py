"""`musicnn`: the input of the pretrained musicnn taggers (`genre.models.musicnn`), as the original computes it.

16 kHz mono, librosa's Mel power spectrogram (n_fft 512, hop 256, 96 bands, librosa's defaults
otherwise), log10(10000·mel + 1) in float32 (never float16: numpy 2 overflows there), cut into
patches of 187 frames (3 s) every `patch_hop` frames. Taken from the clip as decoded at the data
set's rate, padding included (a fixed shape per data set), and resampled to 16 kHz with soxr HQ when
that rate differs. Prepared at `--sample-rate 16000` the path is the original's (soundfile decode,
channel mean, one soxr HQ resampling); from 22050 Hz there is a second resampling, which moved
log-Mel values by at most 3e-5 on the reference clip (tests/data/test_musicnn_features.py checks
both). Stored as float32, (patches, 187, 96); each patch is one model input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.data.features.kind import FeatureKind


@dataclass(frozen=True)
class MusicnnFeatureConfig:
    """The original musicnn input; only `patch_hop` (frames between patch starts) is a choice."""

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    patch_frames: int = 187
    patch_hop: int = 187  # no overlap, as the original by default

    def frames(self, samples: int) -> int:
        """Frames of librosa's centred STFT of `samples` samples at 16 kHz."""
        return 1 + samples // self.hop_length

    def patches(self, duration: float) -> int:
        """Patches of a clip of `duration` seconds (0 when shorter than one patch)."""
        frames = self.frames(round(duration * self.sample_rate))
        return max(0, (frames - self.patch_frames) // self.patch_hop + 1)


class Musicnn(FeatureKind):
    name = "musicnn"
    config_class = MusicnnFeatureConfig
    stored_dtype = np.float32
    windowed = True

    def stored_shape(self, features):
        m = features.of(self.name)
        return (m.patches(features.audio.duration), m.patch_frames, m.n_mels)

    def check(self, features):
        m = features.of(self.name)
        if m.patches(features.audio.duration) < 1:
            raise ValueError(
                f"musicnn patches need clips of at least 3 s ({m.patch_frames} frames); "
                f"duration is {features.audio.duration:g} s"
            )

    def compute(self, clip, features, spectrum):
        patches = musicnn_patches(clip.signal, features.audio.sample_rate, features.of(self.name))
        return _fit_patches(patches, self.stored_shape(features)[0])

    def describe(self, features):
        rate = features.audio.sample_rate
        resampled = (
            "" if rate == features.of(self.name).sample_rate else f"; clip resampled from {rate} Hz with soxr HQ"
        )
        return {
            **self.parameters(features),
            "shape": list(self.stored_shape(features)),
            "dtype": "float32",
            "encoding": "log10(10000 * mel + 1) in float32, (patches, frames, bands)" + resampled,
        }


def musicnn_log_mel(signal: np.ndarray, sample_rate: int, config: MusicnnFeatureConfig) -> np.ndarray:
    """(frames, n_mels) float32 log10(10000·mel + 1) of a mono signal, resampled to 16 kHz if needed."""
    import librosa
    import soxr

    signal = np.asarray(signal, dtype=np.float32)
    if sample_rate != config.sample_rate:
        signal = soxr.resample(signal, sample_rate, config.sample_rate, quality="HQ").astype(np.float32, copy=False)
    mel = librosa.feature.melspectrogram(
        y=signal, sr=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length, n_mels=config.n_mels
    ).T
    # float32 throughout: the original's float16 cast makes 10000·mel overflow to inf under numpy 2.
    return np.log10(np.float32(10000.0) * mel.astype(np.float32) + np.float32(1.0))


def musicnn_patches(signal: np.ndarray, sample_rate: int, config: MusicnnFeatureConfig) -> np.ndarray:
    """(patches, patch_frames, n_mels) float32: every whole patch, starts `patch_hop` frames apart."""
    log_mel = musicnn_log_mel(signal, sample_rate, config)
    starts = range(0, len(log_mel) - config.patch_frames + 1, config.patch_hop)
    if not starts:
        return np.zeros((0, config.patch_frames, config.n_mels), np.float32)
    return np.stack([log_mel[s : s + config.patch_frames] for s in starts])


def _fit_patches(patches: np.ndarray, n: int) -> np.ndarray:
    """Exactly `n` patches (resampling may round the length by a sample): cut, or pad with zeros."""
    if len(patches) >= n:
        return np.ascontiguousarray(patches[:n])
    pad = np.zeros((n - len(patches), *patches.shape[1:]), np.float32)
    return np.concatenate([patches, pad])


def musicnn_file_patches(path, config: MusicnnFeatureConfig, max_seconds: float = 24 * 3600.0) -> np.ndarray:
    """Patches of a whole audio file, decoded straight to 16 kHz as the original tagger does; at least one
    patch (a file shorter than 3 s is zero-padded)."""
    from genre.data.audio import AudioConfig, load_audio

    signal = load_audio(path, AudioConfig(sample_rate=config.sample_rate), max_seconds=max_seconds)
    minimum = (config.patch_frames - 1) * config.hop_length
    if len(signal) < minimum:
        signal = np.concatenate([signal, np.zeros(minimum - len(signal), np.float32)])
    return musicnn_patches(signal, config.sample_rate, config)


KIND = Musicnn()
