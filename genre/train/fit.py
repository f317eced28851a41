"""`genre fit` / `genre test` / `genre predict` as library calls: config and run directory in, metrics out.

`train_and_evaluate` builds the data module, task and Trainer from a `FitConfig`, trains (or
resumes) in a run directory, then evaluates the best checkpoint once on the validation and test
splits and writes `metrics.json`. With `evaluate_test=False` (tuning trials) the test split is never
opened, not even to check its shards, and `metrics.json` has no "test" key. `evaluate_run` and
`predict_paths` work from a run directory alone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from genre.data.manifest import MANIFEST_NAME, read_manifest
from genre.evaluate import score_split
from genre.train import run_dir as rd
from genre.train.config import FitConfig
from genre.train.data_module import DataModule
from genre.train.inference import predict_file, predict_split
from genre.train.task import ClassificationTask
from genre.train.trainer import Trainer


def default_config(model: str) -> FitConfig:
    from genre.models import get_model

    return FitConfig(model=model, model_config=get_model(model).config_class())


def train_and_evaluate(
    config: FitConfig, run: Path, *, resume: bool = False, callbacks=(), evaluate_test: bool = True
) -> dict:
    from genre.models import get_model, load_model

    run = Path(run)
    spec = get_model(config.model)
    if resume:
        config = FitConfig.from_dict(rd.read_json(run / rd.CONFIG), spec.config_class)
    elif run.exists() and any(run.iterdir()):
        raise rd.RunError(f"{run} exists and is not empty; pass --resume to continue that run, or a new --run-dir")
    splits = ("train", "validation", "test") if evaluate_test else ("train", "validation")
    data = DataModule.from_config(config.data, spec.feature_kind, spec.windows, config.trainer.seed, splits=splits)
    if spec.preflight is not None:
        spec.preflight(config.model_config, data.input_shape)
    if not resume:
        run.mkdir(parents=True, exist_ok=True)
        rd.write_json(run / rd.CONFIG, config.to_dict())
        shutil.copyfile(Path(config.data.data) / MANIFEST_NAME, run / rd.MANIFEST)
    task = ClassificationTask(spec, config.model_config, config.optim, data.input_shape, len(data.genres))
    trainer = Trainer(config.trainer, list(callbacks))
    model, result = trainer.fit(task, data, run, run_config=config.to_dict(), resume=resume)
    model, result = _fine_tune(trainer, task, data, run, config, model, result, resume)

    if result.best_checkpoint is not None:
        model = load_model(result.best_checkpoint)
    limit = 1 if config.trainer.fast_dev_run else None
    metrics = {
        "model": config.model,
        "backend": _backend(),
        "features": spec.feature_kind,
        "data": {"path": str(config.data.data), "synthetic": data.manifest.synthetic, "source": data.manifest.source},
        "epochs": result.epochs,
        "stopped_early": result.stopped_early,
        "train_seconds": round(result.train_seconds, 3),
        "checkpoint": str(result.best_checkpoint.relative_to(run)) if result.best_checkpoint else None,
        "fast_dev_run": config.trainer.fast_dev_run,
    }
    metrics |= _evaluate(model, data, limit, splits[1:])
    rd.write_json(run / rd.METRICS, metrics)
    return metrics


def _fine_tune(trainer, task, data, run, config, model, first, resume):
    """The model's second phase, when it has one: from the first phase's best checkpoint, with
    the layers it unfreezes, at its own learning rate; the better phase's best checkpoint wins."""
    spec, c = task.spec, config.model_config
    if spec.fine_tune is None or config.trainer.fast_dev_run or first.best_checkpoint is None:
        return model, first
    if c.fine_tune_epochs <= 0 or getattr(c, "fine_tune_blocks", 1) <= 0 or not getattr(c, "frozen", True):
        return model, first
    phase_state = run / rd.CHECKPOINTS / "finetune" / rd.LAST / "state.json"
    model, second = trainer.fit(
        task,
        data,
        run,
        run_config=config.to_dict(),
        resume=resume and phase_state.is_file(),
        phase="finetune",
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
    """The best checkpoint of a finished run, scored on one split."""
    from genre.models import get_model, load_model

    run = Path(run)
    config = rd.read_json(run / rd.CONFIG)
    spec = get_model(config["model"])
    config = FitConfig.from_dict(config, spec.config_class)
    data = DataModule.from_config(config.data, spec.feature_kind, spec.windows, config.trainer.seed)
    model = load_model(best_checkpoint(run))
    probabilities, labels, _, seconds = predict_split(model, data.clips(split))
    return {**score_split(probabilities, labels, data.genres), "inference_seconds_per_clip": seconds / len(labels)}


def predict_paths(run: Path, paths: list[Path], top: int = 3) -> list[dict]:
    """Per file: its top genres and every genre's probability; a file that cannot be read gets an error."""
    from genre.data.audio import ClipError
    from genre.models import get_model, load_model

    run = Path(run)
    config = rd.read_json(run / rd.CONFIG)
    if config.get("kind") == "baseline":
        raise rd.RunError(f"{run}: a baseline run; predict takes a net's run (genre test scores a baseline)")
    spec = get_model(config["model"])
    manifest = read_manifest(run / rd.MANIFEST)
    model = load_model(best_checkpoint(run))
    out = []
    for path in paths:
        try:
            p = predict_file(model, path, manifest, spec.feature_kind)
        except ClipError as err:
            out.append({"path": str(path), "error": str(err)})
            continue
        order = p.argsort()[::-1]
        out.append(
            {
                "path": str(path),
                "top": [manifest.genres[i] for i in order[:top]],
                "probabilities": {g: round(float(p[i]), 6) for i, g in enumerate(manifest.genres)},
            }
        )
    return out


def best_checkpoint(run: Path) -> Path:
    """The checkpoint a finished run chose (metrics.json), else the best of its first phase so far."""
    run = Path(run)
    if (run / rd.METRICS).is_file() and rd.read_json(run / rd.METRICS).get("checkpoint"):
        return run / rd.read_json(run / rd.METRICS)["checkpoint"]
    state = run / rd.CHECKPOINTS / rd.LAST / "state.json"
    if state.is_file():
        kept = rd.read_json(state)["callbacks"]["checkpoint"]["kept"]
        if kept:
            return run / rd.CHECKPOINTS / kept[0]["file"]
        return run / rd.CHECKPOINTS / rd.LAST / "model.keras"
    raise rd.RunError(f"{run}: no checkpoint (the run finished no epoch, or ran with fast_dev_run)")


def _evaluate(model, data: DataModule, limit: int | None, splits=("validation", "test")) -> dict:
    out, total_seconds, total_clips = {}, 0.0, 0
    for split in splits:
        key = "val" if split == "validation" else split
        probabilities, labels, _, seconds = predict_split(model, data.clips(split, limit))
        out[key] = score_split(probabilities, labels, data.genres)
        total_seconds += seconds
        total_clips += len(labels)
    out["inference_seconds_per_clip"] = total_seconds / max(total_clips, 1)
    return out


def _backend() -> str:
    import keras

    return keras.backend.backend()
