"""The ordered process pool: results in task order, and workers that die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genre import parallel
from genre.parallel import ordered_map

ROOT = Path(__file__).resolve().parents[1]


def test_results_come_in_task_order_inline_and_in_workers():
    tasks = list(range(-20, 20))
    expected = [pow(t, 3, 1000) for t in tasks]
    assert list(ordered_map(pow, tasks, 1, 3, 1000)) == expected
    assert list(ordered_map(pow, tasks, 2, 3, 1000)) == expected


@pytest.mark.skipif(
    "forkserver" not in __import__("multiprocessing").get_all_start_methods(), reason="no fork server here"
)
def test_workers_start_with_the_task_module_imported():
    # A fresh interpreter, so its fork server is started by this pool and preloads this task's module.
    code = "from genre.parallel import ordered_map; from tests.pool_tasks import importer; "
    code += "print(*(importer == worker for worker, importer in ordered_map(importer, range(4), 2)))"
    # `importer == worker`: the worker imported the module itself, as a spawned one does (about 1 s of CPU).
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"] * 4


def test_the_fork_server_preloads_what_the_main_script_imports(monkeypatch):
    import types

    script = types.ModuleType("__main__")
    exec("import json\nfrom genre.data.audio import load_clip\nLIMIT = 3", script.__dict__)
    script.tf = types.ModuleType("tensorflow")  # its threads would make the server's forks unsafe
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert parallel.main_imports() == ["genre.data.audio", "json"]


def _pool_processes(pid: int) -> tuple[list[int], list[int]]:
    """The pool workers descending from ``pid`` (spawned by it, or forked by a fork server it
    started), and those fork servers, read from /proc."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        parents[int(entry.name)] = (ppid, b"forkserver" in cmdline, b"spawn_main" in cmdline)
    servers = [p for p, (ppid, server, _) in parents.items() if ppid == pid and server]
    workers = [p for p, (ppid, server, spawned) in parents.items() if (ppid == pid and spawned) or ppid in servers]
    return workers, servers


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; an init that does not reap it is not our concern


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path):
    out = tmp_path / "fma"
    command = [sys.executable, "-m", "genre", "synth", "--out", str(out), "--tracks-per-genre", "8"]
    command += ["--seconds", "10", "--sample-rate", "22050", "--channels", "1", "--workers", "2", "--quiet"]
    parent = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        # Kill once both workers run tasks (a clip is written): past their start-up, where a dead
        # parent would end them anyway (they read their start-up data from it).
        while len(workers) < 2 or not any(out.glob("fma_small/*/*.mp3")):
            assert parent.poll() is None, "genre synth ended before it could be killed"
            assert time.monotonic() < deadline, f"no two working workers after 60 s; found {workers}"
            workers, servers = _pool_processes(parent.pid)
            time.sleep(0.05)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers + servers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "workers outlived their killed parent by 5 s"
        assert not [s for s in servers if _alive(s)], "the fork server outlived its killed parent by 5 s"
    finally:
        parent.kill()
        for w in workers + servers:  # only this test's own pool processes, by id
            if _alive(w):
                os.kill(w, signal.SIGKILL)
