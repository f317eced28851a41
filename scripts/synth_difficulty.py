"""Calibrate how hard the synthetic genres are, and how fast they render.

Renders artists x tracks clips per genre with ``genre.synth.music.render_track``, computes simple librosa
features per clip and runs artist-grouped 5-fold cross-validation (GroupKFold, artist as
group) for GaussianNB, kNN, logistic regression and an RBF SVM. Targets: GaussianNB/kNN about
30-55%, logistic regression/SVM about 45-70%, nothing above about 80%, no genre recall near
0% or 100%. Also times ``render_track`` at 30 s, 44.1 kHz, stereo on one core.

    python scripts/synth_difficulty.py --artists-per-genre 10 --tracks-per-artist 4 --seconds 10
"""

from __future__ import annotations

import argparse
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from genre.synth.music import render_track
from genre.synth.profiles import GENRES
from genre.synth.style import draw_artist_style

SAMPLE_RATE = 22050


def features(y: np.ndarray, sr: int) -> np.ndarray:
    """63 clip-level features: MFCC mean/std, chroma, centroid, contrast, zcr, rms, tempo."""
    import librosa

    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    return np.concatenate(
        [
            mfcc.mean(axis=1),
            mfcc.std(axis=1),
            librosa.feature.chroma_stft(y=y, sr=sr, tuning=0.0).mean(axis=1),
            [librosa.feature.spectral_centroid(y=y, sr=sr).mean()],
            librosa.feature.spectral_contrast(y=y, sr=sr).mean(axis=1),
            [librosa.feature.zero_crossing_rate(y).mean(), librosa.feature.rms(y=y).mean()],
            librosa.feature.tempo(onset_envelope=onset, sr=sr)[:1],
        ]
    )


def artist_features(task: tuple[int, int, int, int, float]) -> np.ndarray:
    """Draw one artist's style and render + featurize its tracks (one pool task)."""
    seed, g, a, tracks, seconds = task
    style = draw_artist_style(GENRES[g], np.random.default_rng([seed, g, a]))
    rows = []
    for t in range(tracks):
        y = render_track(
            style, np.random.default_rng([seed, g, a, t]), seconds=seconds, sample_rate=SAMPLE_RATE, channels=1
        )
        rows.append(features(y[:, 0], SAMPLE_RATE))
    return np.stack(rows)


def time_render(seed: int, repeats: int = 16) -> list[float]:
    """Seconds per 30 s, 44.1 kHz, stereo clip on this (single) process, after one warm-up."""
    render_track(draw_artist_style("Pop", np.random.default_rng(seed)), np.random.default_rng(seed))
    times = []
    for i in range(repeats):
        rng = np.random.default_rng([seed, 99, i])
        style = draw_artist_style(GENRES[i % len(GENRES)], rng)
        start = time.perf_counter()
        render_track(style, rng, seconds=30.0, sample_rate=44100, channels=2)
        times.append(time.perf_counter() - start)
    return times


def evaluate(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import recall_score
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    models = {
        "GaussianNB": make_pipeline(StandardScaler(), GaussianNB()),
        "kNN (k=5)": make_pipeline(StandardScaler(), KNeighborsClassifier(5)),
        "LogisticRegression": make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=5000)),
        "SVC (RBF)": make_pipeline(StandardScaler(), SVC(C=3.0)),
    }
    cv = GroupKFold(n_splits=5)
    best, best_acc = None, -1.0
    for name, model in models.items():
        pred = cross_val_predict(model, x, y, groups=groups, cv=cv)
        acc = float(np.mean(pred == y))
        print(f"{name:20s} accuracy {acc:6.1%}")
        if acc > best_acc:
            best, best_acc = (name, pred), acc
    name, pred = best
    print(f"per-genre recall of {name}:")
    for g, r in zip(GENRES, recall_score(y, pred, average=None, labels=range(len(GENRES))), strict=True):
        print(f"  {g:14s} {r:6.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artists-per-genre", type=int, default=10)
    parser.add_argument("--tracks-per-artist", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    times = time_render(args.seed)
    print(f"render_track 30 s 44.1 kHz stereo: mean {np.mean(times):.3f} s, max {np.max(times):.3f} s")

    tasks = [
        (args.seed, g, a, args.tracks_per_artist, args.seconds)
        for g in range(len(GENRES))
        for a in range(args.artists_per_genre)
    ]
    start = time.perf_counter()
    with Pool(2) as pool:
        blocks = pool.map(artist_features, tasks)
    x = np.concatenate(blocks)
    y = np.repeat([g for _, g, _, _, _ in tasks], args.tracks_per_artist)
    groups = np.repeat(np.arange(len(tasks)), args.tracks_per_artist)
    print(f"{len(x)} clips rendered and featurized in {time.perf_counter() - start:.1f} s")
    evaluate(x, y, groups)


if __name__ == "__main__":
    main()
