"""Times the README's first command on a fresh clone, as a newcomer runs it, on each Keras backend.

    python scripts/fresh_machine.py [--backend tensorflow --backend jax] [--pip-cache DIR] [--out FILE.json]

For each backend: clones the repository's committed HEAD into a new temporary folder, points HOME
there at an empty folder (no pip, genre, Keras, numba or XLA caches: compilation starts cold), and
runs the README's first command line exactly as written (read from README.md) under `bash -c`, with
`KERAS_BACKEND` set. Every line the command prints is timestamped as it arrives. The figures:

- install: from the start to pip's "Successfully installed" line (venv and `pip install -e .`);
- demo: from there to the end; its stages (weights, synth, prepare, baselines, timing the nets'
  first steps, each net, tuning, report) as the demo's own last line reports them;
- total: the whole command;
- peak memory: the largest resident set of any one process of the command (sampled every 0.5 s), and
  the last line the command had printed when it peaked (which stage).

`--pip-cache DIR` reuses a pip cache (downloads then come from disk), to separate the network from
the rest; without it pip downloads every wheel. Prints a table per backend and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_command(readme: Path) -> str:
    """The first command line of the README's first bash block (the main job)."""
    block = re.search(r"```bash\n(.*?)```", readme.read_text(), re.S)
    if block is None:
        raise SystemExit(f"{readme}: no ```bash block")
    lines = [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return lines[0]


def run_fresh(backend: str, command: str, pip_cache: Path | None, extra_env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"genre-fresh-{backend}-") as tmp:
        tmp = Path(tmp)
        clone = tmp / "genre"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        home = tmp / "home"
        home.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KERAS_", "GENRE_", "VIRTUAL_ENV", "PYTHON"))}
        env |= {"HOME": str(home), "KERAS_BACKEND": backend, "PYTHONUNBUFFERED": "1"}
        if pip_cache is not None:
            env["PIP_CACHE_DIR"] = str(pip_cache)
        env |= extra_env
        lines: list[tuple[float, str]] = []
        started = time.monotonic()
        process = subprocess.Popen(
            ["bash", "-c", command], cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert process.stdout is not None
        peak = {"rss_mb": 0.0, "after": ""}
        line_rss: dict[int, float] = {}  # line index -> largest resident set while it was the last line
        sampler = threading.Thread(target=_sample_memory, args=(process, peak, lines, line_rss), daemon=True)
        sampler.start()
        for raw in iter(process.stdout.readline, b""):
            for part in raw.decode(errors="replace").replace("\r", "\n").splitlines():
                if part.strip():
                    lines.append((time.monotonic() - started, part))
        returncode = process.wait()
        total = time.monotonic() - started
        (tmp / "output.txt").write_text(
            "seconds  RSS MB  line (RSS: the largest resident set of one process while the line was the last)\n"
            + "\n".join(f"{t:8.1f} {line_rss.get(i, 0.0):7.0f} {line}" for i, (t, line) in enumerate(lines))
        )
        log = Path(tempfile.gettempdir()) / f"genre-fresh-{backend}.log"
        log.write_text((tmp / "output.txt").read_text())
    installed = next((t for t, line in lines if line.startswith("Successfully installed")), None)
    summary = next((line for _, line in reversed(lines) if line.startswith("demo: ")), None)
    return {
        "backend": backend,
        "returncode": returncode,
        "total_seconds": round(total, 1),
        "install_seconds": None if installed is None else round(installed, 1),
        "demo_seconds": None if installed is None else round(total - installed, 1),
        "demo_stages": summary,
        "peak_rss_mb": round(peak["rss_mb"]),
        "peak_during": peak["after"],
        "log": str(log),
    }


def _sample_memory(process: subprocess.Popen, peak: dict, lines: list, line_rss: dict) -> None:
    """Keeps in `peak` the largest resident set of one process of `process`'s tree, and the line then;
    in `line_rss`, the largest seen while each output line was the last (memory by stage)."""
    while process.poll() is None:
        last = len(lines) - 1
        for pid in _tree(process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            rss = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)
            line_rss[last] = max(line_rss.get(last, 0.0), rss)
            if rss > peak["rss_mb"]:
                peak["rss_mb"], peak["after"] = rss, lines[-1][1] if lines else ""
        time.sleep(0.5)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=("tensorflow", "jax"))
    parser.add_argument("--pip-cache", type=Path, help="reuse this pip cache (default: a cold one)")
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    parser.add_argument("--command", help="run this instead of the README's first command (to try the script)")
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="set this in the command's environment"
    )
    args = parser.parse_args()
    command = args.command or readme_command(REPO / "README.md")
    extra_env = dict(item.split("=", 1) for item in args.env)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    print(f"README's first command: {command}")
    if extra_env:
        print(f"environment: {extra_env}")
    print(f"commit {commit.stdout.strip()}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    results = []
    for backend in args.backend or ["tensorflow", "jax"]:
        load = os.getloadavg()[0]
        result = run_fresh(backend, command, args.pip_cache, extra_env) | {"load_before": round(load, 2)}
        results.append(result)
        print(
            f"\n{backend}: exit {result['returncode']}, total {result['total_seconds'] / 60:.1f} min "
            f"(install {result['install_seconds']} s, demo {result['demo_seconds']} s; load before {load:.1f})"
        )
        print(f"  {result['demo_stages']}")
        print(f"  peak memory {result['peak_rss_mb']} MB, after: {result['peak_during'][:100]}")
        print(f"  log: {result['log']}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
