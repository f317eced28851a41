"""Several hosts prepare one data set: each its own shards and partial manifest, then one checked merge."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from genre.cli import main
from genre.data.features import get_kind
from genre.data.fma import load_fma_catalog
from genre.data.hosts import HOSTS_DIR, HostShare, host_manifest_path, merge_hosts, prepare_host
from genre.data.manifest import MANIFEST_NAME, ManifestError, read_manifest, sha256_file
from genre.data.prepare import PARTIAL_DIR, plan_shards, prepare
from tests.conftest import tiny_features, tiny_prepare
from tests.data.test_prepare import _prepare_command


def _tree_bytes(root: Path) -> dict[str, str]:
    """Every file's SHA-256 by path, less the hosts' partial manifests (the one thing a single host lacks)."""
    files = (p for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] != HOSTS_DIR)
    return {str(p.relative_to(root)): sha256_file(p) for p in files}


@pytest.fixture(scope="module")
def damaged_root(tmp_path_factory, synth_root) -> Path:
    """The tiny generated tree with one empty file, so that some host meets a clip it must skip."""
    root = tmp_path_factory.mktemp("hosts-fma") / "fma"
    shutil.copytree(synth_root, root)
    Path(load_fma_catalog(root).tracks["path"].iat[5]).write_bytes(b"")
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory, damaged_root) -> Path:
    """What one host prepares of that tree."""
    out = tmp_path_factory.mktemp("hosts-reference") / "data"
    prepare(load_fma_catalog(damaged_root), out, tiny_prepare())
    return out


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory, damaged_root) -> Path:
    """Host 0 then host 1 of 2 prepared into one folder, not merged."""
    out = tmp_path_factory.mktemp("hosts") / "data"
    for index in (0, 1):
        prepare_host(load_fma_catalog(damaged_root), out, tiny_prepare(), HostShare(2, index))
    return out


@pytest.fixture
def hosts_copy(two_hosts, tmp_path) -> Path:
    out = tmp_path / "data"
    shutil.copytree(two_hosts, out)
    return out


def test_two_hosts_and_a_merge_write_what_one_host_writes(hosts_copy, reference, damaged_root):
    plans = plan_shards(load_fma_catalog(damaged_root), tiny_prepare().shard_size, tiny_prepare().seed)
    assert len(plans) > 2
    with pytest.raises(ManifestError, match=r"no manifest; .* \(hosts' parts are there: run `genre prepare-merge "):
        read_manifest(hosts_copy)  # what `genre info` and every reader say before the merge
    reports = [json.loads(host_manifest_path(hosts_copy, HostShare(2, i)).read_text()) for i in (0, 1)]
    for index, report in enumerate(reports):  # each host holds shards number index, index + 2, ...
        assert list(report["shards"]) == [p.key for n, p in enumerate(plans) if n % 2 == index]
    # The skipped clip is reported by the host whose shard held it, and by no other.
    empty = load_fma_catalog(damaged_root).tracks["track_id"].iat[5]
    met = [[s["track_id"] for r in report["shards"].values() for s in r["skipped"]] for report in reports]
    assert sorted(met, key=len) == [[], [empty]]

    manifest = merge_hosts(hosts_copy)
    assert [s["track_id"] for s in manifest.skipped] == [empty]
    assert (hosts_copy / MANIFEST_NAME).read_bytes() == (reference / MANIFEST_NAME).read_bytes()
    assert _tree_bytes(hosts_copy) == _tree_bytes(reference)  # every shard, byte for byte; no .partial left
    assert merge_hosts(hosts_copy) == manifest  # merging again changes nothing


def test_merge_refuses_a_damaged_shard_naming_it_and_its_host_rewrites_it(hosts_copy, reference, damaged_root):
    record = next(iter(json.loads(host_manifest_path(hosts_copy, HostShare(2, 1)).read_text())["shards"].values()))
    damaged = hosts_copy / record["files"]["mel"]["file"]
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    message = (
        rf"{re.escape(str(damaged))}: SHA-256 differs from host 1's host-1-of-2\.json \(corrupt or changed shard\)"
    )
    with pytest.raises(ManifestError, match=message):
        merge_hosts(hosts_copy)
    assert not (hosts_copy / MANIFEST_NAME).exists()
    damaged.unlink()
    with pytest.raises(ManifestError, match=rf"{re.escape(str(damaged))}: missing, though host 1's"):
        merge_hosts(hosts_copy)

    untouched = {p: p.stat().st_mtime_ns for p in hosts_copy.rglob("*.tfrecord")}
    prepare_host(load_fma_catalog(damaged_root), hosts_copy, tiny_prepare(), HostShare(2, 1))
    rewritten = [p for p in hosts_copy.rglob("*.tfrecord") if untouched.get(p) != p.stat().st_mtime_ns]
    assert sorted(p.name for p in rewritten) == sorted(Path(e["file"]).name for e in record["files"].values())
    merge_hosts(hosts_copy)
    assert _tree_bytes(hosts_copy) == _tree_bytes(reference)


def test_merge_refuses_a_missing_host(hosts_copy):
    missing = host_manifest_path(hosts_copy, HostShare(2, 1))
    missing.unlink()
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(missing))}: missing: host 1 of 2 has not finished;"):
        merge_hosts(hosts_copy)
    (hosts_copy / PARTIAL_DIR / "host-1-of-2").mkdir(parents=True)
    with pytest.raises(ManifestError, match=r"has not finished \(it is under way: .*host-1-of-2 exists\)"):
        merge_hosts(hosts_copy)
    assert not (hosts_copy / MANIFEST_NAME).exists()
    shutil.rmtree(hosts_copy / HOSTS_DIR)
    with pytest.raises(ManifestError, match=rf"{re.escape(str(hosts_copy / HOSTS_DIR))}: no host's partial manifest"):
        merge_hosts(hosts_copy)


def test_merge_refuses_a_damaged_host_manifest_naming_it(hosts_copy):
    host1 = host_manifest_path(hosts_copy, HostShare(2, 1))
    text = host1.read_text()
    host1.write_text(text[: len(text) // 2])  # cut short, as by a full disk
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(host1))}: not valid JSON \(.*\); run this host's"):
        merge_hosts(hosts_copy)
    raw = json.loads(text)
    del raw["shards"]
    host1.write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(host1))}: missing field\(s\) \['shards'\]"):
        merge_hosts(hosts_copy)
    assert not (hosts_copy / MANIFEST_NAME).exists()


OTHER_SETTINGS = {
    "seed": (dict(seed=4), r"seed 4 vs 3"),
    "kinds": (dict(features=tiny_features(kinds=("raw", "mel"))), r"features\.handcrafted is only in host 0's"),
    "feature version": ("mel version 99", r"features\.mel\.version 99 vs \d+"),
    "shard size": (dict(shard_size=5), r"shard_size 5 vs 4"),
}


@pytest.mark.parametrize("setting", OTHER_SETTINGS)
def test_merge_refuses_hosts_that_ran_with_other_settings(setting, hosts_copy, damaged_root, tmp_path, monkeypatch):
    """Host 1 prepares on its own disk with one setting changed; its folder is then copied beside host 0's."""
    change, message = OTHER_SETTINGS[setting]
    if change == "mel version 99":
        monkeypatch.setattr(get_kind("mel"), "version", 99)
        change = {}
    elsewhere = tmp_path / "host1"
    prepare_host(load_fma_catalog(damaged_root), elsewhere, tiny_prepare(**change), HostShare(2, 1))
    monkeypatch.undo()
    host1 = host_manifest_path(hosts_copy, HostShare(2, 1))
    for record in json.loads(host1.read_text())["shards"].values():
        for entry in record["files"].values():
            (hosts_copy / entry["file"]).unlink()
    shutil.copytree(elsewhere, hosts_copy, dirs_exist_ok=True)
    full = rf"^{re.escape(str(host1))}: host 1 ran with other settings than host 0 \(host-0-of-2\.json\): {message};"
    with pytest.raises(ManifestError, match=full + " every host runs the same prepare command but for --host-index$"):
        merge_hosts(hosts_copy)
    assert not (hosts_copy / MANIFEST_NAME).exists()


