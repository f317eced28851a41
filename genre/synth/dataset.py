"""`genre synth`: writes a small FMA-shaped data set of generated music, read by the real FMA loader.

    OUT/fma_metadata/tracks.csv   FMA's 3-row header, every column of FMA's in its value formats
    OUT/fma_metadata/genres.csv   the 8 top-level genres of fma_small with their FMA ids
    OUT/fma_small/NNN/NNNNNN.mp3  real MP3 files (LAME, constant 320 kbit/s like most of FMA)
    OUT/SYNTHETIC.json            marks the tree as generated; every manifest made from it says so

Tracks belong to artists (each artist keeps one style, see `genre.synth.style`), and the split
is artist-filtered 80/10/10 per genre like FMA's official one, so an artist's habits cannot leak
from training into test. Every track is rendered from its own seed, so the tree is the same for
the same seed whatever the number of processes, and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genre.data.catalog import SYNTHETIC_MARKER
from genre.data.fma import audio_path
from genre.parallel import ordered_map
from genre.synth.music import render_track
from genre.synth.profiles import GENRES
from genre.synth.style import draw_artist_style

# fma_small's genres and their ids in FMA's genres.csv.
FMA_GENRE_IDS = {
    "Hip-Hop": 21,
    "Pop": 10,
    "Folk": 17,
    "Experimental": 38,
    "Rock": 12,
    "International": 2,
    "Electronic": 15,
    "Instrumental": 1235,
}
SPLIT_FRACTIONS = {"test": 0.1, "validation": 0.1}  # the rest is training, as in FMA's official split


@dataclass(frozen=True)
class SynthConfig:
    tracks_per_genre: int = 100
    seed: int = 0
    seconds: float = field(default=30.0, metadata={"help": "length of each clip"})
    sample_rate: int = 44100
    channels: int = field(default=2, metadata={"choices": (1, 2)})
    max_tracks_per_artist: int = 6
    workers: int | None = field(default=None, metadata={"help": "processes (default: every core; 1: this one)"})
    progress: bool = field(default=True, metadata={"flag": "--quiet", "help": "no progress bar"})

    def __post_init__(self) -> None:
        if self.tracks_per_genre < 1:
            raise ValueError(f"tracks_per_genre must be at least 1, got {self.tracks_per_genre}")
        if self.seconds <= 0 or self.sample_rate < 8000 or self.channels not in (1, 2):
            raise ValueError(
                f"need seconds > 0, sample_rate >= 8000 and channels 1 or 2; got {self.seconds}, "
                f"{self.sample_rate}, {self.channels}"
            )


def plan_tracks(config: SynthConfig) -> pd.DataFrame:
    """One row per track: track_id, genre, artist_id, split; a pure function of the config."""
    rng = np.random.default_rng([config.seed, 0])
    rows = []
    artist_id = 0
    for genre in GENRES:
        # No artist larger than a test or validation share, so whole artists can fill each share.
        cap = max(1, min(config.max_tracks_per_artist, round(SPLIT_FRACTIONS["test"] * config.tracks_per_genre)))
        sizes = []
        while sum(sizes) < config.tracks_per_genre:
            sizes.append(int(min(rng.integers(1, cap + 1), config.tracks_per_genre - sum(sizes))))
        splits = _artist_split(sizes, rng)
        for size, split in zip(sizes, splits, strict=True):
            artist_id += 1
            rows += [{"genre": genre, "artist_id": artist_id, "split": split}] * size
    frame = pd.DataFrame(rows).iloc[rng.permutation(len(rows))].reset_index(drop=True)
    # Sparse, increasing ids like FMA's, spread over several NNN folders.
    frame.insert(0, "track_id", 1 + np.cumsum(rng.integers(1, 80, size=len(frame))))
    return frame


def _artist_split(sizes: list[int], rng: np.random.Generator) -> list[str]:
    """Whole artists, in random order, go to test then validation while they fit each one's share."""
    total = sum(sizes)
    splits = ["training"] * len(sizes)
    order = rng.permutation(len(sizes))
    for split, fraction in SPLIT_FRACTIONS.items():
        quota = max(1, round(fraction * total)) if total >= 3 else 0
        filled = 0
        for i in order:
            if splits[i] == "training" and filled + sizes[i] <= quota:
                splits[i] = split
                filled += sizes[i]
    return splits


