"""The contract every feature kind meets, and the per-clip spectrum the kinds share.

A `FeatureKind` says everything the rest of `genre` needs to know of one kind: its name and config
dataclass, how it is computed from a decoded clip, how it is stored (dtype, shape, record encoding),
how a stored value becomes a model input (one conversion for the `tf.data` pipeline and for
`predict`), whether a clip holds several model inputs (windows, patches), and what the manifest and
`genre info` say of it. Kinds hold no state: each module defines one instance, and the registry in
`genre.data.features` lists them.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from genre.data.audio import Clip
    from genre.data.features import FeatureConfig


class Spectrum:
    """One clip's analysis shared by every kind that needs it, each part computed on first use: the
    power STFT (`n_fft`, `hop_length` of the FeatureConfig) and one Mel product per filter-bank
    setting, so asking for mel and handcrafted costs one STFT."""

    def __init__(self, clip: Clip, features: FeatureConfig) -> None:
        self.clip, self.features = clip, features
        self._mel: dict[tuple, np.ndarray] = {}

    @functools.cached_property
    def power(self) -> np.ndarray:
        """(1 + n_fft // 2, frames) float32, as `np.abs(librosa.stft(...)) ** 2`."""
        from genre.data.features.spectral import power_spectrogram

        return power_spectrogram(self.clip.signal, self.features.n_fft, self.features.hop_length)

    def mel_power(self, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
        """(n_mels, frames) Mel power: librosa's filter bank times `power`."""
        key = (n_mels, fmin, fmax)
        if key not in self._mel:
            from genre.data.features.filters import mel_filters

            self._mel[key] = mel_filters(self.features.audio.sample_rate, self.features.n_fft, *key) @ self.power
        return self._mel[key]


class FeatureKind(abc.ABC):
    """One kind of per-clip feature.

    Class attributes:
        name: the kind's name in `--features`, the manifest and the records.
        config_class: its parameters (a frozen dataclass; `FeatureConfig.of(name)` holds the value).
        stored_dtype: the dtype written to the shards.
        float_list: stored as a TFRecord float list (else as little-endian raw bytes).
        windowed: the first stored axis holds several model inputs of one clip (raw windows, musicnn
            patches): `window_mode="flat"` makes each a training example, `"clip"` keeps them together.
        input_scale: a model input is `float32(stored) / input_scale`.
        channel_axis: a model input gets a trailing channel axis of 1 (for Conv1D/Conv2D nets).
        version: how the values are computed; raised whenever a change moves stored bytes, and recorded
            in the manifest (and so in a data set's identity), so data sets of two versions never mix.
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    stored_dtype: ClassVar[type]
    float_list: ClassVar[bool] = False
    windowed: ClassVar[bool] = False
    input_scale: ClassVar[float] = 1.0
    channel_axis: ClassVar[bool] = False
    version: ClassVar[int] = 1

    @abc.abstractmethod
    def stored_shape(self, features: FeatureConfig) -> tuple[int, ...]:
        """The shape of one clip's stored value."""

    @abc.abstractmethod
    def compute(self, clip: Clip, features: FeatureConfig, spectrum: Spectrum) -> np.ndarray:
        """One clip's stored value, of `stored_shape` and `stored_dtype`."""

    @abc.abstractmethod
    def describe(self, features: FeatureConfig) -> dict:
        """What the manifest records of the kind: its parameters, "shape", "dtype" and meaning."""

    def check(self, features: FeatureConfig) -> None:
        """Raises a ValueError when the parameters cannot work with the clip settings."""
        return None  # most kinds work with any clip

    def config_from_manifest(self, entry: dict) -> Any:
        """The kind's config as a manifest entry (`describe`'s output) records it."""
        return self.config_class(**{f.name: entry[f.name] for f in fields(self.config_class) if f.name in entry})

    def parameters(self, features: FeatureConfig) -> dict:
        return asdict(features.of(self.name))

    def example_shape(self, stored: tuple[int, ...], window_mode: str = "flat") -> tuple[int, ...]:
        """The shape of one model input (no batch axis) of a value stored as `stored`."""
        shape = tuple(stored[1:]) if self.windowed and window_mode == "flat" else tuple(stored)
        return (*shape, 1) if self.channel_axis else shape

    def to_input(self, stored, cast: Callable[[Any], Any] | None = None):
        """Stored value(s) -> float32 model input(s); `cast` turns them into float32 (NumPy by default;
        the pipeline passes TensorFlow's), so training and `predict` share this one conversion."""
        x = cast(stored) if cast is not None else np.asarray(stored, dtype=np.float32)
        if self.input_scale != 1.0:
            x = x / self.input_scale
        return x[..., None] if self.channel_axis else x
