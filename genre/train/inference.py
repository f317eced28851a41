"""Running a trained model over clips: a split of prepared data, or audio files of any length.

A clip's score is the mean of its windows' (raw nets), patches' (musicnn) or its segments' (Mel nets) class
probabilities; `genre.evaluate` turns scores into metrics.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def predict_split(model, clips_dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Probabilities (clips[, windows], classes), labels, track ids, and seconds spent in the model."""
    probabilities, labels, ids, seconds = [], [], [], 0.0
    for x, y, t in clips_dataset.as_numpy_iterator():
        started = time.perf_counter()
        probabilities.append(predict_windows(model, x))
        seconds += time.perf_counter() - started
        labels.append(y)
        ids.append(t)
    if not probabilities:
        raise ValueError("the split holds no clips to score")
    return np.concatenate(probabilities), np.concatenate(labels), np.concatenate(ids), seconds


def predict_windows(model, x: np.ndarray) -> np.ndarray:
    """x of shape (clips, windows, *window_shape) or (clips, *input_shape) -> probabilities."""
    input_rank = len(model.inputs[0].shape) - 1
    if x.ndim - 1 == input_rank:
        return np.asarray(model.predict_on_batch(x))
    clips, windows = x.shape[:2]
    flat = np.asarray(model.predict_on_batch(x.reshape(clips * windows, *x.shape[2:])))
    return flat.reshape(clips, windows, -1)


def file_segments(path: str | Path, manifest, kind: str) -> np.ndarray:
    """The stored features of one audio file of any length, as `prepare` would compute them:
    (segments, *stored shape), one per consecutive segment of the data set's clip duration (the last
    zero-padded; at least one)."""
    from genre.data.audio import Clip, load_audio
    from genre.data.features import compute_features, feature_config_from_manifest

    features = feature_config_from_manifest(manifest).with_kinds((kind,))
    audio = features.audio
    valid = load_audio(path, audio, max_seconds=24 * 3600.0)  # a whole file, up to a day
    segments = max(1, -(-len(valid) // audio.samples))
    stored = []
    for i in range(segments):
        piece = valid[i * audio.samples : (i + 1) * audio.samples]
        if i > 0 and len(piece) < audio.min_duration * audio.sample_rate:
            break  # a tail under a second says little; the earlier segments speak for the file
        signal = np.zeros(audio.samples, np.float32)
        signal[: len(piece)] = piece
        stored.append(compute_features(Clip(signal, len(piece) / audio.sample_rate, len(piece)), features)[kind])
    return np.stack(stored)


def predict_file(model, path: str | Path, manifest, kind: str) -> np.ndarray:
    """Class probabilities of one audio file of any length, as the model saw its training clips: the
    mean over the file's segments (`file_segments`) and their windows."""
    from genre.data.features import to_model_input

    segments = file_segments(path, manifest, kind)
    # A few segments at a time: a long file's windows would not fit one batch.
    scores = [predict_windows(model, to_model_input(kind, segments[i : i + 16])) for i in range(0, len(segments), 16)]
    return np.concatenate([p.reshape(-1, p.shape[-1]) for p in scores]).mean(axis=0)


def predictions(paths, genres: list[str], probabilities_of, top: int = 3) -> list[dict]:
    """Per file: its `top` genres and every genre's probability (`probabilities_of(path)`), or the
    error that kept it from being read; one bad file never stops the others."""
    from genre.data.audio import ClipError

    out = []
    for path in paths:
        try:
            p = probabilities_of(path)
        except ClipError as err:
            out.append({"path": str(path), "error": str(err)})
            continue
        order = p.argsort()[::-1]
        out.append(
            {
                "path": str(path),
                "top": [genres[i] for i in order[:top]],
                "probabilities": {g: round(float(p[i]), 6) for i, g in enumerate(genres)},
            }
        )
    return out
