"""Features computed once per clip at preparation time: the registry of kinds and their shared settings.

Each kind lives in its own module behind the `FeatureKind` contract (`kind.py`): `raw` windows,
the `mel` image, the `handcrafted` vector, `musicnn` patches. `KINDS` lists them; adding a kind is
one new module and one line here. `FeatureConfig` holds the settings every kind shares (the clip's
`AudioConfig`, one STFT's `n_fft` and `hop_length`) and each kind's own config; the manifest
records `describe()`. `compute_features` hands a dict kind -> stored array to the writer, and
`to_model_input` turns stored arrays back into float32 model inputs, the same way the pipeline does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from genre.data.audio import AudioConfig, Clip
from genre.data.features import handcrafted, mel, musicnn, raw
from genre.data.features.handcrafted import HandcraftedConfig, handcrafted_names
from genre.data.features.kind import FeatureKind, Spectrum
from genre.data.features.mel import MelConfig
from genre.data.features.musicnn import MusicnnFeatureConfig, musicnn_file_patches, musicnn_log_mel, musicnn_patches
from genre.data.features.raw import RawConfig

__all__ = [
    "DEFAULT_KINDS",
    "FEATURE_KINDS",
    "KINDS",
    "FeatureConfig",
    "FeatureKind",
    "HandcraftedConfig",
    "MelConfig",
    "MusicnnFeatureConfig",
    "RawConfig",
    "compute_features",
    "feature_config_from_manifest",
    "get_kind",
    "handcrafted_names",
    "musicnn_file_patches",
    "musicnn_log_mel",
    "musicnn_patches",
    "to_model_input",
]

KINDS: Mapping[str, FeatureKind] = MappingProxyType(
    {k.name: k for k in (raw.KIND, mel.KIND, handcrafted.KIND, musicnn.KIND)}
)
FEATURE_KINDS: tuple[str, ...] = tuple(KINDS)
# What `prepare` computes unless told: musicnn patches are opt-in (720 KB a clip of 30 s).
DEFAULT_KINDS: tuple[str, ...] = ("raw", "mel", "handcrafted")


def get_kind(name: str) -> FeatureKind:
    """The feature kind called `name`, or a ValueError listing the valid kinds."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown feature kind {name!r}; valid kinds are {list(FEATURE_KINDS)}") from None


@dataclass(frozen=True, init=False)
class FeatureConfig:
    """The kinds to compute, the clip and STFT settings they share, and each kind's own config.

    Keyword arguments named after a kind (`raw=RawConfig(...)`) set that kind's config; every kind
    not given keeps its defaults, so `of(kind)` always answers."""

    kinds: tuple[str, ...]
    audio: AudioConfig
    n_fft: int  # one STFT serves mel and handcrafted
    hop_length: int
    kind_configs: dict[str, Any]  # every registered kind's config; read it through `of`

    def __init__(
        self,
        kinds: tuple[str, ...] = DEFAULT_KINDS,
        audio: AudioConfig | None = None,
        n_fft: int = 2048,
        hop_length: int = 512,
        **kind_configs: Any,
    ) -> None:
        unknown = sorted(set(kind_configs) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown feature kind settings {unknown}; valid kinds are {list(FEATURE_KINDS)}")
        for name, value in kind_configs.items():
            if not isinstance(value, KINDS[name].config_class):
                raise TypeError(f"{name} settings must be a {KINDS[name].config_class.__name__}, got {value!r}")
        configs = {name: kind_configs.get(name) or kind.config_class() for name, kind in KINDS.items()}
        for field, value in (
            ("kinds", tuple(kinds)),
            ("audio", audio or AudioConfig()),
            ("n_fft", n_fft),
            ("hop_length", hop_length),
            ("kind_configs", configs),
        ):
            object.__setattr__(self, field, value)
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown or not self.kinds:
            raise ValueError(
                f"unknown feature kind(s) {unknown or '(none given)'}; valid kinds are {list(FEATURE_KINDS)}"
            )
        if len(set(self.kinds)) != len(self.kinds):
            raise ValueError(f"feature kinds repeated: {list(self.kinds)}")
        for kind in self.kinds:
            KINDS[kind].check(self)

    def of(self, kind: str) -> Any:
        """The config of one kind (its defaults when not given)."""
        get_kind(kind)
        return self.kind_configs[kind]

    def with_kinds(self, kinds: tuple[str, ...]) -> FeatureConfig:
        """The same settings, computing only `kinds`."""
        return FeatureConfig(kinds, self.audio, self.n_fft, self.hop_length, **self.kind_configs)

    def shape(self, kind: str) -> tuple[int, ...]:
        return get_kind(kind).stored_shape(self)

    def stft_parameters(self) -> dict:
        return {"sample_rate": self.audio.sample_rate, "n_fft": self.n_fft, "hop_length": self.hop_length}

    def describe(self) -> dict:
        """What the manifest records of each kind: parameters, stored shape and dtype, meaning."""
        return {kind: {**KINDS[kind].describe(self), "version": KINDS[kind].version} for kind in self.kinds}


def feature_config_from_manifest(manifest) -> FeatureConfig:
    """The FeatureConfig a prepared data set was made with, to featurise new audio the same way."""
    spec = manifest.features
    common = next(iter(spec.values()))
    return FeatureConfig(
        kinds=tuple(spec),
        audio=AudioConfig(sample_rate=manifest.sample_rate, duration=float(manifest.duration)),
        n_fft=common.get("n_fft", 2048),
        hop_length=common.get("hop_length", 512),
        **{kind: get_kind(kind).config_from_manifest(entry) for kind, entry in spec.items()},
    )


def compute_features(clip: Clip, config: FeatureConfig) -> dict[str, np.ndarray]:
    spectrum = Spectrum(clip, config)
    return {kind: KINDS[kind].compute(clip, config, spectrum) for kind in config.kinds}


def to_model_input(kind: str, stored: np.ndarray) -> np.ndarray:
    """Stored value(s) of a kind -> float32 model input(s), as the `tf.data` pipeline delivers them."""
    return get_kind(kind).to_input(stored)
