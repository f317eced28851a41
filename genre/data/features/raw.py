"""`raw`: windows of PCM audio, the input of the study's Conv1D net.

`windows` windows of `window_length` samples, evenly spread over the clip (one starts at sample 0, as
in the study), stored as int16 PCM; a model input is float32 in [-1, 1] with a channel axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.data.features.kind import FeatureKind


@dataclass(frozen=True)
class RawConfig:
    window_length: int = 10000
    windows: int = 8


class Raw(FeatureKind):
    name = "raw"
    config_class = RawConfig
    stored_dtype = np.int16
    windowed = True
    input_scale = 32768.0
    channel_axis = True

    def stored_shape(self, features):
        c = features.of(self.name)
        return (c.windows, c.window_length)

    def check(self, features):
        c, audio = features.of(self.name), features.audio
        if c.window_length > audio.samples:
            raise ValueError(
                f"raw window_length {c.window_length} exceeds the clip length "
                f"{audio.samples} samples ({audio.duration:g} s at {audio.sample_rate} Hz)"
            )

    def compute(self, clip, features, spectrum):
        return raw_windows(clip.signal, features.of(self.name))

    def describe(self, features):
        return {
            **self.parameters(features),
            "sample_rate": features.audio.sample_rate,
            "shape": list(self.stored_shape(features)),
            "dtype": "int16",
            "encoding": "PCM; float = int16 / 32768; windows evenly spread, first at sample 0",
        }


def raw_windows(signal: np.ndarray, config: RawConfig) -> np.ndarray:
    starts = np.linspace(0, len(signal) - config.window_length, config.windows).round().astype(int)
    windows = np.stack([signal[s : s + config.window_length] for s in starts])
    return np.clip(np.round(windows * 32768.0), -32768, 32767).astype(np.int16)


KIND = Raw()
