"""Training a head alone on what a frozen base says of the data, computed once.

A net whose base is frozen under a new head (a pretrained musicnn, no fine-tuning phase) spends
nearly all of every epoch running the base over the same patches to the same outputs. Where its
spec has an encoder for the config (`ModelSpec.encoder`), `fit` trains the head alone on the base's
outputs, computed once per split (for musicnn, cached in the data folder and shared with the
baselines on its embeddings), then composes base and head into the run's model, so `predict` and
`evaluate` see the whole net. The same Trainer runs it: checkpoints, exact resumption and the rest.

`EncodedData` is the data module for it: the interface of `DataModule`, over the encoded arrays.
Training epochs follow the shards' rules (`genre.data.pipeline.epoch_legs`): the order of an epoch is
the shuffle seeded by (seed, epoch) of the examples in stored order, so a resumed run sees the
batches an uninterrupted one saw. An example is one window (patch) of a clip, as in "flat" mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genre.train.data_module import DataModule


@dataclass(frozen=True)
class EncodedSplit:
    x: np.ndarray  # (clips, windows, dim) float32
    labels: np.ndarray  # (clips,)
    track_ids: np.ndarray  # (clips,)
    seconds: float  # what the base took to encode these clips

    def flat(self):
        """The examples one window each, in stored order, as a `tf.data.Dataset` of (x, label, track id)."""
        import tensorflow as tf

        windows = self.x.shape[1]
        return tf.data.Dataset.from_tensor_slices(
            (
                self.x.reshape(-1, self.x.shape[-1]),
                np.repeat(self.labels, windows).astype(np.int32),
                np.repeat(self.track_ids, windows),
            )
        )


@dataclass(frozen=True)
class EncodedData:
    """`data`'s splits as `encoder` says them (`encode`)."""

    data: DataModule
    splits: dict[str, EncodedSplit] = field(repr=False)

    @property
    def config(self):
        return self.data.config

    @property
    def processes(self):
        return self.data.processes

    @property
    def manifest(self):
        return self.data.manifest

    @property
    def genres(self) -> list[str]:
        return self.data.genres

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(next(iter(self.splits.values())).x.shape[2:])

    @property
    def raw_input_shape(self) -> tuple[int, ...]:
        """What the whole net reads: the base's input."""
        return self.data.input_shape

    def steps_per_epoch(self, limit_batches: int | None = None, exact_batches: bool = False) -> int:
        return self.data.steps_per_epoch(limit_batches, exact_batches)

    def train_epochs(self, first_epoch: int, epochs: int, limit_batches=None, exact_batches=False, first_step=0):
        from genre.data.pipeline import epoch_legs

        train = self.splits["train"]
        c, p = self.data.config, self.data.processes
        return epoch_legs(
            train.flat(),
            int(np.prod(train.x.shape[:2])),
            _drop_track_id,
            first_epoch=first_epoch,
            first_step=first_step,
            epochs=epochs,
            batch_size=c.batch_size,
            seed=self.data.seed,
            limit_batches=limit_batches,
            drop_remainder=exact_batches or p.count > 1,
            shuffle_buffer=c.shuffle_buffer,
            process_index=p.index,
            process_count=p.count,
        )

    def validation(self, limit_batches: int | None = None, exact_batches: bool = False):
        ds = self._batches("validation", exact_batches)
        return ds.take(limit_batches) if limit_batches is not None else ds

    def train_sample(self, batches: int, exact_batches: bool = False):
        """The first `batches` training batches in stored order, unshuffled."""
        return self._batches("train", exact_batches).take(batches)

    def _batches(self, split: str, exact_batches: bool):
        return self.splits[split].flat().map(_drop_track_id).batch(self.config.batch_size, exact_batches)

    def clips(self, split: str, limit_batches: int | None = None):
        """(x, label, track id) batches with a clip's windows together, for clip-level scoring."""
        import tensorflow as tf

        s = self.splits[split]
        ds = tf.data.Dataset.from_tensor_slices((s.x, s.labels.astype(np.int32), s.track_ids))
        ds = ds.batch(self.config.batch_size)
        return ds.take(limit_batches) if limit_batches is not None else ds

    def encode_seconds(self, split: str, limit_batches: int | None = None) -> float:
        """The base's share of scoring `clips(split, limit_batches)`."""
        s = self.splits[split]
        clips = len(s.labels) if limit_batches is None else min(len(s.labels), limit_batches * self.config.batch_size)
        return s.seconds * clips / max(len(s.labels), 1)


def encode(data: DataModule, encoder: Any, splits: tuple[str, ...]) -> EncodedData:
    """`splits` of `data` through `encoder` (an object with `outputs(data_dir, split, fold)`, e.g.
    `genre.models.musicnn.TaggerEncoder`)."""
    encoded = {}
    for split in splits:
        x, labels, ids, seconds = encoder.outputs(data.config.data, split, fold=data.fold)
        encoded[split] = EncodedSplit(np.asarray(x, np.float32), np.asarray(labels), np.asarray(ids), seconds)
    return EncodedData(data, encoded)


def _drop_track_id(x, y, t):
    return x, y
