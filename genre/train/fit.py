"""`genre fit` / `genre test` / `genre predict` as library calls: config and run directory in, metrics out.

`train_and_evaluate` builds the data module, task and Trainer from a `FitConfig`, trains (or
resumes) in a run directory, then evaluates the best checkpoint once on the validation and test
splits and writes `metrics.json`. With `evaluate_test=False` (tuning trials) the test split is never
opened, not even to check its shards, and `metrics.json` has no "test" key. On several processes
(`cluster`) they train as one, and each evaluates the whole of every split with its own copy of
the best checkpoint; only process 0 writes the run directory. `evaluate_run` and `predict_paths`
work from a run directory alone.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from genre.data.manifest import MANIFEST_NAME, read_manifest
from genre.evaluate import RunMetrics, data_summary, score_split, score_splits
from genre.run_dir import RunDir
from genre.train.checkpoint import save_model
from genre.train.config import FitConfig, OptimConfig
from genre.train.data_module import DataModule
from genre.train.distributed import SINGLE_PROCESS, ClusterConfig, Processes, connect
from genre.train.encoded_data import encode
from genre.train.inference import predict_file, predict_split, predictions
from genre.train.task import ClassificationTask
from genre.train.trainer import Trainer

if TYPE_CHECKING:
    from genre.data.folds import Fold

FINE_TUNE_PHASE = "finetune"
WHOLE_MODEL = "model.keras"  # a head trained alone, composed with its frozen base


def default_config(model: str) -> FitConfig:
    from genre.models import get_model

    spec = get_model(model)
    optim = OptimConfig() if spec.learning_rate is None else OptimConfig(learning_rate=spec.learning_rate)
    return FitConfig(model=model, model_config=spec.config_class(), optim=optim)


def train_and_evaluate(
    config: FitConfig,
    run: Path,
    *,
    resume: bool = False,
    callbacks=(),
    evaluate_test: bool = True,
    fold: Fold | None = None,
    cluster: ClusterConfig | None = None,
) -> dict:
    """fold: a cross-validation fold whose roles replace the stored splits (kept in the run as `fold.json`;
    a resumed run takes its own). cluster: the processes training together (default: this one alone)."""
    cluster = cluster or ClusterConfig()
    processes = connect(cluster)  # first: JAX must join the other processes before it computes anything
    with _own_run(Path(run), processes, resume) as own:
        return _train_and_evaluate(config, own, resume, callbacks, evaluate_test, fold, cluster, processes)


@contextlib.contextmanager
def _own_run(run: Path, processes: Processes, resume: bool):
    """The run directory this process writes: `run` itself on process 0; on the others a private copy
    in a temporary folder, removed at the end, so they never race process 0 on its files. They resume
    from a copy of process 0's run directory, which must be visible to them (a shared filesystem)."""
    if processes.writes:
        yield run
        return
    with tempfile.TemporaryDirectory(prefix=f"genre-process-{processes.index}-") as scratch:
        own = Path(scratch) / run.name
        if resume:
            if not RunDir(run).config_file.is_file():
                raise ValueError(
                    f"{run}: process {processes.index} cannot see process 0's run directory; resuming on "
                    "several hosts reads it from every host (a shared filesystem)"
                )
            shutil.copytree(run, own)
        yield own


def _train_and_evaluate(config, run, resume, callbacks, evaluate_test, fold, cluster, processes) -> dict:
    from genre.models import get_model, load_model

    run_dir = RunDir(run)
    spec = get_model(config.model)
    if resume:
        config = FitConfig.from_dict(run_dir.config(), spec.config_class)
        fold = run_dir.fold()
    else:
        run_dir.require_new()
    if not processes.writes:  # one progress bar for the run, process 0's (a resumed run's config included)
        config = replace(config, trainer=replace(config.trainer, progress=False))
    splits = ("train", "validation", "test") if evaluate_test else ("train", "validation")
    data, task = training_setup(config, splits, fold, processes)
    if not resume:
        run_dir.start(config.to_dict(), Path(config.data.data) / MANIFEST_NAME)
        run_dir.write_fold(fold)
    trainer = Trainer(config.trainer, list(callbacks), cluster=cluster)
    model, result = trainer.fit(task, data, run_dir, run_config=config.to_dict(), resume=resume)
    model, result = _fine_tune(trainer, task, data, run_dir, config, model, result, resume)

    chosen = result.best_checkpoint
    if chosen is not None:
        model = load_model(chosen)
    limit = 1 if config.trainer.fast_dev_run else None

    def predict(split):
        probabilities, labels, ids, seconds = predict_split(model, data.clips(split, limit))
        if task.head_only:  # the base's share of scoring these clips, from their encoding
            seconds += data.encode_seconds(split, limit)
        return probabilities, labels, ids, seconds

    scores, seconds_per_clip = score_splits(predict, splits[1:], data.genres)
    if task.head_only and chosen is not None:
        # The run's model is the whole net, base and trained head: what `predict` and `evaluate` load.
        whole = spec.compose(config.model_config, model, data.raw_input_shape, len(data.genres))
        chosen = run_dir.path / WHOLE_MODEL
        save_model(whole, chosen, config.to_dict())
    metrics = RunMetrics(
        model=config.model,
        backend=_backend(),
        features=spec.feature_kind,
        data=data_summary(config.data.data, data.manifest),
        epochs=result.epochs,
        stopped_early=result.stopped_early,
        train_seconds=result.train_seconds,
        checkpoint=str(chosen.relative_to(run_dir.path)) if chosen else None,
        splits=scores,
        inference_seconds_per_clip=seconds_per_clip,
        fast_dev_run=config.trainer.fast_dev_run,
    ).to_dict()
    run_dir.write_metrics(metrics)
    return metrics