def write_synthetic_fma(out: str | Path, config: SynthConfig = SynthConfig()) -> pd.DataFrame:
    out = Path(out)
    plan = plan_tracks(config)
    marker = out / SYNTHETIC_MARKER
    recorded = {k: v for k, v in asdict(config).items() if k not in ("workers", "progress")}
    if marker.is_file():
        if json.loads(marker.read_text()).get("config") != recorded:
            raise FileExistsError(
                f"{out} holds a synthetic data set made with other settings ({marker}); choose another --out"
            )
    elif out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; synth writes into a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {
                "generator": "genre synth",
                "note": "Generated music. Results on it say nothing about real music.",
                "config": recorded,
            },
            indent=1,
        )
        + "\n"
    )
    _write_metadata(out, plan, config)
    todo = [
        (int(r.track_id), r.genre, int(r.artist_id))
        for r in plan.itertuples()
        if not audio_path(out, "small", int(r.track_id)).is_file()
    ]
    _render_all(out, todo, config)
    return plan


# FMA's tracks.csv columns, in its order: readers that copy FMA's loader parse them by name.
FMA_TRACK_COLUMNS = {
    "album": "comments date_created date_released engineer favorites id information listens producer tags title "
    "tracks type",
    "artist": "active_year_begin active_year_end associated_labels bio comments date_created favorites id latitude "
    "location longitude members name related_projects tags website wikipedia_page",
    "set": "split subset",
    "track": "bit_rate comments composer date_created date_recorded duration favorites genre_top genres genres_all "
    "information interest language_code license listens lyricist number publisher tags title",
}
_EPOCH = pd.Timestamp("2016-01-04 09:00:00")  # generated dates count from here, a minute per track id


def _write_metadata(out: Path, plan: pd.DataFrame, config: SynthConfig) -> None:
    """tracks.csv and genres.csv in FMA's layout and value formats: every column of the real file,
    lists as Python literals ("[21]", "[]"), dates as "YYYY-MM-DD HH:MM:SS", counts as integers,
    and empty cells where FMA's are often empty (composer, location, ...)."""
    meta = out / "fma_metadata"
    meta.mkdir(exist_ok=True)
    ids = [FMA_GENRE_IDS[g] for g in plan["genre"]]
    created = _EPOCH + pd.to_timedelta(plan["track_id"], unit="min")
    album = plan["artist_id"]  # one album per artist
    album_created = created.groupby(album).transform("min")
    album_size = album.groupby(album).transform("size")
    number = plan.groupby("artist_id")["track_id"].rank(method="first").astype(int)
    zeros, empty, no_tags = 0, None, "[]"
    values = {
        ("album", "comments"): zeros,
        ("album", "date_created"): album_created,
        ("album", "date_released"): album_created.dt.normalize(),
        ("album", "favorites"): zeros,
        ("album", "id"): album,
        ("album", "information"): "<p></p>",
        ("album", "listens"): zeros,
        ("album", "tags"): no_tags,
        ("album", "title"): [f"Synthetic album {a}" for a in album],
        ("album", "tracks"): album_size,
        ("album", "type"): "Album",
        ("artist", "bio"): "<p>Music generated by genre synth.</p>",
        ("artist", "comments"): zeros,
        ("artist", "date_created"): album_created - pd.Timedelta(days=1),
        ("artist", "favorites"): zeros,
        ("artist", "id"): plan["artist_id"],
        ("artist", "name"): [f"Synthetic artist {a}" for a in plan["artist_id"]],
        ("artist", "tags"): no_tags,
        ("set", "split"): plan["split"],
        ("set", "subset"): "small",
        ("track", "bit_rate"): mp3_bit_rate(config.sample_rate),
        ("track", "comments"): zeros,
        ("track", "date_created"): created,
        ("track", "duration"): round(config.seconds),
        ("track", "favorites"): zeros,
        ("track", "genre_top"): plan["genre"],
        # Top-level genres only: each is its own root, so genres_all is the same list.
        ("track", "genres"): [f"[{i}]" for i in ids],
        ("track", "genres_all"): [f"[{i}]" for i in ids],
        ("track", "interest"): zeros,
        ("track", "license"): "generated by genre synth",
        ("track", "listens"): zeros,
        ("track", "number"): number,
        ("track", "tags"): no_tags,
        ("track", "title"): [f"Synthetic {g} track {t}" for g, t in zip(plan["genre"], plan["track_id"], strict=True)],
    }
    columns = pd.MultiIndex.from_tuples(
        [(top, name) for top, names in FMA_TRACK_COLUMNS.items() for name in names.split()]
    )
    tracks = pd.DataFrame({c: values.get(c, empty) for c in columns}, columns=columns)
    tracks.index = pd.Index(plan["track_id"], name="track_id")
    tracks.to_csv(meta / "tracks.csv", date_format="%Y-%m-%d %H:%M:%S")
    counts = plan["genre"].value_counts()
    genres = pd.DataFrame(
        {
            "genre_id": list(FMA_GENRE_IDS.values()),
            "#tracks": [int(counts.get(g, 0)) for g in FMA_GENRE_IDS],
            "parent": 0,
            "title": list(FMA_GENRE_IDS),
            "top_level": list(FMA_GENRE_IDS.values()),
        }
    ).sort_values("genre_id")
    genres.to_csv(meta / "genres.csv", index=False)


