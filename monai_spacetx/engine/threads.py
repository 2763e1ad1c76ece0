"""Thread count for one engine call: one thread when the CPUs are oversubscribed.

A multi-threaded torch op is a barrier: it finishes when its slowest thread does. When other
processes keep every core busy (MONAI's DataLoader workers, a second job), a thread of ours is
often preempted, and each parallel op then waits about a scheduler time slice for it. An
engine call issues tens of ops, so on such a machine it ran 10-50x slower at 2 threads than at
1 (measured in ``benchmarks/bench_resample.py``). The engine therefore runs a call on one
thread when the 1-minute load average exceeds the number of CPUs this process may use, and
with torch's thread count otherwise.

``torch.set_num_threads`` is process-wide: another Python thread running torch ops during such
a call also runs them on one thread until the call returns.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["cpus_oversubscribed", "engine_threads"]


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def cpus_oversubscribed() -> bool:
    """Whether more tasks want to run than this process has CPUs (1-minute load average)."""
    try:
        return os.getloadavg()[0] > _usable_cpus()
    except (AttributeError, OSError):  # pragma: no cover - no load average on this platform
        return False


@contextmanager
def engine_threads(device: torch.device) -> Iterator[int]:
    """Run the enclosed CPU work on one thread if the CPUs are oversubscribed; yields the thread count."""
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1 or not cpus_oversubscribed():
        yield threads
        return
    torch.set_num_threads(1)
    try:
        yield 1
    finally:
        torch.set_num_threads(threads)