def test_merge_refuses_hosts_of_different_host_counts(hosts_copy, damaged_root, tmp_path):
    elsewhere = tmp_path / "host1of3"
    prepare_host(load_fma_catalog(damaged_root), elsewhere, tiny_prepare(), HostShare(3, 1))
    host_manifest_path(hosts_copy, HostShare(2, 1)).unlink()
    shutil.copytree(elsewhere / HOSTS_DIR, hosts_copy / HOSTS_DIR, dirs_exist_ok=True)
    message = r"hosts ran with different host counts: host-0-of-2\.json \(2 hosts\), host-1-of-3\.json \(3 hosts\)"
    with pytest.raises(ManifestError, match=message):
        merge_hosts(hosts_copy)


def test_a_host_with_other_settings_is_refused_before_any_work(damaged_root, tmp_path):
    out = tmp_path / "data"
    catalog = load_fma_catalog(damaged_root)
    first = dataclasses.replace(catalog, tracks=catalog.tracks.iloc[:8].reset_index(drop=True))  # 2 shards: quick
    prepare_host(first, out, tiny_prepare(), HostShare(2, 0))
    host0 = host_manifest_path(out, HostShare(2, 0))
    with pytest.raises(ManifestError, match=rf"{re.escape(str(host0))}: host 0 of 2 prepares other inputs or settings"):
        prepare_host(first, out, tiny_prepare(seed=4), HostShare(2, 1))
    with pytest.raises(ManifestError, match=rf"{re.escape(str(host0))}: host 0 of 2 prepares into .*, not of 3"):
        prepare_host(first, out, tiny_prepare(), HostShare(3, 1))
    assert not (out / PARTIAL_DIR).exists() or not any((out / PARTIAL_DIR).iterdir())
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ManifestError, match=r"holds 'notes.txt', which no preparation writes"):
        prepare_host(first, out, tiny_prepare(), HostShare(2, 1))


