"""The `genre` command: parses arguments, builds a config, calls one library function.

Commands of other packages join through the `genre.commands` entry point group (a function given the
sub-command parsers), and the study's tuning step through `genre.study_steps`: that is how `tuning`
adds `genre tune` without `genre` importing it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from genre import __version__
from genre.baselines import BASELINES
from genre.baselines.vectors import SOURCES as VECTOR_SOURCES
from genre.demo import DemoConfig
from genre.models import MODELS
from genre.models.musicnn import VARIANTS as MUSICNN_VARIANTS
from genre.options import add_options, config_from_args
from genre.study import NETS
from genre.synth.dataset import SynthConfig
from genre.train import Preempted, TrainingDiverged

BASELINE_NAMES = tuple(BASELINES)
NET_NAMES = NETS
COMMANDS_GROUP = "genre.commands"
STUDY_STEPS_GROUP = "genre.study_steps"


# Commands that never load TensorFlow, so they need not pay for silencing it.
WITHOUT_TENSORFLOW = ("info", "synth", "report", "prepare-merge")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose and args.command not in WITHOUT_TENSORFLOW:
        silence_tensorflow(first_operation=not _may_join_hosts(args))
    if args.command not in WITHOUT_TENSORFLOW:
        from genre.weights import default_cache_dir

        use_compilation_cache(default_cache_dir() / "jax-compilation")
    try:
        return args.handler(args)
    except (ValueError, OSError) as err:
        # Bad input, or a file that cannot be read or written, is a one-line message naming it, not a traceback.
        print(f"genre {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"genre {args.command}: {err}", file=sys.stderr)
        return 3
    except Preempted as err:
        return _preempted(args, err)
    except KeyboardInterrupt:
        print(f"genre {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def _may_join_hosts(args) -> bool:
    """A run over several processes: TensorFlow's multi-worker strategy must then configure its
    collectives before TensorFlow runs any operation."""
    names = ("TF_CONFIG", "JAX_NUM_PROCESSES")
    return args.command == "fit" and ((args.num_processes or 1) > 1 or any(os.environ.get(n) for n in names))


def silence_tensorflow(first_operation: bool = True) -> None:
    """Keeps TensorFlow's own logging from the user: its C++ start-up lines (oneDNN, absl), which
    TF_CPP_MIN_LOG_LEVEL does not stop, are written while its libraries load, so they load now with
    stderr pointed at /dev/null (an import error still raises, and prints once stderr is back); its
    Python loggers (tf.function retracing warnings among them) then report errors only.
    `first_operation`: run one operation too, for the lines a second library writes then."""
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        if first_operation:
            tf.constant(0.0) + 1.0  # a second library logs on the first operation
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


def use_compilation_cache(directory: Path) -> None:
    """On JAX, keeps what XLA compiles in `directory` for every later process: a net's steps that the
    demo's budget compiled to time them are not compiled again when it trains, nor in the next run
    or tuning trial (on CPU, MobileNetV2's first step went from 27 s to 6 s). Left to JAX when
    JAX_COMPILATION_CACHE_DIR is set (an empty value turns the cache off); JAX's
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS, when set, decides which compilations are worth keeping."""
    import keras

    if "JAX_COMPILATION_CACHE_DIR" in os.environ or keras.config.backend() != "jax":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        # Keras builds a model through many small compiled operations, each under JAX's default of 1 s.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genre",
        description="Music genre classification on the Free Music Archive, benchmarked honestly.",
    )
    parser.add_argument("--version", action="version", version=f"genre {__version__}")
    parser.add_argument("--verbose", action="store_true", help="let TensorFlow's and absl's logging through")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="the whole study on a generated FMA-shaped set: data, every model, the report"
    )
    add_options(demo, DemoConfig)
    demo.set_defaults(handler=_run_demo)

    study = commands.add_parser("study", help="the whole study on real data: prepare, every model, the report")
    source = study.add_mutually_exclusive_group(required=True)
    source.add_argument("--fma", type=Path, help="FMA root holding fma_metadata/ and fma_small/")
    source.add_argument("--folders", type=Path, help="root with one sub-folder of audio files per genre")
    study.add_argument("--out", type=Path, required=True, help="data/, runs/ and report/ go here")
    study.add_argument("--baselines", default=",".join(BASELINE_NAMES), help="(default: %(default)s)")
    study.add_argument(
        "--embedding-baselines", default="svm", help="also fitted on musicnn embeddings (default: %(default)s)"
    )
    study.add_argument("--nets", default=",".join(NET_NAMES), help="(default: %(default)s)")
    study.add_argument("--weights", help="mobilenet: imagenet (default; Keras's cached file), none, or a file")
    study.add_argument("--max-epochs", type=int, help="cap every net's epochs (default: each net's own)")
    study.add_argument(
        "--tune",
        default="svm=30,melcnn=10",
        help="MODEL=TRIALS,... short tuning studies, or none (default: %(default)s)",
    )
    study.add_argument(
        "--folds", type=int, metavar="K", help="cross-validate every model on the same K folds of every clip"
    )
    study.add_argument("--repeats", type=int, default=1, metavar="R", help="with --folds: repeat with new folds")
    _common(study)
    study.set_defaults(handler=_run_study)

    synth = commands.add_parser("synth", help="write an FMA-shaped data set of generated music")
    synth.add_argument("--out", type=Path, required=True)
    add_options(synth, SynthConfig)
    synth.set_defaults(handler=_run_synth)

    prep = commands.add_parser("prepare", help="decode audio, compute features, write TFRecord shards + manifest")
    source = prep.add_mutually_exclusive_group(required=True)
    source.add_argument("--fma", type=Path, help="FMA root holding fma_metadata/ and fma_{subset}/")
    source.add_argument("--folders", type=Path, help="root with one sub-folder of audio files per genre")
    prep.add_argument("--out", type=Path, required=True)
    prep.add_argument("--subset", default="small", choices=("small", "medium", "large"))
    prep.add_argument(
        "--split",
        default="official",
        choices=("official", "random"),
        help="FMA only: the official artist-filtered split, or the study's seeded stratified 64/16/20",
    )
    prep.add_argument("--features", default="raw,mel,handcrafted", help="comma-separated kinds (default: %(default)s)")
    prep.add_argument("--sample-rate", type=int, default=22050)
    prep.add_argument("--duration", type=float, default=30.0, help="seconds kept per clip; shorter clips are padded")
    prep.add_argument("--raw-windows", type=int, default=8)
    prep.add_argument("--raw-window-length", type=int, default=10000)
    prep.add_argument("--shard-size", type=int, default=256, help="clips per shard")
    prep.add_argument(
        "--hosts", type=int, default=1, metavar="N", help="share the shards among N machines (default: %(default)s)"
    )
    prep.add_argument(
        "--host-index", type=int, metavar="I", help="with --hosts: this machine's share, 0..N-1; then prepare-merge"
    )
    _common(prep)
    prep.set_defaults(handler=_run_prepare)

    merge = commands.add_parser(
        "prepare-merge", help="check every host's shards (prepare --hosts) and write the data set's manifest"
    )
    merge.add_argument("data", type=Path, help="the folder holding every host's output")
    merge.set_defaults(handler=_run_prepare_merge)

    fit = commands.add_parser("fit", help="train a model, then evaluate its best checkpoint on the test split")
    fit.add_argument("--model", required=True, help=f"the net to train: {', '.join(MODELS)}")
    fit.add_argument("--data", type=Path, help="a prepared data set (genre prepare)")
    fit.add_argument("--config", type=Path, help="a TOML file of settings (plain names, tables optional)")
    fit.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    fit.add_argument(
        "--weights",
        help="mobilenet: imagenet (Keras's cached file), none, or a weights file; musicnn: pretrained or none",
    )
    fit.add_argument("--run-dir", type=Path, help="where the run goes (default: runs/<model>-<time>)")
    fit.add_argument("--resume", action="store_true", help="continue the run in --run-dir where it stopped")
    fit.add_argument(
        "--requeue",
        action="store_true",
        help="on SIGTERM under SLURM ($SLURM_JOB_ID set): save, then `scontrol requeue` the job",
    )
    _cv_options(fit)
    _cluster_options(fit)
    fit.set_defaults(handler=_run_fit)

    baseline = commands.add_parser("baseline", help="fit a classic model on per-clip features, evaluate it")
    baseline.add_argument("--model", required=True, help=f"the classic model to fit: {', '.join(BASELINE_NAMES)}")
    baseline.add_argument("--data", type=Path, help="a prepared data set (genre prepare)")
    baseline.add_argument(
        "--features",
        help=f"the per-clip vector: {' or '.join(VECTOR_SOURCES)} (default: handcrafted; --set embedding_layer=...)",
    )
    baseline.add_argument("--config", type=Path, help="a TOML file of settings (plain names, tables optional)")
    baseline.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    baseline.add_argument("--run-dir", type=Path, help="where the run goes (default: runs/<model>-<time>)")
    _cv_options(baseline)
    baseline.set_defaults(handler=_run_baseline)

    report = commands.add_parser("report", help="compare finished runs: Markdown table, HTML page, PNG figures")
    report.add_argument("runs", type=Path, nargs="+", help="run directories, or folders holding them")
    report.add_argument("--out", type=Path, default=Path("report"), help="(default: %(default)s)")
    report.set_defaults(handler=_run_report)

    test = commands.add_parser("test", help="score a run's best checkpoint on a split (default: test)")
    test.add_argument("--run", type=Path, required=True)
    test.add_argument("--split", default="test", choices=("train", "validation", "test"))
    test.set_defaults(handler=_run_test)

    predict = commands.add_parser("predict", help="genre probabilities of audio files of any length")
    predict.add_argument("--run", type=Path, required=True)
    predict.add_argument("files", type=Path, nargs="+")
    predict.add_argument("--top", type=int, default=3)
    predict.add_argument("--json", action="store_true", help="one JSON object per file")
    predict.set_defaults(handler=_run_predict)

    weights = commands.add_parser("weights", help="pretrained weights in the local cache")
    weights_commands = weights.add_subparsers(dest="weights_command", required=True)
    fetch = weights_commands.add_parser(
        "fetch",
        help="musicnn: download its 0.1.0 wheel (or take --wheel) and convert its checkpoints; mobilenet: "
        "MobileNetV2's ImageNet weights into Keras's cache (keras.utils.get_file, or copy --file)",
    )
    fetch.add_argument("name", choices=("musicnn", "mobilenet"))
    fetch.add_argument("--wheel", type=Path, help="musicnn: a local musicnn-0.1.0-py3-none-any.whl (offline machines)")
    fetch.add_argument("--cache", type=Path, help="musicnn: cache folder (default: $GENRE_CACHE, else ~/.cache/genre)")
    fetch.add_argument("--file", type=Path, help="mobilenet: a local copy of the weights file (offline machines)")
    fetch.add_argument("--alpha", type=float, default=1.0, help="mobilenet: width (default: %(default)s)")
    fetch.add_argument("--rows", type=int, default=224, help="mobilenet: input rows (default: %(default)s)")
    fetch.add_argument("--sha256", help="mobilenet: the SHA-256 the file must have (Keras publishes none)")
    fetch.set_defaults(handler=_run_weights_fetch)

    tags = commands.add_parser("tags", help="musicnn's 50 tags of audio files, as the original tagger gives them")
    tags.add_argument("files", type=Path, nargs="+")
    tags.add_argument(
        "--model", default="MSD_musicnn", help=f"one of {', '.join(MUSICNN_VARIANTS)} (default: %(default)s)"
    )
    tags.add_argument("--top", type=int, default=3, help="tags printed per file (default: %(default)s; 50: all)")
    tags.add_argument("--cache", type=Path, help="weights cache folder (default: $GENRE_CACHE, else ~/.cache/genre)")
    tags.add_argument("--json", action="store_true", help="one JSON object per file, with every tag's probability")
    tags.set_defaults(handler=_run_tags)

    info = commands.add_parser("info", help="describe a prepared data set")
    info.add_argument("data", type=Path)
    info.add_argument("--json", action="store_true", help="print the manifest itself")
    info.set_defaults(handler=_run_info)
    for entry in _entry_points(COMMANDS_GROUP).values():
        entry.load()(commands)
    return parser


def _entry_points(group: str) -> dict:
    from importlib.metadata import entry_points

    return {entry.name: entry for entry in entry_points(group=group)}


def _tuning_step():
    """The `tune` study step an installed package provides (`tuning`); a ValueError saying so when
    none is installed."""
    steps = _entry_points(STUDY_STEPS_GROUP)
    if "tune" not in steps:
        raise ValueError(f"no tuning step is installed (entry point group {STUDY_STEPS_GROUP!r}); pass --tune none")
    return steps["tune"].load()


def _cv_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--folds",
        type=int,
        metavar="K",
        help="K-fold cross-validation over every clip of the data set: one run per fold under RUN/folds/, "
        "the summary in RUN/cv.json; a rerun keeps finished folds",
    )
    sub.add_argument("--repeats", type=int, default=1, metavar="R", help="with --folds: repeat with new folds")
    sub.add_argument("--fold-seed", type=int, metavar="S", help="with --folds: the folds' seed (default: the data's)")


def _cluster_options(sub: argparse.ArgumentParser) -> None:
    group = sub.add_argument_group(
        "several hosts",
        "one run over several processes, each on its own devices; the global batch (batch_size) is split over "
        "them and process 0 writes the run directory. Unset options come from JAX_COORDINATOR_ADDRESS, "
        "JAX_NUM_PROCESSES and JAX_PROCESS_ID (else TF_CONFIG's workers). On TensorFlow without TF_CONFIG, "
        "process I listens on the coordinator's host at its port + I",
    )
    group.add_argument("--num-processes", type=int, metavar="N", help="processes in the run")
    group.add_argument("--process-id", type=int, metavar="I", help="this process's index, 0..N-1")
    group.add_argument("--coordinator", metavar="HOST:PORT", help="the address process 0 listens on")
    group.add_argument(
        "--detect-cluster",
        action="store_true",
        help="let JAX find the processes in the cluster's environment (SLURM, a Cloud TPU pod slice, Open MPI)",
    )


def _cluster(args):
    from genre.train.distributed import cluster_from

    cluster = cluster_from(
        os.environ,
        coordinator=args.coordinator,
        num_processes=args.num_processes,
        process_id=args.process_id,
        detect=args.detect_cluster,
    )
    if cluster.multi_process and args.folds is not None:
        raise ValueError("--folds runs on one host: drop --num-processes/--detect-cluster (or the JAX_* variables)")
    return cluster


def _cross_validation(args):
    """The CVConfig of --folds, or None; --repeats and --fold-seed alone are an error, not ignored."""
    from genre.cross_validation import CVConfig

    if args.folds is None:
        if args.repeats != 1 or args.fold_seed is not None:
            raise ValueError("--repeats and --fold-seed go with --folds K")
        return None
    if getattr(args, "resume", False):
        raise ValueError("--folds resumes by itself: run the same command again, without --resume")
    return CVConfig(k=args.folds, repeats=args.repeats, seed=args.fold_seed)


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--workers", type=int, default=None, help="processes (default: every core)")
    sub.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_demo(args) -> int:
    from genre.demo import run_demo

    config = config_from_args(DemoConfig, args)
    _print_study(run_demo(config, tune=_tuning_step()))
    return 0


def _run_study(args) -> int:
    from genre.data.features import FeatureConfig
    from genre.data.fma import load_fma_catalog
    from genre.data.folders import load_folder_catalog
    from genre.data.prepare import PrepareConfig, prepare
    from genre.study import StudyConfig, plan_study, run_study

    net_settings: dict[str, dict[str, str]] = {}
    if args.max_epochs is not None:
        net_settings["*"] = {"max_epochs": str(args.max_epochs)}
    if args.weights is not None:
        net_settings["mobilenet"] = {"weights": args.weights}
    config = StudyConfig(
        data=args.out / "data",
        out=args.out,
        baselines=_names(args.baselines),
        embedding_baselines=_names(args.embedding_baselines),
        nets=_names(args.nets),
        net_settings=net_settings,
        tune_trials=_tune_trials(args.tune),
        seed=args.seed,
        progress=not args.quiet,
        folds=args.folds,
        repeats=args.repeats,
    )
    if args.folds is not None:
        from genre.cross_validation import CVConfig

        CVConfig(k=args.folds, repeats=args.repeats)  # checked before preparing, not after
    elif args.repeats != 1:
        raise ValueError("--repeats goes with --folds K")
    features = FeatureConfig(kinds=config.feature_kinds())
    plan_study(config, features.shape)  # before hours of preparing, not after
    if args.fma is not None:
        catalog = load_fma_catalog(args.fma, subset="small", split="official", seed=args.seed)
    else:
        catalog = load_folder_catalog(args.folders, seed=args.seed)
    prepare_config = PrepareConfig(features=features, seed=args.seed, workers=args.workers, progress=not args.quiet)
    prepare(catalog, config.data, prepare_config)
    _print_study(run_study(config, tune=_tuning_step() if config.tune_trials else None))
    return 0


def _tune_trials(text: str) -> dict[str, int]:
    if text.strip().lower() == "none":
        return {}
    trials = {}
    for item in _names(text):
        model, sep, n = item.partition("=")
        if not sep or not n.strip().isdigit() or int(n) < 1:
            raise ValueError(f"--tune takes MODEL=TRIALS,... (e.g. svm=30,melcnn=10) or none, got {item!r}")
        model = model.strip()
        if model not in BASELINES and model not in NET_NAMES:
            raise ValueError(f"--tune: unknown model {model!r}; valid models are {sorted((*BASELINES, *NET_NAMES))}")
        trials[model] = int(n)
    return trials


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _print_study(result) -> None:
    print()
    for reason in result.not_run:
        print(f"not run: {reason}")
    print(result.report.markdown)
    print(f"report: {result.report.html}")


def _run_synth(args) -> int:
    from genre.synth.dataset import write_synthetic_fma

    config = config_from_args(SynthConfig, args)
    plan = write_synthetic_fma(args.out, config)
    print(f"wrote {len(plan)} generated clips ({plan['genre'].nunique()} genres) under {args.out}")
    return 0


def _run_prepare(args) -> int:
    from genre.data.audio import AudioConfig
    from genre.data.features import FeatureConfig, RawConfig
    from genre.data.fma import load_fma_catalog
    from genre.data.folders import load_folder_catalog
    from genre.data.hosts import HostShare, prepare_host
    from genre.data.info import describe
    from genre.data.prepare import PrepareConfig, prepare

    share = None
    if args.hosts != 1 or args.host_index is not None:
        if args.host_index is None:
            raise ValueError(f"--hosts {args.hosts} needs --host-index, this machine's share (0..{args.hosts - 1})")
        share = HostShare(args.hosts, args.host_index)  # checked before the catalog is read
    if args.fma is not None:
        catalog = load_fma_catalog(args.fma, subset=args.subset, split=args.split, seed=args.seed)
    else:
        catalog = load_folder_catalog(args.folders, seed=args.seed)
    features = FeatureConfig(
        kinds=tuple(k.strip() for k in args.features.split(",") if k.strip()),
        audio=AudioConfig(sample_rate=args.sample_rate, duration=args.duration),
        raw=RawConfig(window_length=args.raw_window_length, windows=args.raw_windows),
    )
    config = PrepareConfig(
        features=features,
        shard_size=args.shard_size,
        seed=args.seed,
        workers=args.workers,
        progress=not args.quiet,
    )
    if share is not None:
        report = prepare_host(catalog, args.out, config, share)
        kept = sum(sum(r["labels"].values()) for r in report.shards.values())
        print(f"host {share.index} of {share.hosts}: {len(report.shards)} shards, {kept} clips in {args.out}")
        print(f"once every host has finished: genre prepare-merge {args.out}")
        return 0
    manifest = prepare(catalog, args.out, config)
    print(describe(manifest, args.out))
    return 0


def _run_prepare_merge(args) -> int:
    from genre.data.hosts import merge_hosts
    from genre.data.info import describe

    print(describe(merge_hosts(args.data), args.data))
    return 0


def _preempted(args, err: Preempted) -> int:
    """SIGTERM stopped training with its state saved: say so, requeue on SLURM if asked, exit 75."""
    from genre.train.preemption import PREEMPTED_EXIT_CODE, requeue_slurm

    print(f"genre {args.command}: {err}", file=sys.stderr)
    if getattr(args, "requeue", False):
        job = os.environ.get("SLURM_JOB_ID")
        note = requeue_slurm(job) if job else "--requeue: SLURM_JOB_ID is not set, so there is no job to requeue"
        print(f"genre {args.command}: {note}", file=sys.stderr)
    return PREEMPTED_EXIT_CODE


def _run_fit(args) -> int:
    from genre.train.distributed import connect
    from genre.train.fit import default_config, train_and_evaluate

    cv = _cross_validation(args)
    config = default_config(args.model)
    if args.resume:
        if args.run_dir is None:
            raise ValueError("--resume needs --run-dir, the run to continue")
        # the default config is replaced by the run's own config.json
    else:
        config = _configure(config, args, ("data", "weights"))
    cluster = _cluster(args)
    if cluster.multi_process and args.run_dir is None:
        raise ValueError("several processes need --run-dir: each would name its own by the clock")
    run_dir = args.run_dir or _default_run_dir(args.model)
    if cv is not None:
        return _run_cross_validation(config, run_dir, cv)
    metrics = train_and_evaluate(config, run_dir, resume=args.resume, cluster=cluster)
    if connect(cluster).writes:  # already joined: this only says which process this is
        print(_metrics_summary(metrics, run_dir))
    return 0


def _run_baseline(args) -> int:
    from genre.baselines.fit import default_baseline_config, fit_baseline

    cv = _cross_validation(args)
    config = _configure(default_baseline_config(args.model), args, ("data", "features"))
    run_dir = args.run_dir or _default_run_dir(args.model)
    if cv is not None:
        return _run_cross_validation(config, run_dir, cv)
    metrics = fit_baseline(config, run_dir)
    print(_metrics_summary(metrics, run_dir))
    return 0


def _run_cross_validation(config, run_dir: Path, cv) -> int:
    from genre.cross_validation import cross_validate
    from genre.estimators import estimator_for
    from genre.run_dir import RunDir

    cross_validate(estimator_for(config.model), config, run_dir, cv)
    print(f"run {run_dir}: summary in {RunDir(run_dir).cv_file}")
    return 0


def _configure(config, args, options: tuple[str, ...]):
    """Defaults, then the --config file, then the named options, then every --set, each overriding the last."""
    from genre.train.config import apply_overrides, parse_set_arguments, read_toml

    if args.config is not None:
        config = apply_overrides(config, read_toml(args.config), origin=str(args.config))
    for option in options:
        if getattr(args, option) is not None:
            config = apply_overrides(config, {option: getattr(args, option)}, origin=f"--{option}")
    return apply_overrides(config, parse_set_arguments(args.set))


def _default_run_dir(model: str) -> Path:
    import time

    return Path("runs") / f"{model}-{time.strftime('%Y%m%d-%H%M%S')}"


def _metrics_summary(metrics: dict, run_dir: Path) -> str:
    from genre.evaluate import with_interval

    epochs = f", {metrics['epochs']} epochs" if metrics["epochs"] is not None else ""
    lines = [f"run {run_dir}: {metrics['model']} on {metrics['backend']}{epochs}, {metrics['train_seconds']:.1f} s"]
    if metrics["data"]["synthetic"]:
        from genre.data.info import SYNTHETIC_WARNING

        lines.insert(0, f"!! {SYNTHETIC_WARNING}")
    for split in ("val", "test"):
        if split not in metrics:
            continue
        m = metrics[split]
        window = f", window accuracy {m['window_accuracy']:.3f}" if "window_accuracy" in m else ""
        lines.append(
            f"{split:<5} accuracy {with_interval(m, 'accuracy')}, macro-F1 {with_interval(m, 'macro_f1', False)}"
            f"{window} ({m['clips']} clips; 95% intervals)"
        )
    return "\n".join(lines)


def _run_report(args) -> int:
    from genre.report import build_report

    report = build_report(args.runs, args.out)
    print(report.markdown)
    print(f"report: {report.html} ({len(report.figures)} figures in {args.out / 'figures'})")
    return 0


def _run_test(args) -> int:
    from genre.estimators import estimator_of_run

    print(json.dumps(estimator_of_run(args.run).evaluate(args.run, args.split), indent=1))
    return 0


def _run_predict(args) -> int:
    from genre.estimators import estimator_of_run

    results = estimator_of_run(args.run).predict(args.run, args.files, top=args.top)
    for result in results:
        if args.json:
            print(json.dumps(result))
        elif "error" in result:
            print(f"{result['path']}: error: {result['error']}")
        else:
            top = ", ".join(f"{g} {result['probabilities'][g]:.2f}" for g in result["top"])
            print(f"{result['path']}: {top}")
    return 0 if all("error" not in r for r in results) else 1


def _run_weights_fetch(args) -> int:
    from genre.weights.musicnn import fetch_musicnn, musicnn_dir

    other = ("--file", "--sha256") if args.name == "musicnn" else ("--wheel", "--cache")
    given = [flag for flag in other if getattr(args, flag[2:]) is not None]
    if given:
        raise ValueError(f"{' and '.join(given)} do not apply to {args.name}")
    if args.name == "mobilenet":
        return _fetch_mobilenet(args)

    index = fetch_musicnn(args.cache, args.wheel)
    folder = musicnn_dir(args.cache)
    for variant, entry in index["variants"].items():
        print(f"{variant}: {folder / entry['file']} ({entry['parameters']} parameters, sha256 {entry['sha256']})")
    print(f"from {index['wheel']['file']} (sha256 {index['wheel']['sha256']}); index {folder / 'weights.json'}")
    return 0


def _fetch_mobilenet(args) -> int:
    from genre.weights.mobilenet import fetch_mobilenet

    fetched = fetch_mobilenet(args.alpha, args.rows, args.file, sha256=args.sha256)
    how = "already cached" if fetched.cached_before else f"from {fetched.source}"
    print(f"MobileNetV2 ImageNet weights (alpha {args.alpha}, {args.rows} rows): {fetched.path} ({how})")
    print(f"sha256 {fetched.sha256}")
    return 0


def _run_tags(args) -> int:
    from genre.tags import tag_files

    results = tag_files(args.files, variant=args.model, cache_dir=args.cache, top=args.top)
    for result in results:
        if args.json:
            print(json.dumps(result))
        elif "error" in result:
            print(f"{result['path']}: error: {result['error']}")
        else:  # the original tagger's layout, with each tag's mean probability over the file's patches
            print(f"[{result['path']}] Top{args.top} tags: ")
            for tag in result["top"]:
                print(f" - {tag} {result['probabilities'][tag]:.3f}")
    return 0 if all("error" not in r for r in results) else 1


def _run_info(args) -> int:
    from genre.data.info import describe
    from genre.data.manifest import read_manifest

    manifest = read_manifest(args.data)
    print(json.dumps(asdict(manifest), indent=1) if args.json else describe(manifest, args.data))
    return 0
