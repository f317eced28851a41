"""`DATA/manifest.json`: what a prepared data set holds, and the only index of its shards.

`prepare` writes it last, so its presence means the data set is complete. Everything that
reads prepared data (pipeline, baselines, reports, `genre info`) starts from `read_manifest`.
It holds no timings or dates: two preparations with the same inputs and seed are byte-identical.

Its `clips` table lists every clip the shards hold (`track_id`, `genre`, `split`, `artist_id`; the
artist is null where the source does not know it), so cross-validation folds can be drawn and
counted from the manifest alone (`genre.data.folds`). Skipped clips are not in it.
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from genre.data.catalog import SPLITS

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 2
# The fields every shard of a data set shares, set before any clip is read; the rest follow from the shards.
SETTINGS: tuple[str, ...] = (
    "format_version",
    "source",
    "synthetic",
    "genres",
    "features",
    "sample_rate",
    "duration",
    "seed",
    "shard_size",
    "versions",
    "identity",
)


class ManifestError(ValueError):
    """A prepared data set is missing, incomplete or does not match its manifest."""


@dataclass(frozen=True)
class Manifest:
    format_version: int
    source: dict
    synthetic: bool
    genres: list[str]
    counts: dict[str, dict[str, int]]  # {split: {genre: clips}}
    features: dict[str, dict]  # {kind: parameters, shape, dtype, ...}
    sample_rate: int
    duration: float
    seed: int
    shard_size: int
    skipped: list[dict]  # {track_id, path, reason}
    padded: list[dict]  # {track_id, path, seconds}
    versions: dict[str, str]
    shards: dict[str, dict[str, list[dict]]]  # {split: {kind: [{file, records, sha256}]}}
    clips: list[dict]  # {track_id, genre, split, artist_id}, sorted by track_id
    identity: str  # hash of everything that determines the bytes of the shards

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=False) + "\n"

    def clip_count(self, split: str) -> int:
        return sum(self.counts.get(split, {}).values())

    @property
    def has_artists(self) -> bool:
        """Every clip has an artist id, so folds can be grouped by artist."""
        return bool(self.clips) and all(c["artist_id"] is not None for c in self.clips)

    def skip_reasons(self) -> collections.Counter:
        """How many clips were skipped for each kind of reason (the text before its first colon)."""
        return collections.Counter(s["reason"].split(":")[0] for s in self.skipped)

    def shape(self, kind: str) -> tuple[int, ...]:
        self.require_kind(kind)
        return tuple(self.features[kind]["shape"])

    def require_kind(self, kind: str) -> None:
        if kind not in self.features:
            raise ManifestError(f"this data set has no {kind!r} features; it has {sorted(self.features)}")

    def require_split(self, split: str) -> None:
        if split not in SPLITS:
            raise ManifestError(f"unknown split {split!r}; valid splits are {list(SPLITS)}")


def read_manifest(data_dir: str | Path) -> Manifest:
    """The manifest of a prepared data set (its folder), or a manifest file copied elsewhere."""
    path = Path(data_dir) if Path(data_dir).is_file() else Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        hint = ""
        if (Path(data_dir) / "hosts").is_dir():
            hint = f" (hosts' parts are there: run `genre prepare-merge {data_dir}` once every host has finished)"
        elif (Path(data_dir) / ".partial").is_dir():
            hint = " (an interrupted preparation is there: run the same prepare command to finish it)"
        raise ManifestError(f"{path}: no manifest; {data_dir} is not a prepared data set{hint}")
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: not valid JSON ({err})") from err
    # The version first: an older manifest lacks newer fields, and "prepare it again" is the remedy.
    if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
        version = raw.get("format_version") if isinstance(raw, dict) else None
        raise ManifestError(f"{path}: format_version {version} is not the supported {FORMAT_VERSION}; prepare it again")
    names = [f.name for f in fields(Manifest)]
    missing = [n for n in names if n not in raw]
    if missing:
        raise ManifestError(f"{path}: missing field(s) {missing}")
    return Manifest(**{n: raw[n] for n in names})


def assemble_manifest(
    settings: dict, plan: list[tuple[str, str]], shards: dict[str, dict], source_skipped: list[dict], clips: list[dict]
) -> Manifest:
    """The manifest of a data set whose shards are all written, however many hosts wrote them.

    settings: the `SETTINGS` fields. plan: (split, key) of every shard, in plan order. shards: each key's
    record (`files` {kind: {file, records, sha256}}, `labels` {genre: clips}, the `skipped` and `padded`
    clips). source_skipped: the clips the source itself dropped. clips: the clip table, in any order.
    """
    kinds = list(settings["features"])
    counts = {s: {g: 0 for g in settings["genres"]} for s in SPLITS if any(split == s for split, _ in plan)}
    files: dict[str, dict[str, list]] = {s: {k: [] for k in kinds} for s in counts}
    skipped, padded = list(source_skipped), []
    for split, key in plan:
        record = shards[key]
        for genre, n in record["labels"].items():
            counts[split][genre] += n
        for kind in kinds:
            files[split][kind].append(record["files"][kind])
        skipped += record["skipped"]
        padded += record["padded"]
    return Manifest(
        **{name: settings[name] for name in SETTINGS},
        counts=counts,
        skipped=sorted(skipped, key=lambda s: s["track_id"]),
        padded=sorted(padded, key=lambda s: s["track_id"]),
        shards=files,
        clips=sorted(clips, key=lambda c: c["track_id"]),
    )


def write_manifest(data_dir: str | Path, manifest: Manifest) -> None:
    """Writes `DATA/manifest.json` whole or not at all (through a temporary file), as its presence means complete."""
    tmp = Path(data_dir) / (MANIFEST_NAME + ".tmp")
    tmp.write_text(manifest.to_json())
    tmp.replace(Path(data_dir) / MANIFEST_NAME)


def clip_table(tracks, skipped: Iterable[int] = ()) -> list[dict]:
    """The manifest's `clips`: one row per catalog clip (a frame with `track_id`, `genre`, `split` and,
    when the source knows it, `artist_id`) less the `skipped` track ids, sorted by track id."""
    left_out = {int(t) for t in skipped}
    artists = tracks["artist_id"] if "artist_id" in tracks.columns else [None] * len(tracks)
    rows = [
        {"track_id": int(t), "genre": str(g), "split": str(s), "artist_id": _artist(a)}
        for t, g, s, a in zip(tracks["track_id"], tracks["genre"], tracks["split"], artists, strict=True)
        if int(t) not in left_out
    ]
    return sorted(rows, key=lambda r: r["track_id"])


def _artist(value) -> int | str | None:
    if hasattr(value, "item"):  # a NumPy scalar
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    # tracks.csv's ids arrive as floats when the column has gaps; JSON keeps them as the integers they are.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else str(value)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
