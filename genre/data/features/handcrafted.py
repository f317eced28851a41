"""`handcrafted`: one vector of engineered statistics per clip, for the classic baselines.

Statistics in the spirit of FMA's `features.csv`: MFCC, chroma, tonnetz, spectral contrast,
centroid, bandwidth, rolloff, zero-crossing rate and RMS per frame, each summarised by mean, std,
min, max, median, skew and kurtosis; plus the estimated tempo. Computed on the decoded audio only,
never on padding, from the STFT and Mel product the kinds share. Every statistic is librosa's
definition computed in NumPy (`spectral`, `tempo`, with `filters`' banks), so a worker never imports
librosa; the vector equals the one librosa's feature functions give to 1e-4 (relative, or absolute
near zero; tests/data/test_spectral.py).
Stored as float32; the model input is the vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.data.features import spectral
from genre.data.features.kind import FeatureKind
from genre.data.features.tempo import tempo

STATS: tuple[str, ...] = ("mean", "std", "min", "max", "median", "skew", "kurtosis")
FRAME_FEATURES: tuple[tuple[str, int], ...] = (
    # (name, rows); mfcc rows come from the config
    ("chroma", 12),
    ("tonnetz", 6),
    ("contrast", 7),
    ("centroid", 1),
    ("bandwidth", 1),
    ("rolloff", 1),
    ("zcr", 1),
    ("rms", 1),
)


@dataclass(frozen=True)
class HandcraftedConfig:
    n_mfcc: int = 20
    n_mels: int = 128  # Mel bands under the MFCCs
    rolloff_percent: float = 0.85


class Handcrafted(FeatureKind):
    name = "handcrafted"
    config_class = HandcraftedConfig
    stored_dtype = np.float32
    float_list = True
    # 2: the statistics are computed in NumPy from the shared STFT and a sparse Mel product (`spectral`,
    # `tempo`), to within float32 rounding of version 1's librosa calls.
    version = 2

    def stored_shape(self, features):
        return (len(handcrafted_names(features.of(self.name))),)

    def compute(self, clip, features, spectrum):
        # The frames an STFT of the decoded audio alone would have (librosa pads with zeros too), so
        # padding never enters the statistics.
        valid = 1 + clip.valid_samples // features.hop_length
        mel_power = spectrum.mel_power(features.of(self.name).n_mels)[:, :valid]
        return handcrafted_vector(clip.signal[: clip.valid_samples], spectrum.power[:, :valid], mel_power, features)

    def describe(self, features):
        return {
            **self.parameters(features),
            **features.stft_parameters(),
            "shape": list(self.stored_shape(features)),
            "dtype": "float32",
            "names": handcrafted_names(features.of(self.name)),
        }


def handcrafted_names(config: HandcraftedConfig) -> list[str]:
    rows = [f"mfcc_{i:02d}" for i in range(config.n_mfcc)]
    for name, n in FRAME_FEATURES:
        rows += [name] if n == 1 else [f"{name}_{i:02d}" for i in range(n)]
    return [f"{row}_{stat}" for row in rows for stat in STATS] + ["tempo"]


def handcrafted_vector(signal: np.ndarray, power: np.ndarray, mel_power: np.ndarray, features) -> np.ndarray:
    """The vector of a clip's decoded `signal`, from its (bins, frames) `power` STFT and (n_mels, frames)
    `mel_power` (both of the decoded audio only)."""
    sr, n_fft, hop, h = features.audio.sample_rate, features.n_fft, features.hop_length, features.of("handcrafted")
    magnitude = np.sqrt(power)
    mel_db = spectral.power_to_db(mel_power)
    chroma = spectral.chroma(power, sr, n_fft)
    shape = spectral.spectral_shape(magnitude, np.fft.rfftfreq(n_fft, 1 / sr), h.rolloff_percent)
    frames = [
        spectral.mfcc(mel_db, h.n_mfcc),
        chroma,
        spectral.tonnetz(chroma),
        spectral.spectral_contrast(magnitude, sr, n_fft),
        *(row[None, :] for row in shape),  # centroid, bandwidth, rolloff
        zero_crossing_rate(signal, n_fft, hop),
        spectral.rms(power, n_fft)[None, :],
    ]
    n = min(f.shape[1] for f in frames)
    per_frame = np.concatenate([f[:, :n] for f in frames]).astype(np.float32)
    onset = spectral.onset_strength(mel_db, n_fft, hop)
    return np.concatenate([summary_stats(per_frame).ravel(), [tempo(onset, sr, hop)]]).astype(np.float32)


def zero_crossing_rate(signal: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Crossings per sample in centred frames, as librosa's, from one cumulative sum (5x faster)."""
    crossings = np.concatenate([[0], np.cumsum(np.signbit(signal[1:]) != np.signbit(signal[:-1]))])
    n_frames = 1 + len(signal) // hop_length
    centres = np.arange(n_frames) * hop_length
    lo = np.clip(centres - frame_length // 2, 0, len(crossings) - 1)
    hi = np.clip(centres + frame_length // 2, 0, len(crossings) - 1)
    return ((crossings[hi] - crossings[lo]) / frame_length)[None, :]


def summary_stats(x: np.ndarray) -> np.ndarray:
    """(rows, frames) -> (rows, len(STATS)); skew and kurtosis are 0 for a constant row, not NaN."""
    mean = x.mean(axis=1)
    std = x.std(axis=1)
    safe = np.where(std > 1e-12, std, 1.0)
    z = (x - mean[:, None]) / safe[:, None]
    z2 = z * z  # products, not powers: float32 `**` is a tenth of a clip's features
    constant = std <= 1e-12
    skew = np.where(constant, 0.0, (z2 * z).mean(axis=1))
    kurtosis = np.where(constant, 0.0, (z2 * z2).mean(axis=1) - 3.0)
    return np.stack([mean, std, x.min(axis=1), x.max(axis=1), np.median(x, axis=1), skew, kurtosis], axis=1)


KIND = Handcrafted()
