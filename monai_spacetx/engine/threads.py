"""Thread count for one engine call: only the CPUs no other process is running on.

A multi-threaded torch op is a barrier: it finishes when its slowest thread does. When other
processes keep cores busy (MONAI's DataLoader workers, a second job), a thread of ours on such
a core is preempted, and each parallel op then waits about a scheduler time slice for it. An
engine call issues tens of ops, so on a 2-core machine with one other busy process a call ran
up to 30x slower at 2 threads than at 1 (``benchmarks/bench_resample.py --busy 1``).

The engine therefore counts the tasks running now besides the caller (Linux:
``/proc/loadavg``'s running count less this process's own running threads, which includes pool
threads still spinning after a parallel region; elsewhere the 1-minute load average) and runs the call on ``min(torch threads, usable CPUs - others)``
threads, at least one. An idle machine keeps torch's thread count. A count stands for
:data:`PROBE_SECONDS` after it was read: reading it costs tens of microseconds (up to 100 on a busy
machine, a third of a 64^3 nearest kernel at two threads), and the running tasks change on the
scheduler's time scale, not between two calls a millisecond apart.

One policy, decided per call and visible only to the calling thread:

- the compiled kernels (:mod:`.compiled`) read the count from :func:`call_threads` and hand
  it to ``numba.set_num_threads``, which numba keeps per calling thread;
- torch's own ops: ``torch.set_num_threads`` is process-wide (and a thread started while it is
  lowered keeps the lowered count for its whole life), so it is not used. torch's CPU builds run
  their parallel loops on OpenMP without a ``num_threads`` clause, i.e. on the calling thread's
  own OpenMP setting: the engine sets that one (``omp_set_num_threads`` of the OpenMP runtime
  torch loaded) and restores it when the call returns. Other threads, running or started during
  the call, keep the count the user set. Where torch's OpenMP runtime cannot be found (another
  parallel backend, another platform) the engine falls back to ``torch.set_num_threads`` for
  the call, with its process-wide side effect.
"""

from __future__ import annotations

import ctypes
import math
import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import torch

__all__ = ["other_running_tasks", "free_cpus", "engine_threads", "call_threads", "torch_threads_kept"]

_local = threading.local()
#: Seconds a count of the free CPUs stands for the engine calls after it (see the module docstring).
PROBE_SECONDS = 0.01
#: ``(time.monotonic() when read, free CPUs)`` of the last count, shared by all threads (one machine).
_last_count: tuple[float, int] = (-math.inf, 1)
#: torch's OpenMP runtime (``omp_set_num_threads`` acts on the calling thread only); found once.
_OMP: Optional[Any] = None
_OMP_SEARCHED = False


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _task_running(task: str) -> bool:
    """Whether this process's thread ``task`` is running (state ``R``): one unbuffered binary read (a
    few microseconds; this runs in every engine call). A thread that ended meanwhile, or a line that
    is not a stat line, does not count."""
    try:
        with open(f"/proc/self/task/{task}/stat", "rb", buffering=0) as fh:
            stat = fh.read(512)
        # "pid (comm) S ...": the state follows the last ')' (comm may hold anything)
        return bool(stat.rsplit(b")", 1)[1][1:2] == b"R")
    except (OSError, IndexError, TypeError):
        return False


def _own_running_threads(enough: Optional[int] = None) -> int:
    """How many of this process's threads are running now (the caller included; at least 1); the
    count stops at ``enough`` when given (the caller needs to know no more).

    A parallel region's worker threads (numba's, torch's OpenMP pool) spin for a while after it
    ends: seen as running in ``/proc/loadavg``, they would make the next call think the machine busy.
    """
    me = str(threading.get_native_id())
    count = 1  # the caller runs while it reads: its own state is not read
    try:
        for task in os.listdir("/proc/self/task"):
            if enough is not None and count >= enough:
                break
            count += task != me and _task_running(task)
    except OSError:  # pragma: no cover - not Linux
        pass
    return count


def other_running_tasks() -> float:
    """How many tasks besides this process's own threads are running (or waiting for a CPU) now."""
    try:
        with open("/proc/loadavg", "rb", buffering=0) as fh:  # unbuffered binary: a third cheaper than text
            raw = fh.read()
        text = raw.decode("ascii") if isinstance(raw, bytes) else raw
        running = int(text.split()[3].split("/")[0])
        if running <= 1:  # the caller alone (it runs while it reads): no need to count our threads
            return 0.0
        # the caller (and its spinning pool) runs while it reads; once our own count reaches the
        # running count, nothing else runs
        return float(max(0, running - _own_running_threads(enough=running)))
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    try:  # pragma: no cover - not Linux
        return max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):  # pragma: no cover - no load figure at all
        return 0.0


