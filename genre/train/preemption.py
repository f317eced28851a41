"""Preemption: SIGTERM (what cluster schedulers and spot machines send before they kill) becomes a
request the training loop honours at its next step boundary, and SLURM's requeue.

The Trainer installs `stop_on_sigterm` around `model.fit`; its resume-state callback sees the
request after a step, saves the resumable state and raises `genre.train.Preempted`; `genre fit`
then exits with `PREEMPTED_EXIT_CODE` (after `scontrol requeue`, with `--requeue` on SLURM).
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
from dataclasses import dataclass

# sysexits.h's EX_TEMPFAIL: a temporary failure, the same command may be run again (with --resume).
PREEMPTED_EXIT_CODE = 75


@dataclass
class StopRequest:
    """Set by the signal handler; read by the loop between steps (never acted on inside the handler,
    which may interrupt a save)."""

    signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signal).name if self.signal is not None else ""

    def __call__(self, signum, frame) -> None:
        self.signal = signum


@contextlib.contextmanager
def stop_on_sigterm(enabled: bool = True):
    """Yields a `StopRequest` that SIGTERM sets while inside; the previous handler is restored after.
    Signal handlers can only be set from the main thread: elsewhere (or not enabled) SIGTERM keeps
    its default and the request is never set."""
    request = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = signal.signal(signal.SIGTERM, request)
    try:
        yield request
    finally:
        signal.signal(signal.SIGTERM, previous)


def requeue_slurm(job_id: str) -> str:
    """`scontrol requeue JOB`: SLURM puts the job back in the queue, to run its batch script again.
    Returns what to tell the user; a failure to requeue is reported, not raised (the state is saved)."""
    try:
        done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"could not requeue SLURM job {job_id}: {err}"
    if done.returncode != 0:
        return f"could not requeue SLURM job {job_id}: scontrol exited {done.returncode}: {done.stderr.strip()}"
    return f"requeued SLURM job {job_id}"
