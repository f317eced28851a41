"""What the pretrained musicnn says of a clip: fixed-size clip embeddings for the classic baselines.

`clip_embeddings` pools a tagger output over a clip's patches (mean, then std); `musicnn_embeddings`
does it for a split of a prepared data set, cached in the data folder under the weights' SHA-256.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from genre.models.musicnn import N_MELS, TAGGER_OUTPUTS, check_variant, predict_patches, pretrained_tagger

if TYPE_CHECKING:
    import keras


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
    values = out[TAGGER_OUTPUTS[arch].index(layer)].reshape(clips, per_clip, -1)
    return np.concatenate([values.mean(axis=1), values.std(axis=1)], axis=1).astype(np.float32)


def musicnn_embeddings(
    data_dir: str | Path,
    split: str,
    layer: str = "max_pool",
    *,
    variant: str = "MSD_musicnn",
    cache_dir: str | Path | None = None,
    cache: bool = True,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """A split's clip embeddings (`clip_embeddings`) and labels, from a data set prepared with the `musicnn`
    kind. With `cache`, kept in `DATA/embeddings/` under a name holding the weights' SHA-256, the layer and
    the data set's identity, so other weights or data never reuse them."""
    from genre.data.manifest import read_manifest
    from genre.data.pipeline import make_dataset
    from genre.weights.musicnn import musicnn_weights_sha256

    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    manifest.require_kind("musicnn")
    key = f"{variant}-{layer}-{musicnn_weights_sha256(variant, cache_dir)[:16]}-{manifest.identity[:16]}-{split}"
    path = data_dir / "embeddings" / f"{key}.npz"
    if cache and path.is_file():
        with np.load(path) as stored:
            return stored["x"], stored["y"]
    # Streamed a few clips at a time: a split's patches would not fit in memory (720 KB a clip).
    dataset = make_dataset(data_dir, split, "musicnn", batch_size=16, training=False, window_mode="clip", cache=False)
    model = pretrained_tagger(variant, cache_dir, frames=manifest.shape("musicnn")[1])
    xs, ys = [], []
    for patches, labels in dataset.as_numpy_iterator():
        xs.append(clip_embeddings(patches, layer, variant=variant, model=model, batch_size=batch_size))
        ys.append(labels)
    x = np.concatenate(xs) if xs else np.zeros((0, 0), np.float32)
    labels = np.concatenate(ys) if ys else np.zeros(0, np.int32)
    if cache:
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, x=x, y=labels)
        tmp.replace(path)
    return x, labels
