"""The data module: a prepared data set's splits as the pipelines a model needs.

It knows which feature kind and window mode the model eats, and hands the Trainer training
epochs (`genre.data.pipeline.make_epoch_legs`), validation batches and clip-grouped evaluation batches. With a
cross-validation `Fold`, "train", "validation" and "test" are the fold's roles, read from every
split folder (`genre.data.pipeline`). On several processes (`processes`), each one's training epochs
hold its block of every global batch; validation and evaluation batches are whole on every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genre.data import Manifest, make_dataset, model_input_shape, read_manifest
from genre.data.features import get_kind
from genre.data.pipeline import clip_count, make_epoch_legs, shard_entries, verify_shards
from genre.train.config import DataConfig
from genre.train.distributed import SINGLE_PROCESS, Processes

if TYPE_CHECKING:
    from genre.data.folds import Fold


@dataclass(frozen=True)
class DataModule:
    config: DataConfig
    kind: str
    window_mode: str
    seed: int
    manifest: Manifest
    fold: Fold | None = None
    processes: Processes = SINGLE_PROCESS

    @classmethod
    def from_config(
        cls,
        config: DataConfig,
        kind: str,
        window_mode: str,
        seed: int,
        splits: tuple[str, ...] | None = None,
        fold: Fold | None = None,
        processes: Processes = SINGLE_PROCESS,
    ) -> DataModule:
        """splits: those the run will read (default: all); only their shards are checked, so a tuning
        trial never opens the test split. A fold's roles read every split folder, so all are checked."""
        manifest = read_manifest(config.data)
        manifest.require_kind(kind)
        # Checked once here, not by every pipeline built below (a run builds several).
        for split in manifest.shards if splits is None or fold is not None else splits:
            verify_shards(config.data, shard_entries(manifest, split, kind))
        if config.batch_size % processes.count:
            raise ValueError(f"batch_size {config.batch_size} must be divisible by the {processes.count} processes")
        return cls(
            config=config,
            kind=kind,
            window_mode=window_mode,
            seed=seed,
            manifest=manifest,
            fold=fold,
            processes=processes,
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return model_input_shape(self.manifest, self.kind, self.window_mode)

    @property
    def genres(self) -> list[str]:
        return self.manifest.genres

    def steps_per_epoch(self, limit_batches: int | None = None, exact_batches: bool = False) -> int:
        windows = self.manifest.shape(self.kind)[0] if self._flat_windows else 1
        examples = clip_count(self.manifest, "train", self.fold) * windows
        steps = examples // self.config.batch_size if exact_batches else -(-examples // self.config.batch_size)
        return min(steps, limit_batches) if limit_batches is not None else steps

    @property
    def _flat_windows(self) -> bool:
        return get_kind(self.kind).windowed and self.window_mode == "flat"

    def train_epochs(
        self,
        first_epoch: int,
        epochs: int,
        limit_batches: int | None = None,
        exact_batches=False,
        first_step: int = 0,
    ):
        """The training legs from batch `first_step` of `first_epoch` on (`genre.data.pipeline.make_epoch_legs`)
        and the steps per epoch. exact_batches: drop a last partial batch (data parallelism splits whole
        batches, and so do several processes)."""
        return make_epoch_legs(
            self.config.data,
            "train",
            self.kind,
            first_epoch=first_epoch,
            first_step=first_step,
            epochs=epochs,
            drop_remainder=exact_batches or self.processes.count > 1,
            batch_size=self.config.batch_size,
            seed=self.seed,
            window_mode=self.window_mode,
            limit_batches=limit_batches,
            cache=self.config.cache,
            shuffle_buffer=self.config.shuffle_buffer,
            manifest=self.manifest,
            verify=False,
            fold=self.fold,
            process_index=self.processes.index,
            process_count=self.processes.count,
        )

    def validation(self, limit_batches: int | None = None, exact_batches: bool = False):
        ds = make_dataset(
            self.config.data,
            "validation",
            self.kind,
            batch_size=self.config.batch_size,
            drop_remainder=exact_batches,
            training=False,
            window_mode=self.window_mode,
            cache=self.config.cache,
            manifest=self.manifest,
            verify=False,
            fold=self.fold,
        )
        return ds.take(limit_batches) if limit_batches is not None else ds

    def train_sample(self, batches: int, exact_batches: bool = False):
        """The first `batches` training batches in stored order (seeded per split, so every genre is
        in them), unshuffled and uncached: the same batches at every call."""
        ds = make_dataset(
            self.config.data,
            "train",
            self.kind,
            batch_size=self.config.batch_size,
            drop_remainder=exact_batches,
            training=False,
            window_mode=self.window_mode,
            cache=False,
            manifest=self.manifest,
            verify=False,
            fold=self.fold,
        )
        return ds.take(batches)

    def clips(self, split: str, limit_batches: int | None = None):
        """(x, label, track_id) batches with a clip's windows together, for clip-level scoring."""
        ds = make_dataset(
            self.config.data,
            split,
            self.kind,
            batch_size=self.config.batch_size,
            training=False,
            window_mode="clip",
            with_track_id=True,
            cache=False,
            manifest=self.manifest,
            verify=False,
            fold=self.fold,
        )
        return ds.take(limit_batches) if limit_batches is not None else ds
