"""How fast musicnn's genre head learns on its frozen base, per learning rate.

With the base frozen (musicnn's default) only the head trains, and the base's outputs for a patch
never change: this runs the base once over a prepared set's train and validation patches, then
trains the head (dropout and a softmax layer, as `genre.models.musicnn.build` makes it) on those
outputs at each learning rate, and prints the validation accuracy (patches, not clips) after each
epoch. Same optimizer (Adam), batch size and head as `genre fit --model musicnn`; seconds a rate.

    python scripts/musicnn_head_rate.py --data genre-demo/data --rates 1e-3 3e-3 1e-2 --epochs 8
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def base_outputs(data: Path, split: str, features) -> tuple[np.ndarray, np.ndarray]:
    from genre.data.pipeline import make_dataset

    xs, ys = [], []
    for x, y in make_dataset(data, split, "musicnn", batch_size=64, training=False).as_numpy_iterator():
        xs.append(np.asarray(features.predict_on_batch(x)))
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def head_curve(train, validation, rate: float, epochs: int, dropout: float, batch_size: int, seed: int) -> list[float]:
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((train[0].shape[1],))
    x = keras.layers.Dropout(dropout, seed=seed)(inputs)
    outputs = keras.layers.Dense(int(train[1].max()) + 1, activation="softmax")(x)
    head = keras.Model(inputs, outputs)
    head.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = head.fit(*train, batch_size=batch_size, epochs=epochs, validation_data=validation, verbose=0)
    return history.history["val_accuracy"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a data set prepared with musicnn patches")
    parser.add_argument("--rates", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras

    from genre.models import musicnn
    from genre.train.fit import default_config

    config = default_config("musicnn").model_config
    started = time.perf_counter()
    net = musicnn.build(config, (musicnn.PATCH_FRAMES, musicnn.N_MELS), 8)
    features = keras.Model(net.input, net.get_layer("head_dropout").input)
    train = base_outputs(args.data, "train", features)
    validation = base_outputs(args.data, "validation", features)
    print(
        f"base outputs ({config.head_layer}): {len(train[0])} train, {len(validation[0])} validation patches "
        f"in {time.perf_counter() - started:.1f} s; {keras.backend.backend()}"
    )
    print("rate      " + " ".join(f"ep{e:<3d}" for e in range(1, args.epochs + 1)))
    for rate in args.rates:
        curve = head_curve(train, validation, rate, args.epochs, config.dropout, args.batch_size, args.seed)
        print(f"{rate:<9g} " + " ".join(f"{a:5.3f}" for a in curve))
    return 0


if __name__ == "__main__":
    sys.exit(main())
