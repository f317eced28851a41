"""Several hosts prepare one data set: each writes its own share of the shards, one merge writes the manifest.

The shards are numbered in plan order over every split (`plan_shards`: train, then validation, then
test); shard n belongs to host n % hosts. Each host knows its share from the catalog, the settings
and its own index alone: no coordination, no lock, and no file that two hosts write. Host I of N
writes its shards (byte for byte those a single-host `prepare` writes) and, last, its partial
manifest `DATA/hosts/host-I-of-N.json`: the settings, the record of each of its shards (files with
their SHA-256, clips per genre, the clips it skipped or padded) and its part of the clip table. Its
resumable state lives in `DATA/.partial/host-I-of-N/`; run again, it rewrites only what is missing
or damaged.

`merge_hosts` runs once every host has finished and all their files are in one folder (a shared file
system, or each host's folder copied together; no two hosts have a file in common). It checks that
every host is there and ran with the same settings and software, that every shard is held by its
host and by no other, and every shard file's SHA-256; then it writes `DATA/manifest.json`, the bytes a
single-host `prepare` writes. A failed check is a one-line error naming the file or host and what to
do, and writes nothing. The hosts' partial manifests stay, as the record of which host met which
skipped clip.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import reprlib
import shutil
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from genre.data.catalog import SPLITS, Catalog
from genre.data.manifest import (
    MANIFEST_NAME,
    SETTINGS,
    Manifest,
    ManifestError,
    assemble_manifest,
    clip_table,
    read_manifest,
    sha256_file,
    write_manifest,
)
from genre.data.prepare import (
    PARTIAL_DIR,
    OutputError,
    PrepareConfig,
    data_set_identity,
    manifest_settings,
    plan_shards,
    shard_intact,
    shard_key,
    write_shards,
    writing,
)

HOSTS_DIR = "hosts"
_HOST_NAME = re.compile(r"host-(\d+)-of-(\d+)")
SAME_COMMAND = "every host runs the same prepare command but for --host-index"


@dataclass(frozen=True)
class HostShare:
    """Which part of a preparation one host does: shard n (in plan order) is host n % hosts's."""

    hosts: int
    index: int

    def __post_init__(self) -> None:
        if self.hosts < 2:
            raise ValueError(f"hosts must be at least 2 to share a preparation, got {self.hosts}")
        if not 0 <= self.index < self.hosts:
            raise ValueError(f"host_index must be in 0..{self.hosts - 1} for {self.hosts} hosts, got {self.index}")

    @property
    def name(self) -> str:
        return f"host-{self.index}-of-{self.hosts}"

    def owns(self, number: int) -> bool:
        return number % self.hosts == self.index


@dataclass(frozen=True)
class HostManifest:
    """`DATA/hosts/host-I-of-N.json`: what host I of N wrote, and everything the merge needs of it."""

    host: int
    hosts: int
    settings: dict  # the manifest's SETTINGS fields
    source_skipped: list[dict]  # clips the source itself dropped (every host lists the same)
    plan: list[list]  # [split, index, count] of every shard of the data set, in plan order
    shards: dict[str, dict]  # {key: record} of this host's shards
    clips: list[dict]  # the clip table's rows of this host's shards

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


def host_manifest_path(out: str | Path, share: HostShare) -> Path:
    return Path(out) / HOSTS_DIR / f"{share.name}.json"


def prepare_host(catalog: Catalog, out: str | Path, config: PrepareConfig, share: HostShare) -> HostManifest:
    """Writes this host's shards of the data set `prepare(catalog, out, config)` would write, and its
    partial manifest; `merge_hosts` makes the data set once every host has done so."""
    out = Path(out)
    plans = plan_shards(catalog, config.shard_size, config.seed)
    identity = data_set_identity(catalog, config, plans)
    mine = [p for n, p in enumerate(plans) if share.owns(n)]
    finished = _check_host_out_dir(out, identity, share)
    known = finished.shards if finished is not None else {}
    if finished is not None and all(p.key in known and shard_intact(out, known[p.key]) for p in mine):
        _log(config, f"{share.name}: {out} already holds this host's shards; nothing to do")
        return finished

    clips = sum(len(p.rows) for p in mine)
    _log(config, f"{share.name}: {len(mine)} of the {len(plans)} shards ({clips} clips) are this host's")
    partial = out / PARTIAL_DIR / share.name
    done, processed, elapsed = write_shards(catalog, out, config, mine, partial, identity, known)
    records = {p.key: done[p.key] for p in mine}
    my_ids = {track_id for p in mine for track_id, _, _ in p.rows}
    skipped_ids = [s.track_id for s in catalog.skipped] + [
        s["track_id"] for r in records.values() for s in r["skipped"]
    ]
    report = HostManifest(
        host=share.index,
        hosts=share.hosts,
        settings=manifest_settings(catalog, config, identity),
        source_skipped=[s.as_dict() for s in catalog.skipped],
        plan=[[p.split, p.index, p.count] for p in plans],
        shards=records,
        clips=clip_table(catalog.tracks[catalog.tracks["track_id"].isin(my_ids)], skipped_ids),
    )
    path = host_manifest_path(out, share)
    with writing(path):
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(report.to_json())
        tmp.replace(path)
    shutil.rmtree(partial)
    _log(config, _host_summary(report, processed, elapsed))
    return report


