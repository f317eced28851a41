"""The task: what is trained. A model from its registry spec and config, its loss, optimizer and metrics.

The Trainer decides how (epochs, checkpoints, devices); the task decides what: it builds the
`keras.Model`, and compiles it with sparse categorical cross-entropy, accuracy and the optimizer
and learning-rate schedule of `OptimConfig`. Plain Keras 3: nothing here knows the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genre.train.config import OptimConfig


@dataclass(frozen=True)
class ClassificationTask:
    spec: Any  # genre.models.ModelSpec: name, config_class, build, feature_kind, windows
    model_config: Any
    optim: OptimConfig
    input_shape: tuple[int, ...]
    num_classes: int
    # The head alone, on a frozen base's outputs (`genre.train.encoded_data`): `spec.build_head`.
    head_only: bool = False

    def build_model(self):
        build = self.spec.build_head if self.head_only else self.spec.build
        return build(self.model_config, self.input_shape, self.num_classes)

    def make_optimizer(self, total_steps: int, learning_rate: float | None = None):
        import keras

        o = self.optim
        rate = learning_rate or o.learning_rate
        if o.schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(total_steps, 1), alpha=0.01)
        common = {"learning_rate": rate, "clipnorm": o.clipnorm}
        if o.optimizer == "adam":
            return keras.optimizers.Adam(**common)
        if o.optimizer == "adamw":
            return keras.optimizers.AdamW(weight_decay=o.weight_decay, **common)
        return keras.optimizers.SGD(momentum=0.9, nesterov=True, weight_decay=o.weight_decay or None, **common)

    def compile(self, model, total_steps: int, learning_rate: float | None = None) -> None:
        import keras

        model.compile(
            optimizer=self.make_optimizer(total_steps, learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
