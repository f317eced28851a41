"""The ordered process pool: results in task order, and workers that die with their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genre.parallel import ordered_map

ROOT = Path(__file__).resolve().parents[1]


def test_results_come_in_task_order_inline_and_in_workers():
    tasks = list(range(-20, 20))
    expected = [pow(t, 3, 1000) for t in tasks]
    assert list(ordered_map(pow, tasks, 1, 3, 1000)) == expected
    assert list(ordered_map(pow, tasks, 2, 3, 1000)) == expected


def _children(pid: int) -> list[int]:
    """Pool workers (spawned processes) whose parent is ``pid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


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
    try:
        deadline = time.monotonic() + 60
        # Kill once both workers run tasks (a clip is written): past their start-up, where a dead
        # parent would end them anyway (they read their start-up data from it).
        while len(workers) < 2 or not any(out.glob("fma_small/*/*.mp3")):
            assert parent.poll() is None, "genre synth ended before it could be killed"
            assert time.monotonic() < deadline, f"no two working workers after 60 s; found {workers}"
            workers = _children(parent.pid)
            time.sleep(0.05)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 5
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "workers outlived their killed parent by 5 s"
    finally:
        parent.kill()
        for w in workers:  # only this test's own workers, by id
            if _alive(w):
                os.kill(w, signal.SIGKILL)
