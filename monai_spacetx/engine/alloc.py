"""The engine's output allocation: large CPU outputs are backed by transparent huge pages where Linux offers them.

A large output costs its allocation more than its values: the first write to each 4 KiB page
faults into the kernel, which zeroes the page; mapping 3 channels back to a 384x384x200 grid
(354 MB, 86 000 page faults) took about as long as the interpolation into the part the working
grid covers (``benchmarks/bench_resample.py --cases "map back"``). The kernel zeroes a 2 MiB huge
page in one fault: asked for them (``madvise(MADV_HUGEPAGE)``, honoured when
``/sys/kernel/mm/transparent_hugepage/enabled`` is ``always`` or ``madvise``), allocating and
filling that output took a third of the CPU time.

Only outputs of at least :data:`HUGE_PAGE_BYTES` are advised: glibc's ``malloc`` serves them with a
mapping of their own (its mmap threshold is at most 32 MiB), which ``free`` unmaps, so the advice
ends with the tensor. The advice is a hint: where it is refused (no transparent huge pages,
another platform, another allocator) the output is an ordinary one, with the same values.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from typing import Any, Optional

import torch

__all__ = ["HUGE_PAGE_BYTES", "empty_output"]

#: Outputs of at least this many bytes are advised to use huge pages (see the module docstring).
HUGE_PAGE_BYTES = 64 << 20
_HUGE = 2 << 20
_MADV_HUGEPAGE = 14
_MADVISE: Optional[Any] = None
_SEARCHED = False


def _madvise() -> Optional[Any]:
    """libc's ``madvise`` (Linux), found once; ``None`` elsewhere."""
    global _MADVISE, _SEARCHED
    if not _SEARCHED:
        _SEARCHED = True
        if sys.platform.startswith("linux"):
            try:
                fn = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).madvise
                fn.argtypes, fn.restype = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int
                _MADVISE = fn
            except (OSError, AttributeError):  # pragma: no cover - a libc without madvise
                _MADVISE = None
    return _MADVISE


def empty_output(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype, device=device)``, its whole 2 MiB pages advised to be huge pages when it
    is a CPU tensor of at least :data:`HUGE_PAGE_BYTES` (before anything touches it)."""
    out = torch.empty(shape, dtype=dtype, device=device)
    size = out.numel() * out.element_size()
    if device.type == "cpu" and size >= HUGE_PAGE_BYTES:
        madvise = _madvise()
        if madvise is not None:
            start = out.data_ptr()
            first, last = (start + _HUGE - 1) & ~(_HUGE - 1), (start + size) & ~(_HUGE - 1)
            if last > first:
                madvise(first, last - first, _MADV_HUGEPAGE)  # a hint: a refusal leaves ordinary pages
    return out
