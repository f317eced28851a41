"""`genre demo`: the main job on the embedded default, the generated FMA-shaped data set.

Generates the music (`genre synth`), prepares it (`genre prepare --fma`) and describes the result
(`genre info`). Every step resumes, so running the demo again finishes or reuses earlier work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genre.data.audio import AudioConfig
from genre.data.features import FeatureConfig
from genre.data.fma import load_fma_catalog
from genre.data.info import describe
from genre.data.prepare import PrepareConfig, prepare
from genre.synth.dataset import SynthConfig, write_synthetic_fma


@dataclass(frozen=True)
class DemoConfig:
    out: Path = Path("genre-demo")
    tracks_per_genre: int = 50
    seconds: float = 10.0  # shorter than FMA's 30 s so the demo is quick; prepare keeps them whole
    seed: int = 0
    workers: int | None = None
    progress: bool = True


def run_demo(config: DemoConfig) -> str:
    fma_dir, data_dir = Path(config.out) / "fma", Path(config.out) / "data"
    write_synthetic_fma(
        fma_dir,
        SynthConfig(
            tracks_per_genre=config.tracks_per_genre,
            seed=config.seed,
            seconds=config.seconds,
            workers=config.workers,
            progress=config.progress,
        ),
    )
    catalog = load_fma_catalog(fma_dir, subset="small", split="official", seed=config.seed)
    features = FeatureConfig(audio=AudioConfig(duration=config.seconds))
    manifest = prepare(
        catalog,
        data_dir,
        PrepareConfig(features=features, seed=config.seed, workers=config.workers, progress=config.progress),
    )
    return describe(manifest, data_dir)
