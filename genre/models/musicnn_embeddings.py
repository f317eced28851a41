"""What the pretrained musicnn says of a clip: fixed-size clip embeddings for the classic baselines.

`clip_embeddings` pools a tagger output over a clip's patches (mean, then std); `musicnn_embeddings`
does it for a split of a prepared data set, from `tagger_outputs`: every output of the tagger over
every patch of the split, computed in one pass and cached in the data folder under the weights'
SHA-256, for the baselines and for nets that train a head on the frozen tagger.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genre.models.musicnn import N_MELS, TAGGER_OUTPUTS, check_variant, predict_patches, pretrained_tagger

if TYPE_CHECKING:
    import keras

    from genre.data.folds import Fold


def clip_embeddings(
    patches: np.ndarray,
    layer: str = "max_pool",
    *,
    variant: str = "MSD_musicnn",
    cache_dir: str | Path | None = None,
    model: keras.Model | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """`(clips, patches, frames, 96)` -> `(clips, 2 * dim)`: the mean, then the std, over each clip's
    patches of the tagger output `layer` (a pretrained tagger of `variant` unless `model` is given)."""
    arch = check_variant(variant)
    if layer not in TAGGER_OUTPUTS[arch]:
        raise ValueError(f"unknown {variant} layer {layer!r}; valid layers are {list(TAGGER_OUTPUTS[arch])}")
    patches = np.asarray(patches, dtype=np.float32)
    if patches.ndim != 4 or patches.shape[-1] != N_MELS:
        raise ValueError(f"expected patches (clips, patches, frames, {N_MELS}), got shape {patches.shape}")
    model = model or pretrained_tagger(variant, cache_dir, frames=patches.shape[2])
    clips, per_clip = patches.shape[:2]
    out = predict_patches(model, patches.reshape(clips * per_clip, *patches.shape[2:]), batch_size)
    return _pooled(out[TAGGER_OUTPUTS[arch].index(layer)].reshape(clips, per_clip, -1))


def _pooled(values: np.ndarray) -> np.ndarray:
    """`(clips, patches, dim)` -> `(clips, 2 * dim)`: the mean, then the std, over each clip's patches."""
    return np.concatenate([values.mean(axis=1), values.std(axis=1)], axis=1).astype(np.float32)