def merge_hosts(out: str | Path) -> Manifest:
    """Checks every host's part of the data set in `out` and writes its manifest; see the module docstring."""
    out = Path(out)
    reports = _read_host_manifests(out)
    first_path, first = reports[0]
    for path, report in reports[1:]:
        difference = _settings_difference(first, report)
        if difference is not None:
            raise ManifestError(
                f"{path}: host {report.host} ran with other settings than host 0 ({first_path.name}): "
                f"{difference}; {SAME_COMMAND}"
            )
    if (out / MANIFEST_NAME).is_file() and read_manifest(out).identity != first.settings["identity"]:
        raise ManifestError(f"{out / MANIFEST_NAME}: a data set prepared from other inputs or settings is already here")
    keys = [(split, shard_key(split, index)) for split, index, _ in first.plan]
    _check_coverage(reports, [key for _, key in keys])
    for path, report in reports:
        for key in sorted(report.shards):
            _check_shard_files(out, path, report, key)

    shards = {key: record for _, report in reports for key, record in report.shards.items()}
    manifest = assemble_manifest(
        first.settings, keys, shards, first.source_skipped, [c for _, r in reports for c in r.clips]
    )
    try:
        write_manifest(out, manifest)
    except OSError as err:
        raise OutputError(f"{out / MANIFEST_NAME}: cannot write: {err.strerror or err}; merge again") from err
    with contextlib.suppress(OSError):  # every host has removed its own state; a non-empty folder is someone's
        (out / PARTIAL_DIR).rmdir()
    return manifest


def _check_host_out_dir(out: Path, identity: str, share: HostShare) -> HostManifest | None:
    """This host's own partial manifest when an earlier run finished it; an error when `out` holds
    anything of another data set, another host count or settings, or of no preparation at all."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a folder; hosts write into a folder, not onto a file")
    if not out.is_dir():
        return None
    if (out / MANIFEST_NAME).is_file() and read_manifest(out).identity != identity:
        raise ManifestError(
            f"{out} already holds a data set prepared from other inputs or settings; choose another --out"
        )
    foreign = sorted(p.name for p in out.iterdir() if p.name not in (*SPLITS, PARTIAL_DIR, HOSTS_DIR, MANIFEST_NAME))
    if foreign:
        raise ManifestError(
            f"{out} holds {foreign[0]!r}, which no preparation writes; hosts write into a new folder, or one of theirs"
        )
    if (out / PARTIAL_DIR / "identity").is_file():
        raise ManifestError(
            f"{out} holds an interrupted single-host preparation; rerun that command to finish it, or remove {out}"
        )
    for path, hosts, index, other in _host_states(out):
        if hosts != share.hosts:
            raise ManifestError(
                f"{path}: host {index} of {hosts} prepares into {out}, not of {share.hosts}; {SAME_COMMAND}"
            )
        if other != identity:
            raise ManifestError(f"{path}: host {index} of {hosts} prepares other inputs or settings; {SAME_COMMAND}")
    own = host_manifest_path(out, share)
    return _read_host_manifest(own) if own.is_file() else None


def _host_states(out: Path):
    """(path, hosts, index, identity) of every host's state in `out`: its partial manifest or its unfinished run."""
    for folder in sorted((out / PARTIAL_DIR).glob("host-*-of-*")):
        match = _HOST_NAME.fullmatch(folder.name)
        try:
            identity = (folder / "identity").read_text() if match else None
        except FileNotFoundError:  # not begun, or just finished: its partial manifest then follows
            continue
        if identity is not None:
            yield folder, int(match[2]), int(match[1]), identity
    for path in sorted((out / HOSTS_DIR).glob("host-*-of-*.json")):
        report = _read_host_manifest(path)
        yield path, report.hosts, report.host, report.settings["identity"]


def _read_host_manifests(out: Path) -> list[tuple[Path, HostManifest]]:
    """Every host's partial manifest, host 0 first; an error unless they come from one host count and all are there."""
    paths = sorted(p for p in (out / HOSTS_DIR).glob("host-*-of-*.json") if _HOST_NAME.fullmatch(p.stem))
    if not paths:
        raise ManifestError(
            f"{out / HOSTS_DIR}: no host's partial manifest; run `genre prepare ... --hosts N --host-index I` on "
            "every host first, and bring their folders together"
        )
    reports = [(p, _read_host_manifest(p)) for p in paths]
    counts = sorted({r.hosts for _, r in reports})
    if len(counts) > 1:
        named = ", ".join(f"{next(p.name for p, r in reports if r.hosts == n)} ({n} hosts)" for n in counts)
        raise ManifestError(f"{out / HOSTS_DIR}: hosts ran with different host counts: {named}; {SAME_COMMAND}")
    hosts = counts[0]
    by_index = {r.host: (p, r) for p, r in reports}
    for index in range(hosts):
        if index not in by_index:
            share = HostShare(hosts, index)
            unfinished = out / PARTIAL_DIR / share.name
            state = f" (it is under way: {unfinished} exists)" if unfinished.is_dir() else ""
            raise ManifestError(
                f"{host_manifest_path(out, share)}: missing: host {index} of {hosts} has not finished{state}; "
                f"run its prepare command (--hosts {hosts} --host-index {index}), then merge again"
            )
    return [by_index[i] for i in range(hosts)]


