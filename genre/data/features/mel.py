"""`mel`: a log-Mel image of the whole clip, the input of the Mel-image nets (MobileNetV2, melcnn).

`n_mels` x `frames` (224 x 224 for MobileNetV2; the model repeats it to 3 channels). Power is
averaged over equal time segments of the shared fine STFT, converted to dB relative to the clip's
maximum, clipped at `-top_db`, and stored as uint8 (50 KB a clip instead of 600 KB of float32
224x224x3). A model input is float32 in [0, 1] (0 is `-top_db` below the clip maximum) with a
channel axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.data.features.kind import FeatureKind


@dataclass(frozen=True)
class MelConfig:
    n_mels: int = 224
    frames: int = 224
    fmin: float = 0.0
    fmax: float | None = None  # None: half the sample rate
    top_db: float = 80.0


class Mel(FeatureKind):
    name = "mel"
    config_class = MelConfig
    stored_dtype = np.uint8
    input_scale = 255.0
    channel_axis = True
    version = 2  # 2: the Mel product sums only the filters' nonzero weights (a sparse product)

    def stored_shape(self, features):
        c = features.of(self.name)
        return (c.n_mels, c.frames)

    def compute(self, clip, features, spectrum):
        m = features.of(self.name)
        return mel_image(spectrum.mel_power(m.n_mels, m.fmin, m.fmax), m)

    def describe(self, features):
        return {
            **self.parameters(features),
            **features.stft_parameters(),
            "shape": list(self.stored_shape(features)),
            "dtype": "uint8",
            "encoding": "dB relative to the clip maximum: dB = value / 255 * top_db - top_db",
        }


def mel_image(mel: np.ndarray, m: MelConfig) -> np.ndarray:
    """The stored image of a (n_mels, frames) Mel power spectrogram."""
    # Average power over `frames` equal segments of the fine STFT, so every sample counts once.
    bounds = (np.arange(m.frames + 1) * mel.shape[1]) // m.frames
    counts = np.maximum(np.diff(bounds), 1)
    pooled = np.add.reduceat(mel, np.minimum(bounds[:-1], mel.shape[1] - 1), axis=1) / counts
    db = 10.0 * np.log10(np.maximum(pooled, 1e-10))
    db = np.maximum(db - db.max(), -m.top_db)
    return np.round((db + m.top_db) / m.top_db * 255.0).astype(np.uint8)


KIND = Mel()
