"""`prepare`: a catalog in, sharded TFRecords and a manifest out; parallel, resumable, reproducible.

The catalog's clips are split into shards (per split, a seeded permutation cut into pieces of
`shard_size`). Worker processes decode clips and compute every requested feature kind (see
`genre.data.features`); this process receives the results in plan order and writes one TFRecord
file per shard and kind. A finished shard is renamed into place and recorded in
`DATA/.partial/`; a killed run resumes from there, skipping finished shards, and because every
byte depends only on the inputs and the seed, the result equals an uninterrupted run. The
manifest is written last, so it exists only for a complete data set.

A clip that cannot be used (missing, unreadable, empty, undecodable, too short, silent, or one
whose worker process died) is skipped and listed in the manifest with its reason; nothing else is
lost. An output folder that cannot be written is an error before any work; a write that fails (a
full disk) is an error naming the file, and the finished shards stay for the rerun to resume from.

`genre.data.hosts` shares one preparation among machines through `write_shards` and `assemble_manifest`.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genre.data.audio import AudioConfig, Clip, ClipError, load_clip
from genre.data.catalog import SPLITS, Catalog
from genre.data.features import FeatureConfig, compute_features
from genre.data.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    assemble_manifest,
    clip_table,
    sha256_file,
    write_manifest,
)
from genre.data.records import encode_example
from genre.parallel import ordered_map

PARTIAL_DIR = ".partial"
RESUME_HINT = "finished shards are kept: free space (or fix permissions) and run the same command again to resume"


@dataclass(frozen=True)
class PrepareConfig:
    features: FeatureConfig = field(default_factory=FeatureConfig)
    shard_size: int = 256  # clips per shard
    seed: int = 0
    workers: int | None = None  # processes; None: every core this process may use; 1: in this process
    progress: bool = True
    # How a file becomes a Clip; a module-level function, since worker processes receive it by name.
    decode: Callable[[str, AudioConfig], Clip] = load_clip

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ValueError(f"shard_size must be at least 1, got {self.shard_size}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")


@dataclass(frozen=True)
class ShardPlan:
    split: str
    index: int
    count: int
    rows: tuple[tuple[int, str, int], ...]  # (track_id, path, label)

    @property
    def key(self) -> str:
        return shard_key(self.split, self.index)

    def file(self, kind: str) -> str:
        return f"{self.split}/{kind}-{self.index:05d}-of-{self.count:05d}.tfrecord"


def shard_key(split: str, index: int) -> str:
    return f"{split}-{index:05d}"


@dataclass(frozen=True)
class ClipResult:
    track_id: int
    features: dict[str, np.ndarray] | None
    seconds: float = 0.0
    reason: str = ""
    cut_short: str = ""


class OutputError(OSError):
    """The data set cannot be written where asked; the message names the file and what to do."""


def plan_shards(catalog: Catalog, shard_size: int, seed: int) -> list[ShardPlan]:
    plans = []
    tracks = catalog.tracks.sort_values("track_id")
    for split_index, split in enumerate(SPLITS):
        part = tracks[tracks["split"] == split]
        if part.empty:
            continue
        # A seeded order, so a shuffle buffer reading a few shards sees every genre.
        order = np.random.default_rng([seed, split_index]).permutation(len(part))
        rows = [
            (int(part["track_id"].iat[i]), str(part["path"].iat[i]), catalog.label(part["genre"].iat[i])) for i in order
        ]
        count = -(-len(rows) // shard_size)
        for index, chunk in enumerate(np.array_split(np.arange(len(rows)), count)):
            plans.append(ShardPlan(split, index, count, tuple(rows[i] for i in chunk)))
    return plans


def process_clip(task: tuple[int, str], config: FeatureConfig, decode=load_clip) -> ClipResult:
    """Decode and featurise one clip; any failure becomes a skip reason, never an exception."""
    track_id, path = task
    try:
        clip = decode(path, config.audio)
        return ClipResult(track_id, compute_features(clip, config), clip.seconds, cut_short=clip.cut_short)
    except ClipError as err:
        return ClipResult(track_id, None, reason=str(err))
    except Exception as err:  # a bad clip must not end a long run: it is recorded and counted instead
        return ClipResult(track_id, None, reason=f"feature extraction failed: {type(err).__name__}: {err}")


def worker_died(task: tuple[int, str]) -> ClipResult:
    reason = "worker process died preparing this clip (a crash in a decoder, or killed: out of memory?)"
    return ClipResult(task[0], None, reason=reason)


def prepare(catalog: Catalog, out: str | Path, config: PrepareConfig = PrepareConfig()) -> Manifest:
    out = Path(out)
    plans = plan_shards(catalog, config.shard_size, config.seed)
    identity = data_set_identity(catalog, config, plans)
    existing = _check_out_dir(out, identity)
    if existing is not None:
        _log(config, f"{out} already holds this prepared data set; nothing to do")
        return existing

    partial = out / PARTIAL_DIR
    done, processed, elapsed = write_shards(catalog, out, config, plans, partial, identity)
    skipped_ids = [s.track_id for s in catalog.skipped] + [s["track_id"] for m in done.values() for s in m["skipped"]]
    manifest = assemble_manifest(
        manifest_settings(catalog, config, identity),
        [(p.split, p.key) for p in plans],
        done,
        [s.as_dict() for s in catalog.skipped],
        clip_table(catalog.tracks, skipped_ids),
    )
    with writing(out / MANIFEST_NAME):
        write_manifest(out, manifest)
    shutil.rmtree(partial)
    _log(config, _summary(manifest, processed, elapsed))
    return manifest


def write_shards(
    catalog: Catalog,
    out: Path,
    config: PrepareConfig,
    plans: list[ShardPlan],
    partial: Path,
    identity: str,
    known: Mapping[str, dict] | None = None,
) -> tuple[dict[str, dict], int, float]:
    """Writes every shard of `plans` that is not finished yet, and records each one as it finishes.

    partial: the folder of this run's resumable state (the identity, one record per finished shard).
    known: records of shards finished by an earlier run but kept elsewhere; like those in `partial`,
    one counts only if its files are intact. Returns every shard's record by key, the clips
    processed now, and the seconds that took.
    """
    known = known or {}
    with writing(partial / "identity", "choose another --out, or make it writable"):
        partial.mkdir(parents=True, exist_ok=True)
        # Whole or absent: a host starting beside this one reads it to check they prepare the same data set.
        (partial / "identity.tmp").write_text(identity)
        (partial / "identity.tmp").replace(partial / "identity")
    done = {p.key: m for p in plans if (m := _finished_shard(out, partial, p, known.get(p.key))) is not None}
    todo = [p for p in plans if p.key not in done]
    total = sum(len(p.rows) for p in todo)
    if done:
        _log(config, f"resuming: {len(done)} of {len(plans)} shards already done, {total} clips to go")

    started = time.perf_counter()
    tasks = [(track_id, path) for plan in todo for track_id, path, _ in plan.rows]
    results = ordered_map(process_clip, tasks, config.workers, config.features, config.decode, crashed=worker_died)
    progress = _progress_bar(total, config)
    skipped_now = 0
    try:
        for plan in todo:
            marker = _write_shard(out, partial, plan, catalog, config, results, progress)
            skipped_now += len(marker["skipped"])
            progress.set_postfix(skipped=skipped_now, refresh=False)
            done[plan.key] = marker
    finally:
        progress.close()
        results.close()
    return done, total, time.perf_counter() - started


@contextlib.contextmanager
def writing(path: Path, remedy: str = RESUME_HINT) -> Iterator[None]:
    """An OSError or TensorFlow's own write error inside (a full disk, a read-only or vanished
    folder) becomes one OutputError naming ``path``; what is finished stays for a rerun."""
    import tensorflow as tf

    try:
        yield
    except (OSError, tf.errors.OpError) as err:
        detail = getattr(err, "strerror", None) or str(getattr(err, "message", "") or err).split(";")[-1].strip()
        raise OutputError(f"{path}: cannot write: {detail or type(err).__name__}; {remedy}") from err


def _write_shard(out, partial, plan, catalog, config, results, progress) -> dict:
    kinds = config.features.kinds
    tmp_paths = {k: out / (plan.file(k) + ".tmp") for k in kinds}
    try:
        marker = _write_shard_files(out, plan, catalog, config, results, progress, tmp_paths)
    except OutputError:
        for tmp in tmp_paths.values():  # a failed shard is written again in full; free what it took
            tmp.unlink(missing_ok=True)
        raise
    tmp_marker = partial / f"{plan.key}.json.tmp"
    with writing(tmp_marker):
        tmp_marker.write_text(json.dumps(marker))
        tmp_marker.replace(partial / f"{plan.key}.json")
    return marker


def _write_shard_files(out, plan, catalog, config, results, progress, tmp_paths) -> dict:
    import tensorflow as tf

    kinds = config.features.kinds
    writers = {}
    with writing(out / plan.split):
        (out / plan.split).mkdir(parents=True, exist_ok=True)
    for kind, path in tmp_paths.items():
        with writing(path):
            writers[kind] = tf.io.TFRecordWriter(str(path))
    skipped, padded, labels = [], [], collections.Counter()
    tolerance = config.features.audio.duration - config.features.audio.pad_tolerance
    try:
        for track_id, path, label in plan.rows:
            result = next(results)
            assert result.track_id == track_id, "results arrive in plan order"
            progress.update(1)
            if result.features is None:
                skipped.append({"track_id": track_id, "path": path, "reason": result.reason})
                continue
            if result.seconds < tolerance:
                seconds, reason = round(result.seconds, 3), result.cut_short or "short file"
                padded.append({"track_id": track_id, "path": path, "seconds": seconds, "reason": reason})
            for kind in kinds:
                example = encode_example(
                    kind, result.features[kind], track_id=track_id, label=label, seconds=result.seconds
                )
                with writing(tmp_paths[kind]):
                    writers[kind].write(example)
            labels[catalog.genres[label]] += 1
    finally:
        for kind, writer in writers.items():
            with writing(tmp_paths[kind]):
                writer.close()
    files = {}
    for kind, tmp in tmp_paths.items():
        final = out / plan.file(kind)
        with writing(final):
            tmp.replace(final)
        files[kind] = {"file": plan.file(kind), "records": labels.total(), "sha256": sha256_file(final)}
    return {
        "files": files,
        "labels": dict(sorted(labels.items())),
        "skipped": skipped,
        "padded": padded,
    }


def _finished_shard(out: Path, partial: Path, plan: ShardPlan, known: dict | None) -> dict | None:
    """The record of a shard finished by an earlier run (`known`, else its marker in `partial`), if its
    files are intact."""
    marker_path = partial / f"{plan.key}.json"
    marker = known if known is not None else json.loads(marker_path.read_text()) if marker_path.is_file() else None
    return marker if marker is not None and shard_intact(out, marker) else None


def shard_intact(out: Path, record: dict) -> bool:
    """Every file of a shard's record is in `out` with the SHA-256 the record gives it."""
    for entry in record["files"].values():
        path = out / entry["file"]
        if not path.is_file() or sha256_file(path) != entry["sha256"]:
            return False
    return True


