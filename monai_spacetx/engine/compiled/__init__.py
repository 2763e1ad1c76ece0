"""CPU kernels compiled with numba for the general path (any affine): nearest, linear, cubic, label,
the composed nearest map-back (:func:`compose_nearest_gather`), and the linear argmax export's
three passes (:func:`export_first_pass`, :func:`export_certify`, :func:`export_argmax`, for
:mod:`..export`).

One module a kernel family: :mod:`.nearest`, :mod:`.linear`, :mod:`.cubic`, :mod:`.label`,
:mod:`.compose`, :mod:`.export`; the helpers they share (tap and padding rules of one coordinate, a
row's interior, start and fill, the tiles) in :mod:`._rows`, the tensors-to-arguments code in
:mod:`._args`, and the runtime (availability, compilation, the serial and parallel builds, threads)
in :mod:`._runtime`. This module is the front: :func:`general_kernel`, :func:`label_kernel` and the
others take tensors and return ``False`` where the kernels do not apply.

Why: torch's own 3-D ``grid_sample`` CPU kernel is slower than SimpleITK, and a gather per tap
(cubic: 64 of them) walks memory 64 times. One compiled loop per target row reads each voxel's
taps once, keeps coordinates in registers (incremental along the row) and writes the output in
place: no per-voxel temporaries, so memory beyond input and output is a few small per-row
arrays (the inside runs of ``"zeros"`` padding).

Every kernel follows the torch path's conventions exactly (it is the reference the tests compare
with, and the path for CUDA tensors and when numba is missing):

- coordinates: float64, ``x_k = ((o_k + i L_k0) + j L_k1) + l L_k2`` for the box's voxel
  ``(i, j, l)``, with ``o = M[:, D] + L @ box_start`` (as :func:`~.general.chunk_coords`);
- nearest: ``floor(x + 0.5 + SNAP_TOL)`` (the tie rule, half and tolerance folded into ``o``),
  indices clamped or reflected by :func:`~.taps.wrap_index`'s rule; copied bit for bit (any
  dtype is moved as an unsigned integer of its size);
- linear: the coordinate reflected about ``-0.5``/``n - 0.5`` (reflection) then clamped to
  ``[0, n - 1]`` (:func:`~.taps.wrap_coord`), taps ``floor(x)`` and ``min(floor(x) + 1, n - 1)``;
- cubic: :func:`~.taps.snap_half`, then reflected into ``[-0.5, n - 0.5]`` or clamped to
  ``[-1, n]``, Keys weights (``A = -0.75``), each of the 4 taps per axis through the tap rule;
- label: the linear taps of the snapped coordinate, then the vote of :mod:`.label` (the class
  with the largest summed weight, scores quantised by ``WEIGHT_TOL``, ties to the smaller label),
  with the same summation order, so the result is bit for bit the torch path's; a voxel whose
  cell's 8 taps hold one label takes it without a vote (for targets at least as large as the
  source, from a one-byte map of the uniform source cells);
- ``"zeros"`` padding: the voxels outside the source field of view get ``fill``, per row from
  :func:`~.box.inside_runs` (the same float64 test).

2-D images run through the 3-D kernels with a leading source and target axis of one voxel (its
coordinate is exactly 0, its taps all read voxel 0 with weights 1 and 0), so each kernel is
compiled once per dtype. Tensors are passed as their flat storage plus element strides: any
layout (a window of the source, a box of the output) is read and written in place, without a
contiguous copy and without one compiled variant per layout.

Threads: a kernel runs its target rows in ``prange`` on the thread count decided for the call
(:func:`~.threads.call_threads`), set with ``numba.set_num_threads``, which numba keeps per
calling thread, one thread included (the parallel build is the faster one there too). A forked
process whose parent ran a parallel build runs the serial build of the same kernel (GNU OpenMP
aborts a forked child that starts a parallel region after its parent did); see :mod:`._runtime`.
The GIL is released.

Compile cost: ``cache=True`` keeps the machine code on disk next to each module (numba's
``__pycache__``, or ``NUMBA_CACHE_DIR``); a read-only install compiles in memory once per
process instead (numba falls back when it cannot write).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch

from ..box import Box
from ..options import WarpOptions
from ..plan import WarpPlan
from . import _runtime
from . import nearest, linear, cubic  # noqa: F401,I001 (the families register their builds on import, in this order)
from ._args import _BITS, _flat, _general_args
from ._rows import _snapped_floor
from ._runtime import _BUILT, TILE, _parallel_allowed, _run, _state, available, disabled, numba, per_tile
from .label import label_axes_kernel, label_kernel
from .compose import compose_nearest_gather
from .export import export_argmax, export_certify, export_first_pass

__all__ = ["available", "disabled", "general_kernel", "label_kernel", "label_axes_kernel", "compose_nearest_gather", "export_first_pass", "export_certify", "export_argmax", "warm_up"]


def __getattr__(name: str) -> Any:
    """``_parallel_pid`` (the process that first ran a parallel kernel) is read where it lives, in :mod:`._runtime`."""
    if name == "_parallel_pid":
        return _runtime._parallel_pid
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def general_kernel(src: torch.Tensor, matrix: np.ndarray, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> bool:
    """Run the general path's ``options.mode`` (nearest, linear or cubic) with a compiled kernel.

    Args:
        src: ``(N, *sizes)`` the source (or a window of it) that ``matrix`` maps the target into;
            for linear and cubic already in ``dest``'s dtype.
        matrix: ``(D+1, D+1)`` float64 target index → ``src`` index.
        plan, box, options: the resample (``plan`` for the inside runs, in target coordinates).
        dest: ``(N, *box_shape)`` written in place.

    Returns:
        ``False`` (nothing written) where the kernels do not apply: not CPU, numba missing or
        switched off, autograd recording, or a dtype they do not handle (float16, bfloat16, 16-byte
        complex).
    """
    if not available() or src.device.type != "cpu" or dest.device.type != "cpu":
        return False
    mode, ndim = options.mode, plan.ndim
    if mode == "nearest":
        bits = _BITS.get(dest.element_size())
        if bits is None or src.dtype != dest.dtype:
            return False
    elif mode in ("linear", "cubic"):
        if dest.dtype not in (torch.float32, torch.float64) or src.dtype != dest.dtype:
            return False
        if torch.is_grad_enabled() and src.requires_grad:
            return False
        bits = None
    else:
        return False
    if dest.stride(-1) != 1:  # the kernels write rows as contiguous runs (an engine output always is)
        return False
    oshape, sst, source_span, nsrc, ost, out_span, tail = _general_args(src, dest, matrix, plan, box, options, bits)
    source, length = _flat(src, source_span, bits), int(oshape[3])
    # nearest's and linear's tiles count no references (see ._runtime): a row's offsets (and weights) come from here
    scratch: tuple[np.ndarray, ...] = () if mode == "cubic" else (per_tile(oshape, (length,), np.int64),)
    if mode == "linear":
        scratch += (per_tile(oshape, (3, length), source.dtype),)
    _run(mode, oshape, source, sst, nsrc, _flat(dest, out_span, bits), ost, *tail, *scratch)
    return True


def warm_up() -> float:
    """Compile (or load from the disk cache) the serial and the parallel build of every kernel for
    float32 images and uint8 labels (what a benchmark or a training run uses first), and the argmax
    export's for float32 channels; seconds taken."""
    import time

    if not available():
        return 0.0
    started = time.perf_counter()
    from .label import _MARKS, _axis_table

    _axis_table(0.3, 0.9, 4, 1, False, np.zeros(4, np.int64), np.zeros(4, np.int64), np.zeros(4), np.zeros(4, np.int64), np.zeros(4, np.int64))
    n = np.asarray([4, 4, 4], dtype=np.int64)
    strides = np.asarray([64, 16, 4, 1], dtype=np.int64)
    shape = np.asarray([1, 4, 4, 4], dtype=np.int64)
    origin, lin = np.full(3, 0.3), np.eye(3) * 0.9
    lo, hi = np.zeros(16, dtype=np.int64), np.full(16, 4, dtype=np.int64)
    floats, labels, bits = np.zeros(64, np.float32), np.zeros(64, np.uint8), np.zeros(64, np.int32)
    maps, sizes = np.zeros((1, 3, 4)), np.full((1, 3), 4, dtype=np.int64)
    parallel = _parallel_allowed()
    # under numba's workqueue layer no kernel of another thread may launch beside these (see _runtime._ONE_LAUNCH)
    with _runtime._ONE_LAUNCH if parallel and _runtime._workqueue else contextlib.nullcontext():
        for build in (0, 1) if parallel else (0,):
            offsets = np.empty((1, 4), np.int64)
            _BUILT["nearest"][build](4, 4, (bits, strides, n, bits.copy(), strides, shape, origin, lin, lo, hi, np.int32(0), False, offsets))
            _BUILT["linear"][build](4, 4, (floats, strides, n, floats.copy(), strides, shape, origin, lin, lo, hi, np.float32(0), False, offsets,
                                           np.empty((1, 3, 4), np.float32)))
            _BUILT["cubic"][build](4, 4, (floats, strides, n, floats.copy(), strides, shape, origin, lin, lo, hi, np.float32(0), False))
            _BUILT["label"][build](4, 4, (labels, strides, n, labels.copy(), strides, shape, origin, lin, lo, hi, np.uint8(0), False, labels.copy(),
                                          _MARKS[torch.uint8], True, np.empty((1, 8), np.uint8), np.empty((1, 8)),
                                          np.empty((1, 4), np.int64), np.empty((1, 4), np.int64)))
            _BUILT["label_uniform"][build](4, 1, (labels, n, labels.copy(), np.uint8(255)))
            table = np.zeros((3, 4), dtype=np.int64)
            _BUILT["label_axes"][build](4, 4, (labels, strides, n, labels.copy(), strides, shape, table, table.copy(), np.zeros((3, 4)),
                                               table.copy(), np.zeros((3, 4), np.uint8)))
            cells = np.ones((4, 16), np.uint8)
            _BUILT["label_cells"][build](4, 1, (labels, strides, n, cells, np.ones((3, 4), np.bool_)))
            _BUILT["label_mixed"][build](4, 1, (labels, strides, n, labels.copy(), strides, shape, table, table.copy(), np.zeros((3, 4)),
                                                table.copy(), table.copy(), cells, cells.view(np.int64)))
            _BUILT["compose"][build](4, 4, (bits, strides, bits.copy(), shape, maps, sizes, np.int32(0)))
            # the linear argmax export of float32 channels (K <= 254: uint8 codes and labels)
            first, second, rank = np.zeros(64, np.int16), np.zeros(64, np.float32), np.zeros(64, np.int16)
            third, code, pair = np.zeros(64, np.float32), np.zeros(64, np.uint8), np.zeros(64, np.uint8)
            _BUILT["top3"][build](4, 4, (floats, 64, 1, 4, first, second, rank, third, np.zeros(1, np.uint8)))
            _BUILT["certify"][build](4, 4, (code, first, floats, 64, 1, 4, 4, 4, second, rank, third, pair, pair.copy()))
            _BUILT["argmax"][build](4, 4, (floats, 64, 1, n, code, first, second, rank, third, pair, pair.copy(), labels.copy(),
                                           strides, np.zeros(64, np.float32), True, shape, origin, lin, lo, hi, np.uint8(0), False))
    return time.perf_counter() - started
