"""`genre demo`: the main job on the embedded default, the generated FMA-shaped data set.

Generates the music (`genre synth`), prepares it (`genre prepare --fma`), runs the whole study on
it (`genre.study`: every baseline, every net on a short schedule, short tuning studies) and writes
the report. Every
step resumes, so running the demo again finishes or reuses earlier work. `quick` shrinks
everything (fewer, shorter clips, small images, one epoch) to check the whole path in a minute
or two; its figures mean even less than the demo's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genre.data.audio import AudioConfig
from genre.data.features import FEATURE_KINDS, FeatureConfig, MelConfig, RawConfig
from genre.data.fma import load_fma_catalog
from genre.data.info import describe
from genre.data.prepare import PrepareConfig, prepare
from genre.study import StudyConfig, run_study
from genre.synth.dataset import SynthConfig, write_synthetic_fma

# Short schedules: the demo shows every model working, it does not train them to the end.
# MobileNetV2 trains from scratch (nothing is downloaded, and ImageNet weights are rarely cached), at
# width 0.35: the full width learns nothing in the few epochs a demo affords.
DEMO_NETS = {
    "*": {"tensorboard": "false"},
    "conv1d": {"max_epochs": "3"},
    "melcnn": {"max_epochs": "15"},
    "mobilenet": {"max_epochs": "6", "weights": "none", "alpha": "0.35", "fine_tune_epochs": "0"},
    "musicnn": {"max_epochs": "2", "fine_tune_epochs": "0"},
}
QUICK_NETS = {
    "*": {"tensorboard": "false", "max_epochs": "1", "batch_size": "16"},
    "conv1d": {"filters": "16,16", "dense_units": "16"},
    "melcnn": {"channels": "8,16,16", "crop_frames": "32", "dense_units": "16"},
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
        default=True, metadata={"help": "never fetch musicnn's pretrained weights (offline: musicnn is left out)"}
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
            return FeatureConfig(kinds=FEATURE_KINDS, audio=audio)
        small = {"raw": RawConfig(window_length=4000, windows=4), "mel": MelConfig(64, 64)}
        return FeatureConfig(kinds=FEATURE_KINDS, audio=audio, **small)


def run_demo(config: DemoConfig, log=print, tune=None):
    """Returns the study's result; logs the data set's description and each model's line as it goes.
    `tune`: the tuning step (`tuning.in_study.study_tuning(*config.tuning())`), handed in by the caller."""
    if config.fetch_weights:
        fetch_missing_weights(log)
    study = StudyConfig(
        data=prepare_demo_data(config, log),
        out=Path(config.out),
        net_settings=QUICK_NETS if config.quick else DEMO_NETS,
        skip_missing_weights=True,  # musicnn's weights are one explicit fetch away; the demo says so
        seed=config.seed,
        progress=config.progress,
    )
    return run_study(study, log, tune)


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


def prepare_demo_data(config: DemoConfig, log=print) -> Path:
    """Generates the demo's music and prepares it; returns the prepared data set's folder."""
    fma_dir, data_dir = Path(config.out) / "fma", Path(config.out) / "data"
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
    catalog = load_fma_catalog(fma_dir, subset="small", split="official", seed=config.seed)
    prepare_config = PrepareConfig(
        features=config.features(), seed=config.seed, workers=config.workers, progress=config.progress
    )
    log(describe(prepare(catalog, data_dir, prepare_config), data_dir))
    return data_dir