def training_setup(config: FitConfig, splits: tuple[str, ...], fold=None, processes: Processes = SINGLE_PROCESS):
    """The data a run of `config` trains on, and its task: the shards through the model's pipeline, or,
    where the model's spec has an encoder for this config, a frozen base's outputs and the head alone
    (`genre.train.encoded_data`). Checks what the model needs (`ModelSpec.preflight`) first."""
    from genre.models import get_model

    spec = get_model(config.model)
    data = DataModule.from_config(
        config.data,
        spec.feature_kind,
        spec.window_mode,
        config.trainer.seed,
        splits=splits,
        fold=fold,
        processes=processes,
    )
    if spec.preflight is not None:
        spec.preflight(config.model_config, data.input_shape)
    encoder = spec.encoder(config.model_config) if spec.encoder is not None else None
    if encoder is not None:
        data = encode(data, encoder, splits)
    task = ClassificationTask(
        spec, config.model_config, config.optim, data.input_shape, len(data.genres), head_only=encoder is not None
    )
    return data, task


def _fine_tune(trainer, task, data, run, config, model, first, resume):
    """The model's second phase, when it has one: from the first phase's best checkpoint, with
    the layers it unfreezes, at its own learning rate; the better phase's best checkpoint wins."""
    spec, c = task.spec, config.model_config
    if spec.fine_tune is None or config.trainer.fast_dev_run or first.best_checkpoint is None:
        return model, first
    if c.fine_tune_epochs <= 0 or getattr(c, "fine_tune_blocks", 1) <= 0 or not getattr(c, "frozen", True):
        return model, first
    model, second = trainer.fit(
        task,
        data,
        run,
        run_config=config.to_dict(),
        resume=resume and run.resumable(FINE_TUNE_PHASE),
        phase=FINE_TUNE_PHASE,
        learning_rate=c.fine_tune_learning_rate,
        start_epoch=first.epochs,
        max_epochs=first.epochs + c.fine_tune_epochs,
        init_from=first.best_checkpoint,
        prepare_model=lambda m: spec.fine_tune(m, c),
    )
    second.train_seconds += first.train_seconds
    if second.best_checkpoint is None or not _better(second.best_score, first.best_score, config.trainer.monitor_mode):
        second.best_checkpoint, second.best_score = first.best_checkpoint, first.best_score
    return model, second


def _better(a: float | None, b: float | None, mode: str) -> bool:
    if a is None:
        return False
    return b is None or (a > b if mode == "max" else a < b)


def evaluate_run(run: Path, split: str = "test") -> dict:
    """The best checkpoint of a finished run, scored on one split (a fold's run: one role of its fold)."""
    from genre.models import get_model, load_model

    run_dir = RunDir(run)
    raw = run_dir.config()
    spec = get_model(raw["model"])
    config = FitConfig.from_dict(raw, spec.config_class)
    data = DataModule.from_config(
        config.data, spec.feature_kind, spec.window_mode, config.trainer.seed, fold=run_dir.fold()
    )
    model = load_model(run_dir.best_checkpoint())
    probabilities, labels, ids, seconds = predict_split(model, data.clips(split))
    return {**score_split(probabilities, labels, data.genres, ids), "inference_seconds_per_clip": seconds / len(labels)}


def predict_paths(run: Path, paths: list[Path], top: int = 3) -> list[dict]:
    """Per file: its top genres and every genre's probability; a file that cannot be read gets an error."""
    from genre.models import get_model, load_model

    run_dir = RunDir(run)
    spec = get_model(run_dir.config()["model"])
    manifest = read_manifest(run_dir.manifest_file)
    model = load_model(run_dir.best_checkpoint())
    return predictions(paths, manifest.genres, lambda path: predict_file(model, path, manifest, spec.feature_kind), top)


def _backend() -> str:
    import keras

    return keras.backend.backend()
