"""Thread count for one engine call: only the CPUs no other process is running on.

A multi-threaded torch op is a barrier: it finishes when its slowest thread does. When other
processes keep cores busy (MONAI's DataLoader workers, a second job), a thread of ours on such
a core is preempted, and each parallel op then waits about a scheduler time slice for it. An
engine call issues tens of ops, so on a 2-core machine with one other busy process a call ran
up to 30x slower at 2 threads than at 1 (``benchmarks/bench_resample.py --busy 1``).

The engine therefore counts the tasks running right now besides the caller (Linux:
``/proc/loadavg``'s running count, which excludes our own idle pool threads; elsewhere the
1-minute load average) and runs the call on ``min(torch threads, usable CPUs - others)``
threads, at least one. An idle machine keeps torch's thread count.

``torch.set_num_threads`` is process-wide: another Python thread running torch ops during such
a call also runs them with the reduced count until the call returns.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["other_running_tasks", "free_cpus", "engine_threads"]


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def other_running_tasks() -> float:
    """How many tasks besides the caller are running (or waiting for a CPU) now."""
    try:
        with open("/proc/loadavg") as fh:
            running = int(fh.read().split()[3].split("/")[0])
        return float(max(0, running - 1))  # the caller itself is running while it reads
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    try:  # pragma: no cover - not Linux
        return max(0.0, os.getloadavg()[0] - 1.0)
    except (AttributeError, OSError):  # pragma: no cover - no load figure at all
        return 0.0


def free_cpus() -> int:
    """CPUs this process may use that no other task is running on (at least 1)."""
    return max(1, int(_usable_cpus() - other_running_tasks()))


@contextmanager
def engine_threads(device: torch.device) -> Iterator[int]:
    """Run the enclosed CPU work on the free CPUs only (see the module docstring); yields the thread count."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        yield threads
        return
    wanted = min(threads, free_cpus())
    if wanted == threads:
        yield threads
        return
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(threads)