def _check_out_dir(out: Path, identity: str) -> Manifest | None:
    """The finished manifest when `out` already holds exactly this data set; an error when it holds another."""
    from genre.data.manifest import read_manifest

    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; prepare writes into a new or empty folder")
    if (out / MANIFEST_NAME).is_file():
        manifest = read_manifest(out)
        if manifest.identity == identity:
            return manifest
        raise ManifestError(
            f"{out} already holds a data set prepared from other inputs or settings; choose another --out"
        )
    identity_file = out / PARTIAL_DIR / "identity"
    if identity_file.is_file():
        if identity_file.read_text() != identity:
            raise ManifestError(
                f"{out} holds an interrupted preparation with other inputs or settings; "
                f"rerun that command to finish it, or remove {out}"
            )
        return None
    if out.exists() and any(out.iterdir()):
        raise ManifestError(f"{out} exists and is not empty; prepare writes into a new or empty folder")
    return None


def data_set_identity(catalog: Catalog, config: PrepareConfig, plans: list[ShardPlan]) -> str:
    blob = json.dumps(
        {
            "format_version": FORMAT_VERSION,
            "features": config.features.describe(),
            "audio": asdict(config.features.audio),
            "seed": config.seed,
            "shard_size": config.shard_size,
            "source": catalog.source,
            "genres": catalog.genres,
            "plans": [[p.split, p.index, p.count, p.rows] for p in plans],
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def manifest_settings(catalog: Catalog, config: PrepareConfig, identity: str) -> dict:
    """The manifest's `SETTINGS` fields: what every shard of this data set shares, on any host."""
    audio = config.features.audio
    return {
        "format_version": FORMAT_VERSION,
        "source": catalog.source,
        "synthetic": catalog.synthetic,
        "genres": list(catalog.genres),
        "features": config.features.describe(),
        "sample_rate": audio.sample_rate,
        "duration": audio.duration,
        "seed": config.seed,
        "shard_size": config.shard_size,
        "versions": _versions(),
        "identity": identity,
    }


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    import soundfile

    versions = {"python": platform.python_version(), "libsndfile": soundfile.__libsndfile_version__}
    for package in (
        "genre",
        "numpy",
        "librosa",
        "soundfile",
        "soxr",
        "tensorflow-cpu",
        "tensorflow",
        "pandas",
    ):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            continue
    return versions


def _progress_bar(total: int, config: PrepareConfig):
    from tqdm import tqdm

    return tqdm(total=total, unit="clip", desc="prepare", disable=not config.progress, file=sys.stderr, smoothing=0.1)


def _log(config: PrepareConfig, message: str) -> None:
    if config.progress:
        print(message, file=sys.stderr)


def _summary(manifest: Manifest, processed: int, elapsed: float) -> str:
    per_split = ", ".join(f"{s} {manifest.clip_count(s)}" for s in manifest.counts)
    reasons = manifest.skip_reasons()
    lines = [
        f"prepared {sum(manifest.clip_count(s) for s in manifest.counts)} clips ({per_split}); "
        f"processed {processed} in {elapsed:.1f} s ({processed / max(elapsed, 1e-9):.1f} clips/s)",
        f"skipped {len(manifest.skipped)}" + (f": {dict(reasons)}" if reasons else ""),
        f"padded {len(manifest.padded)} (shorter than {manifest.duration:g} s by more than the tolerance)",
    ]
    return "\n".join(lines)
