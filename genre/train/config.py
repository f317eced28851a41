"""The configuration of one training run: typed sections, resolved from defaults, a TOML file and `--set`.

A `FitConfig` is the model's name and four dataclasses: the model's own config (from its
registry entry), `DataConfig`, `OptimConfig` and `TrainerConfig`. Users address fields by their
plain name (`--set max_epochs=1 --set weights=none`); a name shared by several sections (such
as `seed`) sets all of them, so one seed controls shuffles and initialisation. An unknown name
is an error listing the valid ones. The resolved config is written into every run directory.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("plateau", "cosine", "constant")
PRECISIONS = ("32", "mixed", "auto")


@dataclass(frozen=True)
class DataConfig:
    data: Path = Path("genre-demo/data")
    batch_size: int = 32
    shuffle_buffer: int = 8192
    cache: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


@dataclass(frozen=True)
class OptimConfig:
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    clipnorm: float | None = None  # clip each gradient update to this global norm
    schedule: str = "plateau"
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    min_learning_rate: float = 1e-6

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid optimizers are {list(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid schedules are {list(SCHEDULES)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")


@dataclass(frozen=True)
class TrainerConfig:
    max_epochs: int = 30
    seed: int = 0
    deterministic: bool = False  # bit-reproducible ops (slower on TensorFlow); needed for exact resume
    monitor: str = "val_accuracy"
    monitor_mode: str = "max"
    save_top_k: int = 1
    early_stopping_patience: int | None = 8  # epochs without improvement; None: never stop early
    precision: str = "32"  # "mixed": float16 compute on GPUs, bfloat16 elsewhere; "auto": mixed on GPU/TPU
    devices: int = 1  # data parallelism over this many devices (GPUs, else CPUs); -1: all of them
    fast_dev_run: bool = False  # one training and one validation batch, one epoch, nothing kept
    limit_train_batches: int | None = None
    limit_val_batches: int | None = None
    # Training batches the batch norms' moving statistics are recomputed from before each validation
    # (callbacks.BatchNormUpdate); 0: keep Keras's moving averages.
    bn_update_batches: int = 32
    # Resume state saved inside an epoch too (besides every epoch's end), every N training steps
    # and/or every N minutes, so a killed run loses at most that much; None: at epoch ends only.
    checkpoint_every_n_steps: int | None = None
    checkpoint_every_n_minutes: float | None = None
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; valid values are {list(PRECISIONS)}")
        if self.devices == 0 or self.devices < -1:
            raise ValueError(f"devices must be a positive count or -1 (all), got {self.devices}")
        if self.monitor_mode not in ("max", "min"):
            raise ValueError(f"unknown monitor_mode {self.monitor_mode!r}; valid modes are ['max', 'min']")
        if self.bn_update_batches < 0:
            raise ValueError(f"bn_update_batches must be 0 (off) or a positive count, got {self.bn_update_batches}")
        minutes = self.checkpoint_every_n_minutes
        if minutes is not None and not minutes > 0:
            raise ValueError(f"checkpoint_every_n_minutes must be positive or unset, got {minutes}")
        for name in ("limit_train_batches", "limit_val_batches", "checkpoint_every_n_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 or unset, got {value}")


@dataclass(frozen=True)
class FitConfig:
    model: str
    model_config: Any
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    SECTIONS: typing.ClassVar[tuple[str, ...]] = ("model_config", "data", "optim", "trainer")

    def to_dict(self) -> dict:
        return {"model": self.model, **{s: to_plain(dataclasses.asdict(getattr(self, s))) for s in self.SECTIONS}}

    @classmethod
    def from_dict(cls, raw: dict, model_config_class: type) -> FitConfig:
        sections = {
            "model_config": model_config_class,
            "data": DataConfig,
            "optim": OptimConfig,
            "trainer": TrainerConfig,
        }
        built = {name: from_plain(kind, raw.get(name, {})) for name, kind in sections.items()}
        return cls(model=raw["model"], **built)


def valid_keys(config: FitConfig) -> list[str]:
    return sorted({f.name for s in config.SECTIONS for f in fields(getattr(config, s))})


def apply_overrides(config: FitConfig, overrides: dict[str, Any], origin: str = "--set") -> FitConfig:
    """Set fields by plain name; values may be strings (from the command line) or TOML values."""
    changed = {s: {} for s in config.SECTIONS}
    for key, value in overrides.items():
        hits = [s for s in config.SECTIONS if key in {f.name for f in fields(getattr(config, s))}]
        if not hits:
            raise ValueError(f"{origin}: unknown setting {key!r}; valid settings are {valid_keys(config)}")
        for section in hits:
            kind = typing.get_type_hints(type(getattr(config, section)))[key]
            changed[section][key] = _convert(value, kind, key, origin)
    return replace(config, **{s: replace(getattr(config, s), **v) for s, v in changed.items() if v})


def parse_set_arguments(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


# The tables a config file may group its settings in: the sections of FitConfig and of the baselines'
# config, and tuning's search space. Any other name is a misspelling that would be silently flattened.
TOML_TABLES = ("model_config", "data", "optim", "trainer", "run", "search_space")


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML config file as plain-name settings; tables (e.g. [trainer]) only group them, and must be
    among TOML_TABLES."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{path}: config file not found") from err
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from err
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in TOML_TABLES:
                raise ValueError(f"{path}: unknown table [{key}]; valid tables are {list(TOML_TABLES)}")
            flat.update(value)
        else:
            flat[key] = value
    return flat


def _convert(value: Any, kind: Any, key: str, origin: str) -> Any:
    """A value for a field of type `kind`: strings are parsed, other values checked."""
    origin_kind = typing.get_origin(kind)
    if origin_kind in (typing.Union, types.UnionType):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        return _convert(value, options[0], key, origin)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes", "on"):
                return True
            if str(value).lower() in ("false", "0", "no", "off"):
                return False
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind is float:
            return float(value)
        if kind is Path:
            return Path(value)
        if origin_kind is tuple:
            item = typing.get_args(kind)[0]
            items = value if isinstance(value, list | tuple) else [v for v in str(value).split(",") if v.strip()]
            return tuple(_convert(v, item, key, origin) for v in items)
        if kind is str:
            return str(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{origin}: {key}={value!r} is not a valid {getattr(kind, '__name__', kind)}") from err
    return value


def to_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def from_plain(kind: type, raw: dict) -> Any:
    hints = typing.get_type_hints(kind)
    return kind(**{k: _convert(v, hints[k], k, kind.__name__) for k, v in raw.items() if k in hints})