@dataclass(frozen=True)
class Mp3Config:
    # FMA's clips are mostly 320 kbit/s CBR; LAME lowers it to the highest its MPEG version allows
    # for low sample rates (160 at 22.05 kHz).
    bit_rate_kbps: int = 320
    # LAME's algorithm quality, 0 (slow) to 9: 7 skips the full psychoacoustic model, about 4x
    # faster than libsndfile's built-in setting, which made encoding ~85% of a clip's cost.
    quality: int = 7


def mp3_bit_rate(sample_rate: int, config: Mp3Config = Mp3Config()) -> int:
    """Bits per second of ``encode_mp3``'s files: LAME caps each MPEG version's rates."""
    cap = 320 if sample_rate >= 32000 else 160 if sample_rate >= 16000 else 64
    return 1000 * min(config.bit_rate_kbps, cap)


def encode_mp3(audio: np.ndarray, sample_rate: int, config: Mp3Config = Mp3Config()) -> bytes:
    """float32 (samples, channels) in -1..1 to MP3 bytes."""
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(config.bit_rate_kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_channels(audio.shape[1])
    encoder.set_quality(config.quality)
    pcm = np.multiply(audio, np.float32(32767), dtype=np.float32)  # one new array, rounded in place
    np.rint(np.clip(pcm, -32767, 32767, out=pcm), out=pcm)
    return bytes(encoder.encode(pcm.astype("<i2").tobytes()) + encoder.flush())  # interleaved 16-bit frames


def render_to_file(task: tuple[int, str, int], out: Path, config: SynthConfig) -> int:
    track_id, genre, artist_id = task
    style = draw_artist_style(genre, np.random.default_rng([config.seed, 2, artist_id]))
    audio = render_track(
        style,
        np.random.default_rng([config.seed, 1, track_id]),
        seconds=config.seconds,
        sample_rate=config.sample_rate,
        channels=config.channels,
    )
    path = audio_path(out, "small", track_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.mp3")
    tmp.write_bytes(encode_mp3(audio, config.sample_rate))
    tmp.replace(path)  # a file under its final name is always complete
    return track_id


def _render_all(out: Path, todo: list[tuple[int, str, int]], config: SynthConfig) -> None:
    from tqdm import tqdm

    with tqdm(total=len(todo), unit="clip", desc="synth", disable=not config.progress, file=sys.stderr) as bar:
        for _ in ordered_map(render_to_file, todo, config.workers, out, config):
            bar.update(1)
