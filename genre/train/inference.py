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


def predict_file(model, path: str | Path, manifest, kind: str) -> np.ndarray:
    """Class probabilities of one audio file of any length, as the model saw its training clips.

    The file is cut into consecutive segments of the data set's clip duration (the last one
    zero-padded; at least one), each segment gets the features the model was trained on, and the
    segments' (and their windows') probabilities are averaged.
    """
    from genre.data.audio import Clip, load_audio
    from genre.data.features import compute_features, feature_config_from_manifest, to_model_input

    features = feature_config_from_manifest(manifest).with_kinds((kind,))
    audio = features.audio
    valid = load_audio(path, audio, max_seconds=24 * 3600.0)  # a whole file, up to a day
    segments = max(1, -(-len(valid) // audio.samples))
    scores = []
    for i in range(segments):
        piece = valid[i * audio.samples : (i + 1) * audio.samples]
        if i > 0 and len(piece) < audio.min_duration * audio.sample_rate:
            break  # a tail under a second says little; the earlier segments speak for the file
        signal = np.zeros(audio.samples, np.float32)
        signal[: len(piece)] = piece
        stored = compute_features(Clip(signal, len(piece) / audio.sample_rate, len(piece)), features)[kind]
        x = to_model_input(kind, stored)[None]
        probabilities = predict_windows(model, x)
        scores.append(probabilities.reshape(-1, probabilities.shape[-1]))
    return np.concatenate(scores).mean(axis=0)