def free_cpus() -> int:
    """CPUs this process may use that no other task is running on (at least 1)."""
    return max(1, int(_usable_cpus() - other_running_tasks()))


def _recent_free_cpus() -> int:
    """:func:`free_cpus`, read again only when the last count is :data:`PROBE_SECONDS` old."""
    global _last_count
    read_at, free = _last_count
    if time.monotonic() - read_at >= PROBE_SECONDS:
        free = free_cpus()
        _last_count = (time.monotonic(), free)
    return free


def _torch_openmp() -> Optional[Any]:
    """The OpenMP runtime torch's parallel loops run on (a loaded ``libgomp``/``libiomp5``/``libomp``), or ``None``."""
    global _OMP, _OMP_SEARCHED
    if _OMP_SEARCHED:
        return _OMP
    _OMP_SEARCHED = True
    if "OpenMP" not in torch.__config__.parallel_info():
        return None  # pragma: no cover - a torch built on its native thread pool
    torch_dir = os.path.dirname(torch.__file__)
    candidates: list[str] = []
    try:
        with open("/proc/self/maps") as fh:
            for line in fh:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path)
                if name.startswith(("libgomp", "libiomp5", "libomp")) and path not in candidates:
                    candidates.append(path)
    except OSError:  # pragma: no cover - not Linux
        return None
    # torch's own copy first: another library (numba, scipy) may have loaded a second runtime
    candidates.sort(key=lambda path: not path.startswith(torch_dir))
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            lib.omp_set_num_threads.argtypes, lib.omp_get_max_threads.restype = [ctypes.c_int], ctypes.c_int
        except (OSError, AttributeError):  # pragma: no cover - not an OpenMP runtime after all
            continue
        if lib.omp_get_max_threads() == torch.get_num_threads():
            _OMP = lib
            return lib
    return None  # pragma: no cover


def _set_torch_threads_here(threads: int) -> None:
    """torch's thread count for the calling thread only where possible (see the module docstring)."""
    omp = _torch_openmp()
    if omp is not None:
        omp.omp_set_num_threads(threads)
    else:  # pragma: no cover - process-wide fallback
        torch.set_num_threads(threads)


def call_threads() -> int:
    """The thread count decided for the engine call running in this thread; torch's count outside a call."""
    threads = getattr(_local, "threads", None)
    return int(threads) if threads is not None else torch.get_num_threads()


class engine_threads:  # noqa: N801 - used as a function: ``with engine_threads(device) as threads:``
    """Run the enclosed CPU work on the free CPUs only (see the module docstring); ``as`` gives the thread
    count.

    Only the calling thread's counts change: :func:`call_threads` (the compiled kernels) and its
    OpenMP thread count (torch's ops); both are restored on exit. A class, not a generator: this runs in
    every engine call, and a generator's context manager costs twice as much.
    """

    __slots__ = ("_device", "_threads", "_wanted", "_previous")

    def __init__(self, device: torch.device) -> None:
        self._device = device

    def __enter__(self) -> int:
        threads = torch.get_num_threads()  # also runs torch's lazy per-thread initialisation first
        wanted = threads if self._device.type != "cpu" or threads == 1 else min(threads, _recent_free_cpus())
        self._threads, self._wanted, self._previous = threads, wanted, getattr(_local, "threads", None)
        _local.threads = wanted
        if wanted != threads:
            _set_torch_threads_here(wanted)
        return wanted

    def __exit__(self, *exc: object) -> None:
        if self._wanted != self._threads:
            _set_torch_threads_here(self._threads)
        _local.threads = self._previous


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Give the calling thread back the torch thread count it had, if the enclosed code changed it.

    numba's OpenMP threading layer, started once a process (its first parallel kernel or thread-count
    query), sets the calling thread's OpenMP count to numba's thread count; where numba and torch load
    the same OpenMP runtime, torch reads that as its own (a user's ``torch.set_num_threads(1)`` became 2)."""
    before = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            _set_torch_threads_here(before)
