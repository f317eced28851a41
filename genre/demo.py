"""`genre demo`: the main job on the embedded default, the generated FMA-shaped data set.

Fetches the pretrained weights the study's models need when they are not cached and the network
allows (musicnn's, MobileNetV2's ImageNet base), generates the music (`genre synth`), prepares it
(`genre prepare --fma`), runs the whole study on it (`genre.study`: every baseline, every net,
short tuning studies) and writes the report. The nets' epochs are allotted to fit the time budget
(`genre.budget`; each net's epochs in `DEMO_NETS` are its cap). Every step resumes, so running the
demo again finishes or reuses earlier work. `quick` shrinks everything (fewer, shorter clips, small
images, one epoch, no budget) to check the whole path in a minute or two; its figures mean even less
than the demo's.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from genre.data.audio import AudioConfig
from genre.data.features import FEATURE_KINDS, FeatureConfig, MelConfig, RawConfig
from genre.data.fma import load_fma_catalog
from genre.data.info import describe
from genre.data.prepare import PrepareConfig, prepare
from genre.study import StudyConfig, run_study
from genre.synth.dataset import SynthConfig, write_synthetic_fma

# Each net's epochs here are its cap: the budget allots what fits below it. MobileNetV2 is at width
# 0.35 (the full width learns nothing in the few epochs a demo affords): with ImageNet weights cached
# its base is frozen and only the head trains, else it trains from scratch (`mobilenet_settings`).
DEMO_NETS = {
    "*": {"tensorboard": "false"},
    # The study's conv1d (128, 64 filters, flattened, dropout 0.5) stays near chance for the epochs a
    # demo affords. Half the filters make an epoch a third as costly, and max pooling over time
    # (the same weights wherever a sound falls) keeps it from memorising positions: 6 epochs on the
    # demo's data gave validation clips 42.1% and 34.2% (seeds 0 and 1; test 33.3% and 35.9%), against
    # 23.7% and 39.5% (test 25.6% and 33.3%) flattened at the same sizes (TensorFlow, 2-core EPYC).
    "conv1d": {"max_epochs": "10", "dropout": "0.2", "filters": "64,32", "pooling": "max"},
    "melcnn": {"max_epochs": "15"},
    "mobilenet": {"max_epochs": "12", "alpha": "0.35", "fine_tune_epochs": "0"},
    # Frozen, without fine-tuning, its head trains alone on the tagger's outputs, computed once and
    # shared with the embedding baselines (`genre.train.encoded_data`): an epoch costs well under a second.
    "musicnn": {"max_epochs": "15", "fine_tune_epochs": "0"},
}
DEMO_MOBILENET_ALPHA = 0.35
# The demo's inputs are smaller than the study's (224 x 224 images, 8 windows a clip): at 128 x 128
# an epoch of MobileNetV2 or melcnn costs about a third, and 4 windows halve conv1d's, so every net gets
# the epochs it needs to learn within the budget, also on JAX, whose convolutions on CPU are 3 to 6 times
# slower than TensorFlow's. 128 rows is a size Keras publishes ImageNet weights for.
DEMO_MEL = MelConfig(n_mels=128, frames=128)
DEMO_RAW = RawConfig(window_length=10000, windows=4)
DEMO_MOBILENET_ROWS = DEMO_MEL.frames
QUICK_NETS = {
    "*": {"tensorboard": "false", "max_epochs": "1", "batch_size": "16"},
    "conv1d": {"filters": "16,16", "dense_units": "16"},
    "melcnn": {"channels": "8,16,16", "crop_frames": "32", "dense_units": "16"},
    # From scratch: ImageNet weights exist for none of the quick demo's small images.
    "mobilenet": {"alpha": "0.35", "weights": "none", "fine_tune_epochs": "0", "dense_units": "16"},
    "musicnn": {"fine_tune_epochs": "0"},
}

# The short tuning studies: trials per model, and settings fixed for their trials (a shorter schedule).
DEMO_TUNING = ({"svm": 12, "melcnn": 3}, {"melcnn": {"max_epochs": "5"}})
QUICK_TUNING = ({"svm": 3, "melcnn": 2}, {})


@dataclass(frozen=True)
class DemoConfig:
    out: Path = field(default=Path("genre-demo"), metadata={"help": "folder for everything"})
    tracks_per_genre: int | None = field(default=None, metadata={"help": "default: 50 (10 with --quick)"})
    # Shorter than FMA's 30 s so the demo is quick.
    seconds: float | None = field(default=None, metadata={"help": "length of each clip (default: 10; 4 with --quick)"})
    quick: bool = field(default=False, metadata={"help": "a tiny set and one epoch per net: the whole path fast"})
    seed: int = 0
    workers: int | None = field(default=None, metadata={"help": "processes (default: every core)"})
    progress: bool = field(default=True, metadata={"flag": "--quiet", "help": "no progress bar"})
    fetch_weights: bool = field(
        default=True,
        metadata={
            "help": "never fetch pretrained weights (without musicnn's, musicnn is left out; without "
            "MobileNetV2's ImageNet base, it trains from scratch)"
        },
    )
    # 8.5 so that the README's first command, the install's minute or so included, ends within 10.
    budget: float = field(
        default=8.5,
        metadata={
            "help": "minutes the whole demo may take (default 8.5: with the install, the README's first "
            "command ends within 10): the nets' epochs are allotted to fit (0: each net trains its cap; "
            "ignored with --quick)"
        },
    )

    @property
    def tracks(self) -> int:
        return self.tracks_per_genre or (10 if self.quick else 50)

    @property
    def clip_seconds(self) -> float:
        return self.seconds or (4.0 if self.quick else 10.0)

    def tuning(self) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
        return QUICK_TUNING if self.quick else DEMO_TUNING

    def features(self) -> FeatureConfig:
        audio = AudioConfig(duration=self.clip_seconds)
        if not self.quick:
            return FeatureConfig(kinds=FEATURE_KINDS, audio=audio, raw=DEMO_RAW, mel=DEMO_MEL)
        small = {"raw": RawConfig(window_length=4000, windows=4), "mel": MelConfig(64, 64)}
        return FeatureConfig(kinds=FEATURE_KINDS, audio=audio, **small)


def run_demo(config: DemoConfig, log=print, tune=None):
    """Returns the study's result; logs the data set's description and each model's line as it goes.
    `tune`: the tuning step (`tuning.in_study.tune_in_study`), handed in by the caller."""
    started = time.monotonic()
    if config.fetch_weights:
        fetch_missing_weights(log)
        if not config.quick:
            fetch_imagenet_base(log)
    fetched = time.monotonic()
    trials, trial_settings = config.tuning()
    data, data_seconds = prepare_demo_data(config, log)
    budget = None
    if config.budget > 0 and not config.quick:
        budget = config.budget * 60 - (time.monotonic() - started)
    study = StudyConfig(
        data=data,
        out=Path(config.out),
        net_settings=QUICK_NETS if config.quick else _with_mobilenet(DEMO_NETS, log),
        skip_missing_weights=True,  # musicnn's weights are one explicit fetch away; the demo says so
        tune_trials=trials,
        tune_settings=trial_settings,
        budget_seconds=budget,
        seed=config.seed,
        progress=config.progress,
    )
    result = run_study(study, log, tune)
    stages = {"weights": fetched - started, **data_seconds, **result.seconds}
    took = time.monotonic() - started
    of_budget = f" of a {config.budget:g} min budget" if budget is not None else ""
    log(f"demo: {_duration(took)}{of_budget} ({', '.join(f'{k} {_duration(v)}' for k, v in stages.items())})")
    return dataclasses.replace(result, seconds=stages)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _with_mobilenet(settings: dict[str, dict[str, str]], log) -> dict[str, dict[str, str]]:
    """MobileNetV2 on its ImageNet base when Keras has it cached, else from scratch; logs which."""
    from genre.models.mobilenet import imagenet_weights_path

    path = imagenet_weights_path(DEMO_MOBILENET_ALPHA, DEMO_MOBILENET_ROWS)
    if path.is_file():
        log(f"mobilenet: the ImageNet base cached at {path}, frozen; its head trains")
        weights = "imagenet"
    else:
        log(
            "mobilenet: trained from scratch (no ImageNet base cached: "
            f"`genre weights fetch mobilenet --alpha {DEMO_MOBILENET_ALPHA} --rows {DEMO_MOBILENET_ROWS}`)"
        )
        weights = "none"
    return {**settings, "mobilenet": {**settings["mobilenet"], "weights": weights}}


def fetch_imagenet_base(log=print) -> bool:
    """Takes `genre weights fetch mobilenet`'s step for the demo's MobileNetV2 width when its ImageNet
    weights are not cached; without the network it says so and goes on (the net then trains from
    scratch). True when the weights are there afterwards."""
    from genre.models.mobilenet import imagenet_weights_path
    from genre.weights.mobilenet import fetch_mobilenet

    if imagenet_weights_path(DEMO_MOBILENET_ALPHA, DEMO_MOBILENET_ROWS).is_file():
        return True
    log(
        f"fetching MobileNetV2's ImageNet weights (alpha {DEMO_MOBILENET_ALPHA}, {DEMO_MOBILENET_ROWS} rows) "
        "once, into Keras's cache"
    )
    try:
        fetch_mobilenet(DEMO_MOBILENET_ALPHA, DEMO_MOBILENET_ROWS)
    except (FileNotFoundError, ValueError) as err:
        log(f"could not fetch them, MobileNetV2 trains from scratch: {err}")
        return False
    return True


def fetch_missing_weights(log=print, cache_dir: Path | None = None) -> bool:
    """Takes `genre weights fetch musicnn`'s step when musicnn's weights are not cached, so the demo runs
    every model of the study; without the package index it says so and goes on (musicnn is then
    listed as not run). True when the weights are there afterwards."""
    from genre.models.musicnn import MusicnnConfig
    from genre.weights.musicnn import FETCH_COMMAND, fetch_musicnn, musicnn_weights_path

    try:
        musicnn_weights_path(MusicnnConfig().variant, cache_dir)
        return True
    except (FileNotFoundError, ValueError):
        pass
    log(
        f"fetching musicnn's pretrained weights once ({FETCH_COMMAND}: its 0.1.0 wheel, converted), so every model runs"
    )
    try:
        fetch_musicnn(cache_dir)
    except (FileNotFoundError, ValueError) as err:
        log(f"could not fetch musicnn's weights, going on without musicnn: {err}")
        return False
    return True


def prepare_demo_data(config: DemoConfig, log=print) -> tuple[Path, dict[str, float]]:
    """Generates the demo's music and prepares it; returns the prepared data set's folder, and the
    seconds each step took."""
    fma_dir, data_dir = Path(config.out) / "fma", Path(config.out) / "data"
    started = time.monotonic()
    write_synthetic_fma(
        fma_dir,
        SynthConfig(
            tracks_per_genre=config.tracks,
            seed=config.seed,
            seconds=config.clip_seconds,
            workers=config.workers,
            progress=config.progress,
        ),
    )
    generated = time.monotonic()
    catalog = load_fma_catalog(fma_dir, subset="small", split="official", seed=config.seed)
    prepare_config = PrepareConfig(
        features=config.features(), seed=config.seed, workers=config.workers, progress=config.progress
    )
    log(describe(prepare(catalog, data_dir, prepare_config), data_dir))
    return data_dir, {"synth": generated - started, "prepare": time.monotonic() - generated}
