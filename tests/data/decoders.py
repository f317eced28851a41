"""Decoders that `prepare` tests pass through `PrepareConfig.decode`: module-level, so worker
processes receive them by name."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from genre.data.audio import AudioConfig, Clip, load_clip


class Decoded(BaseException):
    """Raised by `refuse_to_decode`: a BaseException, so that `process_clip` does not turn it into a skip."""


def die_on_crash_files(path: str, config: AudioConfig) -> Clip:
    """Kills its own process, as the out-of-memory killer would, on files whose name holds "crash";
    takes its time over the others, so that tasks are still in flight when a worker dies."""
    if "crash" in Path(path).name:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return load_clip(path, config)


def refuse_to_decode(path: str, config: AudioConfig) -> Clip:
    """For checks that must end before any clip is decoded."""
    raise Decoded(path)
