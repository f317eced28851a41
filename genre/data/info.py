"""`genre info`: a prepared data set described for a person, from its manifest alone."""

from __future__ import annotations

from pathlib import Path

from genre.data.manifest import Manifest

SYNTHETIC_WARNING = "GENERATED DATA: synthetic music from `genre synth`; results on it say nothing about real music."


def describe(manifest: Manifest, data_dir: str | Path | None = None) -> str:
    lines = []
    if manifest.synthetic:
        lines += [f"!! {SYNTHETIC_WARNING}", ""]
    source = manifest.source
    lines.append(f"source    {source.get('kind')} at {source.get('root')}" + _source_details(source))
    lines.append(f"audio     {manifest.sample_rate} Hz mono, {manifest.duration:g} s per clip; seed {manifest.seed}")
    lines.append(f"genres    {len(manifest.genres)}: {', '.join(manifest.genres)}")
    lines.append("")
    lines.append(_counts_table(manifest))
    lines.append("")
    lines.append("features")
    for kind, spec in manifest.features.items():
        shape = "x".join(str(d) for d in spec["shape"])
        size = sum(_size(data_dir, e["file"]) for split in manifest.shards.values() for e in split[kind])
        version = f"v{spec.get('version', 1)}"  # a manifest from before kinds had versions: the first
        lines.append(f"  {kind:<12} {shape:<11} {spec['dtype']:<8} {version:<4} {_human(size) if data_dir else ''}")
    n_shards = sum(len(v) for split in manifest.shards.values() for v in split.values())
    lines.append(f"shards    {n_shards} TFRecord files, up to {manifest.shard_size} clips each")
    lines.append("")
    reasons = manifest.skip_reasons()
    lines.append(f"skipped   {len(manifest.skipped)} clip(s)")
    lines += [f"  {n:>6}  {reason}" for reason, n in reasons.most_common()]
    lines.append(f"padded    {len(manifest.padded)} clip(s) shorter than {manifest.duration:g} s, zero-padded")
    versions = ", ".join(f"{k} {v}" for k, v in manifest.versions.items())
    lines.append(f"versions  {versions}")
    return "\n".join(lines)


def _source_details(source: dict) -> str:
    parts = [f"{k} {source[k]}" for k in ("subset", "split") if k in source]
    return f" ({', '.join(parts)})" if parts else ""


def _counts_table(manifest: Manifest) -> str:
    splits = list(manifest.counts)
    width = max(len(g) for g in [*manifest.genres, "genre", "total"])
    rows = [f"{'genre':<{width}}  " + "  ".join(f"{s:>10}" for s in splits)]
    for genre in manifest.genres:
        rows.append(f"{genre:<{width}}  " + "  ".join(f"{manifest.counts[s][genre]:>10}" for s in splits))
    rows.append(f"{'total':<{width}}  " + "  ".join(f"{manifest.clip_count(s):>10}" for s in splits))
    return "\n".join(rows)


def _size(data_dir: str | Path | None, file: str) -> int:
    if data_dir is None:
        return 0
    path = Path(data_dir) / file
    return path.stat().st_size if path.is_file() else 0


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"
