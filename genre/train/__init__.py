"""Training: the Trainer (how), the task (what), the data module (which data), and run directories.

`genre.train.fit.train_and_evaluate` is the library form of `genre fit`. Importing this package
imports nothing heavy; Keras is imported by the modules that need it.
"""


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the message names where and the last good checkpoint."""


class Preempted(RuntimeError):
    """SIGTERM stopped training at a step boundary, after its resume state was saved; `--resume` continues."""