def _read_host_manifest(path: Path) -> HostManifest:
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(f"{path}: not valid JSON ({err}); run this host's prepare command again") from err
    names = [f.name for f in fields(HostManifest)]
    missing = [n for n in names if n not in raw] if isinstance(raw, dict) else names
    missing += [n for n in SETTINGS if n not in raw.get("settings", {})] if not missing else []
    if missing:
        raise ManifestError(f"{path}: missing field(s) {missing}; run this host's prepare command again")
    report = HostManifest(**{n: raw[n] for n in names})
    if path.stem != f"host-{report.host}-of-{report.hosts}":
        raise ManifestError(f"{path}: holds host {report.host} of {report.hosts}, not what its name says")
    return report


def _settings_difference(first: HostManifest, other: HostManifest) -> str | None:
    """What `other` ran with that host 0 did not, as `field: other's value vs host 0's`, or None."""
    for name in SETTINGS:
        if name != "identity" and (found := _difference(other.settings[name], first.settings[name], name)):
            return found
    for name in ("source_skipped", "plan"):
        if found := _difference(getattr(other, name), getattr(first, name), name):
            return found
    if other.settings["identity"] != first.settings["identity"]:
        return "the catalog (its tracks, their files or genres)"
    return None


def _difference(value, reference, where: str) -> str | None:
    """The first place where `value` differs from `reference`, descending into dicts and equal-length lists."""
    if isinstance(value, dict) and isinstance(reference, dict):
        for key in dict.fromkeys([*reference, *value]):
            if key not in value or key not in reference:
                return f"{where}.{key} is only in " + ("host 0's" if key in reference else "this host's")
            difference = _difference(value[key], reference[key], f"{where}.{key}")
            if difference is not None:
                return difference
        return None
    if isinstance(value, list) and isinstance(reference, list) and len(value) == len(reference):
        for i, (a, b) in enumerate(zip(value, reference, strict=True)):
            difference = _difference(a, b, f"{where}[{i}]")
            if difference is not None:
                return difference
        return None
    return None if value == reference else f"{where} {reprlib.repr(value)} vs {reprlib.repr(reference)}"


def _check_coverage(reports: list[tuple[Path, HostManifest]], keys: list[str]) -> None:
    """Every shard of the plan is in its own host's partial manifest and in no other's."""
    hosts = len(reports)
    for number, key in enumerate(keys):
        owner_path, owner = reports[number % hosts]
        if key not in owner.shards:
            raise ManifestError(
                f"{owner_path}: lacks shard {key}, which is host {owner.host}'s; run its prepare command again"
            )
    planned = set(keys)
    for path, report in reports:
        for key in sorted(report.shards):
            if key not in planned or keys.index(key) % hosts != report.host:
                raise ManifestError(f"{path}: lists shard {key}, which is not host {report.host}'s; {SAME_COMMAND}")


def _check_shard_files(out: Path, path: Path, report: HostManifest, key: str) -> None:
    redo = f"run host {report.host}'s prepare command again to rewrite it, then merge"
    for entry in report.shards[key]["files"].values():
        file = out / entry["file"]
        if not file.is_file():
            raise ManifestError(f"{file}: missing, though host {report.host}'s {path.name} lists it; {redo}")
        if sha256_file(file) != entry["sha256"]:
            raise ManifestError(
                f"{file}: SHA-256 differs from host {report.host}'s {path.name} (corrupt or changed shard); {redo}"
            )


def _host_summary(report: HostManifest, processed: int, elapsed: float) -> str:
    records = report.shards.values()
    kept = sum(sum(r["labels"].values()) for r in records)
    skipped = [s for r in records for s in r["skipped"]]
    reasons = dict(collections.Counter(s["reason"].split(":")[0] for s in skipped))
    return "\n".join(
        [
            f"host {report.host} of {report.hosts}: wrote {kept} clips in {len(report.shards)} shards; "
            f"processed {processed} in {elapsed:.1f} s ({processed / max(elapsed, 1e-9):.1f} clips/s)",
            f"skipped {len(skipped)} here" + (f": {reasons}" if reasons else ""),
            f"padded {sum(len(r['padded']) for r in records)} here",
        ]
    )


def _log(config: PrepareConfig, message: str) -> None:
    if config.progress:
        print(message, file=sys.stderr)
