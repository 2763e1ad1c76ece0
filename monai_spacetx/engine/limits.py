"""How large a grid the engine builds: one guard, refused before any memory is allocated.

Planning on a :class:`~monai_spacetx.geometry.space.Space` never touches pixels, so a tiny
spacing plans a huge grid in microseconds; allocating it would end in the allocator's own error
(or the machine swapping). :func:`check_grid` is the one guard: :func:`~.warp.warp_image` calls it
with the output it is about to allocate (every Space transform executes through it), and the
command line calls it with its ``--max-voxels`` limit (:data:`DEFAULT_MAX_VOXELS`) before loading
anything but the header. The message says the grid's shape, its voxels and the bytes it needs.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Optional, Sequence

import torch

from ..errors import SpaceError

__all__ = ["DEFAULT_MAX_VOXELS", "SMALL_GRID_BYTES", "free_bytes", "check_grid"]

#: Grids needing at most this many bytes are not checked against the free memory: reading it
#: (``/proc/meminfo``) costs about 30 microseconds, a few percent of a 64^3 output's kernel, and the guard
#: is there for the grids a tiny spacing plans (gigabytes), not for a few MiB.
SMALL_GRID_BYTES = 4 << 20

#: Seconds a CPU free-memory figure stands for the checks after it: reading ``/proc/meminfo`` costs 15-120
#: microseconds, a training sample's outputs ask within milliseconds of each other, and the guard is for grids
#: of gigabytes, which a second's change in the free memory does not hide.
FREE_MEMORY_SECONDS = 1.0
#: ``(reader, time.monotonic() when read, figure)`` of the last CPU read (``reader``: the :func:`free_bytes` that read it).
_last_free: tuple[Any, float, Optional[int]] = (None, -math.inf, None)

#: The command line's ``--max-voxels`` default: the largest crop or working grid it plans (512^3;
#: MONAI's Spacingd holds about 20 bytes per working voxel, so this is a few GB at most).
DEFAULT_MAX_VOXELS = 512**3


def free_bytes(device: torch.device) -> Optional[int]:
    """Memory a new allocation can use on ``device``: CUDA's free memory, on CPU the kernel's
    ``MemAvailable`` (else the physical memory); ``None`` where it cannot be told (then nothing is refused)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def check_grid(
    shape: Sequence[int],
    *,
    what: str,
    channels: int = 1,
    itemsize: int = 4,
    device: torch.device = torch.device("cpu"),
    max_voxels: Optional[int] = None,
    limit_name: str = "max_voxels",
    remedy: str = "use a coarser spacing or a smaller size",
) -> None:
    """Refuse, before allocating, a grid of ``shape`` over ``max_voxels`` voxels (when given) or whose
    ``channels x voxels x itemsize`` bytes exceed the free memory of ``device`` (grids of at most
    :data:`SMALL_GRID_BYTES` are not checked against it).

    Args:
        shape: the grid's spatial shape.
        what: the grid in the caller's words, with the argument it came from (``"target (the grid
            to sample onto)"``, ``"the working grid"``).
        channels: the arrays of that shape allocated at once (batch x channels).
        itemsize: bytes per voxel and channel.
        device: where it would be allocated.
        max_voxels: a voxel limit of the caller's (the command line's ``--max-voxels``), named
            ``limit_name`` in the message.
        remedy: what to change, appended to the message.

    Raises:
        SpaceError: the grid is over the limit or does not fit in memory; the message gives its shape,
            voxels and bytes.
    """
    voxels = math.prod(int(n) for n in shape)

    def size() -> str:  # the message's start, built only to raise
        return f"{what} would have shape {tuple(int(n) for n in shape)} = {voxels:,} voxels"

    if max_voxels is not None and voxels > max_voxels:
        raise SpaceError(f"{size()}, more than {limit_name} {max_voxels:,}; {remedy}, or raise {limit_name} if you have the memory")
    need = voxels * max(1, int(channels)) * int(itemsize)
    if need <= SMALL_GRID_BYTES:
        return
    free = _recent_free_bytes(device)
    if free is not None and need > free:
        raise SpaceError(
            f"{size()} x {channels} channel(s) x {itemsize} bytes = {_gib(need)}, more than the {_gib(free)} "
            f"free on {device}; {remedy}"
        )


def _recent_free_bytes(device: torch.device) -> Optional[int]:
    """:func:`free_bytes`; on CPU the figure the same reader gave within :data:`FREE_MEMORY_SECONDS`."""
    global _last_free
    if device.type != "cpu":
        return free_bytes(device)
    reader, read_at, free = _last_free
    if reader is not free_bytes or time.monotonic() - read_at >= FREE_MEMORY_SECONDS:
        free = free_bytes(device)
        _last_free = (free_bytes, time.monotonic(), free)
    return free


def _gib(n: int) -> str:
    return f"{n / 2**30:.3g} GiB"
