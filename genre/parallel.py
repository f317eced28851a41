"""An ordered process pool: ``fn`` over tasks in worker processes, results back in task order.

Owns how `prepare` and `synth` use the machine's cores: how many (``usable_cores``), how workers
start, what each sets up (one BLAS/OpenMP thread, so the arithmetic and hence every output byte
is the same with any number of workers; death with its parent), and a bounded window of tasks in
flight. It hands on an iterator of results; what a task is and where its result goes are the
caller's.

Workers are forked from a fork server (where the platform has one, else spawned): a fresh process
that imports what the main module imports and the task function's module once, so a worker starts
in milliseconds instead of importing NumPy, SciPy, pandas and `genre` again (a spawned worker of
`bench_prepare` took about 1.1 s of CPU, 9 ms a clip over 240 clips with 2 workers). The server,
not the caller, is what forks: the caller may have TensorFlow loaded, whose threads make a plain
fork unsafe. The server lives as long as the caller, so later pools (the one-worker pools that
isolate a crash, a second `prepare`) start at once.

A worker that dies part way through a task (a crash in native code, an out-of-memory kill) breaks
the whole pool. With ``crashed`` given, the tasks it took with it are run again one at a time in a
fresh one-worker pool, so the one that kills its worker is found: its result is ``crashed(task)``,
and every other task still gives its own. Without it, the pool's BrokenProcessPool is raised.

Workers die with the process that started them: a killed `genre prepare` or `genre synth`
(SIGKILL, an OOM kill) would otherwise leave them blocked on the task queue for good, since
each worker holds both ends of that queue's pipe and so never sees it close.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import select
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCH_SECONDS = 0.5  # how often the portable fallback looks at the parent
# Frameworks whose threads would make the fork server's forks unsafe: a worker imports them itself.
_NOT_PRELOADED = frozenset({"tensorflow", "keras", "jax", "jaxlib", "torch"})


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def ordered_map(
    fn: Callable[..., Any],
    tasks: Iterable,
    workers: int | None,
    *args: Any,
    crashed: Callable[[Any], Any] | None = None,
) -> Iterator[Any]:
    """``fn(task, *args)`` for each task, in task order; in ``workers`` processes (None: every usable
    core), or in this process when one worker is asked for or there is at most one task.

    ``crashed(task)`` stands in for the result of a task whose worker process died (see above); it
    is called in this process. In-process work has no such protection.

    A generator: nothing starts before the first result is asked for, and closing it cancels
    the tasks not yet started.
    """
    tasks = list(tasks)
    workers = workers or usable_cores()
    if workers == 1 or len(tasks) <= 1:
        return _inline_map(fn, tasks, args)
    return _pool_map(fn, tasks, args, workers, crashed)


def _inline_map(fn, tasks: list, args: tuple) -> Iterator[Any]:
    from threadpoolctl import threadpool_limits

    # One BLAS thread here too: the same floating-point sums, so the same bytes, with any worker count.
    with threadpool_limits(1):
        for task in tasks:
            yield fn(task, *args)


def _new_pool(fn, workers: int) -> cf.ProcessPoolExecutor:
    context = worker_context(fn)
    return cf.ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker, initargs=(os.getpid(), fn))


def worker_context(fn: Callable[..., Any]) -> multiprocessing.context.BaseContext:
    """The fork server's context, preloading the main module and ``fn``'s (it takes effect when the
    server starts, at the first pool); spawn where there is no fork server (Windows). Never a plain
    fork: the caller may have TensorFlow loaded, whose threads make one unsafe."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", *main_imports(), fn.__module__])
    return context


def main_imports() -> list[str]:
    """The modules the main module's global names come from (`import x`, `from x import y`).

    A worker runs the main module again, as a spawned process does, unless the server could import
    it first, which Python 3.11's fork server does not do for a script (it drops the script's path),
    so the server preloads what the script imports and the worker's run of it finds them imported.
    """
    main = sys.modules.get("__main__")
    modules = set()
    for key, value in vars(main).items() if main is not None else ():
        if key.startswith("__"):  # __spec__, __loader__, __builtins__: not what the script imports
            continue
        name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
        if isinstance(name, str) and name not in ("__main__", "__mp_main__", "builtins"):
            modules.add(name)
    return sorted(m for m in modules if m.partition(".")[0] not in _NOT_PRELOADED)