def musicnn_embeddings(
    data_dir: str | Path,
    split: str,
    layer: str = "max_pool",
    *,
    fold: Fold | None = None,
    variant: str = "MSD_musicnn",
    cache_dir: str | Path | None = None,
    cache: bool = True,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """A split's clip embeddings (`clip_embeddings`: mean, then std, over each clip's patches of `layer`)
    and labels, from the split's (or fold role's) tagger outputs (`tagger_outputs`, cached)."""
    arch = check_variant(variant)
    if layer not in TAGGER_OUTPUTS[arch]:
        raise ValueError(f"unknown {variant} layer {layer!r}; valid layers are {list(TAGGER_OUTPUTS[arch])}")
    outputs = tagger_outputs(
        data_dir, split, fold=fold, variant=variant, cache_dir=cache_dir, cache=cache, batch_size=batch_size
    )
    return _pooled(outputs.layers[layer]), outputs.labels


@dataclass(frozen=True)
class TaggerOutputs:
    """What a pretrained tagger says of every patch of a split, in the split's stored clip order.

    layers: each tagger output (`TAGGER_OUTPUTS`) by name, `(clips, patches, dim)` float32.
    seconds: what computing them took, the tagger's share of scoring these clips.
    """

    layers: dict[str, np.ndarray]
    labels: np.ndarray
    track_ids: np.ndarray
    seconds: float


def tagger_outputs(
    data_dir: str | Path,
    split: str,
    *,
    fold: Fold | None = None,
    variant: str = "MSD_musicnn",
    cache_dir: str | Path | None = None,
    cache: bool = True,
    batch_size: int = 64,
) -> TaggerOutputs:
    """`_split_outputs` of a split, or of a role of a cross-validation `fold`: its clips taken from every
    split folder's outputs (each cached on its own), split after split in stored order, as the fold's
    pipelines read them."""
    options = {"variant": variant, "cache_dir": cache_dir, "cache": cache, "batch_size": batch_size}
    if fold is None:
        return _split_outputs(data_dir, split, **options)
    from genre.data.catalog import SPLITS
    from genre.data.manifest import read_manifest
    from genre.data.pipeline import fold_track_ids

    manifest = read_manifest(data_dir)
    wanted = fold_track_ids(manifest, fold, split)
    parts = [_split_outputs(data_dir, s, **options) for s in SPLITS if s in manifest.shards]
    keep = np.isin(np.concatenate([p.track_ids for p in parts]), wanted)
    return TaggerOutputs(
        {name: np.concatenate([p.layers[name] for p in parts])[keep] for name in parts[0].layers},
        np.concatenate([p.labels for p in parts])[keep],
        np.concatenate([p.track_ids for p in parts])[keep],
        sum(p.seconds * np.isin(p.track_ids, wanted).mean() for p in parts if len(p.track_ids)),
    )


def _split_outputs(
    data_dir: str | Path,
    split: str,
    *,
    variant: str,
    cache_dir: str | Path | None,
    cache: bool,
    batch_size: int,
) -> TaggerOutputs:
    """Every output of the pretrained tagger over every patch of a split of a data set prepared with the
    `musicnn` kind, in one pass. With `cache`, kept in `DATA/embeddings/` under a name holding the weights'
    SHA-256 and the data set's identity, so other weights or data never reuse them; the baselines' clip
    embeddings and a net training its head on the frozen tagger (`genre.train.encoded_data`) share them."""
    import time

    from genre.data.manifest import read_manifest
    from genre.data.pipeline import make_dataset
    from genre.weights.musicnn import musicnn_weights_sha256

    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    manifest.require_kind("musicnn")
    names = TAGGER_OUTPUTS[check_variant(variant)]
    key = f"{variant}-outputs-{musicnn_weights_sha256(variant, cache_dir)[:16]}-{manifest.identity[:16]}-{split}"
    path = data_dir / "embeddings" / f"{key}.npz"
    if cache and path.is_file():
        with np.load(path) as stored:
            layers = {name: stored[name] for name in names}
            return TaggerOutputs(layers, stored["labels"], stored["track_ids"], float(stored["seconds"]))
    # Streamed a few clips at a time: a split's patches would not fit in memory (720 KB a clip).
    dataset = make_dataset(
        data_dir, split, "musicnn", batch_size=16, training=False, window_mode="clip", with_track_id=True, cache=False
    )
    model = pretrained_tagger(variant, cache_dir, frames=manifest.shape("musicnn")[1])
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    labels, ids, seconds = [], [], 0.0
    for patches, y, t in dataset.as_numpy_iterator():
        clips, per_clip = patches.shape[:2]
        started = time.perf_counter()
        out = predict_patches(model, patches.reshape(clips * per_clip, *patches.shape[2:]), batch_size)
        seconds += time.perf_counter() - started
        for name, values in zip(names, out, strict=True):
            parts[name].append(values.reshape(clips, per_clip, -1).astype(np.float32))
        labels.append(y)
        ids.append(t)
    if not labels:  # an empty split: arrays of no clips, of the right widths
        patches = manifest.shape("musicnn")[0]
        widths = [o.shape[-1] for o in model.outputs]
        parts = {n: [np.zeros((0, patches, w), np.float32)] for n, w in zip(names, widths, strict=True)}
        labels, ids = [np.zeros(0, np.int32)], [np.zeros(0, np.int64)]
    outputs = TaggerOutputs(
        {name: np.concatenate(v) for name, v in parts.items()}, np.concatenate(labels), np.concatenate(ids), seconds
    )
    if cache:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")  # several processes may write it at once
        np.savez(tmp, labels=outputs.labels, track_ids=outputs.track_ids, seconds=seconds, **outputs.layers)
        tmp.replace(path)
    return outputs
