"""Generated FMA-like data for the benchmarks, made once per size and kept in a work folder."""

from __future__ import annotations

from pathlib import Path

from genre.data.fma import load_fma_catalog
from genre.data.prepare import PrepareConfig, prepare


def synthetic_fma(work: Path, clips_per_genre: int):
    """An FMA tree of 30 s, 44.1 kHz stereo MP3s (like fma_small's), and its catalog."""
    # Imported here: a worker of a benchmark's pool runs its script again, and needs no synthesiser.
    from genre.synth.dataset import SynthConfig, write_synthetic_fma

    fma = Path(work) / f"fma-{clips_per_genre}"
    write_synthetic_fma(fma, SynthConfig(tracks_per_genre=clips_per_genre, seed=0, progress=False))
    return fma, load_fma_catalog(fma)


def synthetic_prepared(work: Path, clips_per_genre: int) -> Path:
    """The same clips prepared with the default features (raw, mel, handcrafted)."""
    _, catalog = synthetic_fma(work, clips_per_genre)
    data = Path(work) / f"data-{clips_per_genre}"
    prepare(catalog, data, PrepareConfig(progress=False))
    return data
