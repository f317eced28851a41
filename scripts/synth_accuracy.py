"""How hard the generated data set is: test accuracy of each kind of model on the demo's default set.

Generates and prepares the demo's data (`genre demo`'s defaults: 50 clips per genre, 10 s; the
official-style artist-filtered split), then trains every classic baseline (`genre baseline`'s
defaults) on the `handcrafted` vectors and the nets with short schedules through `genre fit`'s
library call, and prints test accuracy and macro-F1 for each. These figures describe generated
music only; they say nothing about real music.

    python scripts/synth_accuracy.py [--out /tmp/genre-accuracy] [--models conv1d,melcnn,mobilenet]
                                     [--epochs 20] [--tracks-per-genre 50] [--seconds 10]
                                     [--no-baselines] [--set alpha=0.35 ...]

Each row gives validation accuracy beside the share of the validation split's largest genre (what
a net predicting one genre for every clip scores), and test accuracy and macro-F1 with their 95%
intervals (those `metrics.json` records: exact for accuracy, a seeded bootstrap over test clips for
macro-F1).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path


def classic(data: Path, work: Path) -> list[tuple[str, dict, float]]:
    from genre.baselines import BASELINES
    from genre.baselines.fit import default_baseline_config, fit_baseline
    from genre.train.config import apply_overrides

    rows = []
    for name, spec in BASELINES.items():
        run = work / "runs" / name
        shutil.rmtree(run, ignore_errors=True)
        metrics = fit_baseline(apply_overrides(default_baseline_config(name), {"data": str(data)}), run)
        label = f"{spec.description} ({name}), handcrafted"
        rows.append((label, {**metrics["test"], "val": metrics["val"]["accuracy"]}, metrics["train_seconds"]))
    return rows


def nets(data: Path, models: list[str], epochs: int, work: Path, more: dict[str, str]) -> list[tuple[str, dict, float]]:
    from genre.train.config import apply_overrides
    from genre.train.fit import default_config, train_and_evaluate

    rows = []
    for name in models:
        settings = {"data": str(data), "max_epochs": str(epochs), "progress": "false", "tensorboard": "false"}
        if name == "mobilenet":
            settings |= {"weights": "none", "fine_tune_epochs": "0"}
        settings |= more
        run = work / "runs" / name
        shutil.rmtree(run, ignore_errors=True)
        metrics = train_and_evaluate(apply_overrides(default_config(name), settings), run)
        label = f"{name} ({metrics['backend']}, {metrics['epochs']} epochs)"
        rows.append((label, {**metrics["test"], "val": metrics["val"]["accuracy"]}, metrics["train_seconds"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "genre-accuracy")
    parser.add_argument("--models", default="conv1d,melcnn,mobilenet")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--tracks-per-genre", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-baselines", action="store_true", help="the nets only")
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE for every net (e.g. alpha=0.35)")
    args = parser.parse_args()

    from genre.data import read_manifest
    from genre.demo import DemoConfig, prepare_demo_data

    demo = DemoConfig(out=args.out, tracks_per_genre=args.tracks_per_genre, seconds=args.seconds, progress=False)
    data, _ = prepare_demo_data(demo, log=lambda text: None)
    manifest = read_manifest(data)
    from genre.evaluate import with_interval
    from genre.train.config import parse_set_arguments

    rows = [] if args.no_baselines else classic(data, args.out)
    more = parse_set_arguments(args.set)
    rows += nets(data, [m for m in args.models.split(",") if m], args.epochs, args.out, more)
    counts = {s: manifest.clip_count(s) for s in manifest.counts}
    largest = max(manifest.counts["validation"].values()) / manifest.clip_count("validation")
    print(
        f"generated set: {args.tracks_per_genre} clips per genre of {args.seconds:g} s, split {counts}; "
        f"chance {1 / len(manifest.genres):.1%}; one genre for every validation clip scores {largest:.1%}\n"
    )
    n = manifest.clip_count("test")
    print(f"| model | val accuracy | test accuracy [95% CI] ({n} clips) | test macro-F1 [95% CI] | train seconds |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, m, seconds in rows:
        f1 = with_interval(m, "macro_f1", percent=False)
        print(f"| {name} | {m['val']:.1%} | {with_interval(m, 'accuracy')} | {f1} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
