"""`genre tags`: musicnn's 50 tags of audio files, as the original tagger gives them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genre.models.musicnn import predict_patches, pretrained_tagger, tags_of


def tag_files(
    paths: list[str | Path], *, variant: str = "MSD_musicnn", cache_dir: str | Path | None = None, top: int = 3
) -> list[dict]:
    """Per audio file: the mean taggram over its 3 s patches, every tag's probability and the `top` tags,
    as the original tagger computes them; a file that cannot be read gets an error instead."""
    from genre.data.audio import ClipError
    from genre.data.features import MusicnnFeatureConfig, musicnn_file_patches

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ValueError(f"top must be a positive integer, got {top!r}")
    tags = tags_of(variant)
    model = pretrained_tagger(variant, cache_dir)
    out = []
    for path in paths:
        try:
            patches = musicnn_file_patches(path, MusicnnFeatureConfig())
        except ClipError as err:
            out.append({"path": str(path), "error": str(err)})
            continue
        mean = predict_patches(model, patches)[0].mean(axis=0)
        order = np.argsort(mean)[::-1]
        out.append(
            {
                "path": str(path),
                "model": variant,
                "patches": len(patches),
                "top": [tags[i] for i in order[:top]],
                "probabilities": {tags[i]: round(float(mean[i]), 6) for i in order},
            }
        )
    return out