def test_host_options_and_merge_errors_are_one_line(tmp_path, synth_root, capsys):
    base = ["prepare", "--fma", str(synth_root), "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--hosts", "2"]) == 2
    assert "--hosts 2 needs --host-index, this machine's share (0..1)" in capsys.readouterr().err
    assert main([*base, "--hosts", "2", "--host-index", "2"]) == 2
    assert "host_index must be in 0..1 for 2 hosts, got 2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["prepare-merge", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"genre prepare-merge: error: {tmp_path / HOSTS_DIR}: no host's partial manifest")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_hosts_at_once_into_one_folder_from_the_command_line(tmp_path, synth_root, capsys):
    out, single = tmp_path / "data", tmp_path / "single"
    hosts = [
        subprocess.Popen(
            [*_prepare_command(synth_root, out), "--hosts", "2", "--host-index", str(i)],
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in (0, 1)
    ]
    for host in hosts:
        stdout, stderr = host.communicate(timeout=300)
        assert host.returncode == 0, stderr[-2000:]
        assert "once every host has finished: genre prepare-merge" in stdout
    assert main(["prepare-merge", str(out)]) == 0
    assert "GENERATED DATA" in capsys.readouterr().out
    assert main(_prepare_command(synth_root, single)[3:]) == 0
    assert (out / MANIFEST_NAME).read_bytes() == (single / MANIFEST_NAME).read_bytes()
    assert _tree_bytes(out) == _tree_bytes(single)
