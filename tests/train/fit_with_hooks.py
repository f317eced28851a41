"""`genre fit` (the real command, exit codes included) with test hooks, for the resume and preemption tests:

    python -m tests.train.fit_with_hooks [--pause-at EPOCH:BATCH --marker FILE [--release FILE]]
                                         [--count FILE] -- GENRE-ARGS...

--pause-at: after training batch BATCH (0-based) of epoch EPOCH (0-based, as Keras counts them), write
FILE and wait there (the test kills or signals the process at a known step), until --release exists.
--count: write the number of training steps this process ran. The hook runs before the Trainer's own
callbacks, so a state the Trainer saves at the paused batch is written only after the release.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras


class _Hooks(keras.callbacks.Callback):
    def __init__(self, pause_at, marker, release, count):
        super().__init__()
        self.pause_at, self.marker, self.release, self.count = pause_at, marker, release, count
        self.steps = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.count:
            self.count.write_text(str(self.steps))
        if self.pause_at == (self._epoch, batch):
            self.marker.write_text("paused")
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and not (self.release and self.release.exists()):
                time.sleep(0.01)  # short sleeps: a signal's Python handler runs between them


def command(*hooks: str, genre_args: list[str]) -> list[str]:
    """The command line that runs `genre GENRE-ARGS...` with `hooks` (the options above)."""
    return [sys.executable, "-m", "tests.train.fit_with_hooks", *hooks, "--", *genre_args]


def main() -> int:
    if "--" not in sys.argv:
        raise SystemExit("usage: python -m tests.train.fit_with_hooks [OPTIONS] -- GENRE-ARGS...")
    split = sys.argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--pause-at")
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--release", type=Path)
    parser.add_argument("--count", type=Path)
    args = parser.parse_args(sys.argv[1:split])
    pause_at = tuple(int(v) for v in args.pause_at.split(":")) if args.pause_at else None
    hooks = _Hooks(pause_at, args.marker, args.release, args.count)

    import genre.train.fit as fit
    from genre.cli import main as genre_main

    class HookedTrainer(fit.Trainer):
        def __init__(self, config=None, callbacks=None, **options):
            super().__init__(config, [hooks, *(callbacks or [])], **options)

    fit.Trainer = HookedTrainer  # train_and_evaluate builds its Trainer from this module's name
    return genre_main(sys.argv[split + 1 :])


if __name__ == "__main__":
    sys.exit(main())