def _pool_map(fn, tasks: list, args: tuple, workers: int, crashed) -> Iterator[Any]:
    start = 0  # the first task whose result has not been handed on
    while start < len(tasks):
        lost: list[tuple[int, cf.Future]] = []
        with _new_pool(fn, workers) as pool:
            pending: collections.deque[tuple[int, cf.Future]] = collections.deque()
            try:
                for index in range(start, len(tasks)):  # keep a bounded window of tasks in flight
                    pending.append((index, pool.submit(fn, tasks[index], *args)))
                    if len(pending) >= 4 * workers:
                        yield pending[0][1].result()
                        start = pending.popleft()[0] + 1
                while pending:
                    yield pending[0][1].result()
                    start = pending.popleft()[0] + 1
            except BrokenProcessPool:
                if crashed is None:
                    raise
                lost = list(pending)
            finally:
                for _, future in pending:
                    future.cancel()
        # The pool is shut down: every lost future is done, with its result or the pool's breakage.
        yield from _isolate(fn, tasks, args, lost, crashed)
        start = lost[-1][0] + 1 if lost else len(tasks)


def _isolate(fn, tasks: list, args: tuple, lost: list[tuple[int, cf.Future]], crashed) -> Iterator[Any]:
    """The results of the tasks a broken pool took with it: kept where they had finished, else each
    task run alone in a one-worker pool, so a dead worker names its task."""
    pool = None
    try:
        for index, future in lost:
            if future.done() and not future.cancelled() and future.exception() is None:
                yield future.result()
                continue
            pool = pool or _new_pool(fn, 1)
            try:
                result = pool.submit(fn, tasks[index], *args).result()
            except BrokenProcessPool:
                pool.shutdown()
                pool = None
                result = crashed(tasks[index])
            yield result
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def init_worker(parent_pid: int, fn: Callable[..., Any] | None = None) -> None:
    """Set up one worker process: death with ``parent_pid``, and one thread per pool.

    ``fn`` is only carried: unpickling it imports its module, and with it the BLAS and OpenMP
    libraries its tasks use, before the thread limit is set (threadpoolctl limits only the
    libraries already loaded).
    """
    die_with_parent(parent_pid)
    one_thread_per_process()


def one_thread_per_process() -> None:
    """N worker processes on N cores: BLAS and OpenMP pools of one thread each, not N each (and the
    same arithmetic as in-process work, so the bytes do not depend on the number of workers)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def die_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid``, the process whose pool started it, is gone.

    Linux: the kernel sends SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG; strictly, when
    the parent's thread that started this process ends, and the pool is started and used by
    one thread). A worker forked by a fork server also watches ``parent_pid`` itself: the server
    ends when every process holding its "alive" pipe has, and each worker holds it. Elsewhere, or
    if prctl fails: a daemon thread that watches ``parent_pid``.
    """
    if sys.platform.startswith("linux") and _set_death_signal(signal.SIGKILL):
        parent = os.getppid()
        if parent == parent_pid:
            return
        if _parent_of(parent) != parent_pid:  # the parent died before the signal was armed
            os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="watch-parent", daemon=True).start()


def _parent_of(pid: int) -> int | None:
    """The parent id of process ``pid`` (from /proc), None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])  # the name in parentheses may hold spaces
    except (OSError, IndexError, ValueError):
        return None


def _set_death_signal(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):  # no libc symbol table or no prctl: use the fallback
        return False


def _watch_parent(parent_pid: int) -> None:
    try:
        handle = os.pidfd_open(parent_pid)  # Linux 5.3: readable once the process has ended
    except (AttributeError, OSError):  # no pidfd, or the parent is already gone: look twice a second
        while _exists(parent_pid):
            time.sleep(_WATCH_SECONDS)
    else:
        select.select([handle], [], [])
    os._exit(1)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process took the id: ours is gone
        return False
    return True
