"""Tasks the pool tests send to worker processes: module-level, so workers receive them by name."""

from __future__ import annotations

import os

IMPORTED_IN = os.getpid()  # in a worker: the process that imported this module, the worker or its fork server


def importer(task: int) -> tuple[int, int]:
    """(the worker's process id, the id of the process that imported this module)."""
    return os.getpid(), IMPORTED_IN
