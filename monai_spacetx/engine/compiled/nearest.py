"""Nearest: ``floor(x + 0.5 + SNAP_TOL)`` (the tie rule, half and tolerance folded into the origin by
:func:`._args._geometry`), indices clamped or reflected by :func:`~..taps.wrap_index`'s rule; values
copied bit for bit (any dtype is moved as an unsigned integer of its size: :func:`general_kernel`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._rows import _ahead_offset, _fill_row, _row_interior, _row_start, _tile_rows, _wrap
from ._runtime import TILE, compile_module, numba, prefetch


def _nearest_interior(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, d0: float, d1: float, d2: float,
                      l0: int, l1: int, sst: Any, index: Any, ahead: int) -> None:
    """Nearest over the voxels ``[l0, l1)`` of a row inside ``[0, n)`` on every axis: ``floor`` is
    truncation there and no index needs the tap rule. Two tight loops: the storage offsets into
    ``index`` (no memory read: the compiler vectorises it), then the reads into the contiguous row ``orow``,
    each asking for the source line ``ahead`` elements further (:func:`._rows._ahead_offset`: the same
    voxel two rows on; a hint, never a read).
    Both loops count with an unsigned integer over slices that start at ``l0``, and the reads use
    unsigned offsets: numba adds a negative-index wraparound to every signed subscript, which kept the
    first loop scalar and cost the second a compare and a select per voxel (30% of the kernel's time)."""
    t0, t1, t2 = sst[1], sst[2], sst[3]
    count = np.uint64(max(l1 - l0, 0))
    offsets, values = index[l0:l1], orow[l0:l1]
    for k in range(np.uint64(0), count):
        l = float(np.int64(k) + l0)  # exact: the same float64 coordinates as x + l * step
        offsets[k] = s + int(x0 + l * d0) * t0 + int(x1 + l * d1) * t1 + int(x2 + l * d2) * t2
    further = np.uint64(ahead)
    for k in range(np.uint64(0), count):
        p = np.uint64(offsets[k])
        prefetch(src, p + further)
        values[k] = src[p]


def _nearest_edge(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, lin: Any, nsrc: Any,
                  l0: int, l1: int, sst: Any, reflect: bool) -> None:
    """Nearest over the voxels ``[l0, l1)`` of a row, some of whose indices need the tap rule."""
    for l in range(l0, l1):
        i0 = _wrap(int(math.floor(x0 + l * lin[0, 2])), nsrc[0], reflect)
        i1 = _wrap(int(math.floor(x1 + l * lin[1, 2])), nsrc[1], reflect)
        i2 = _wrap(int(math.floor(x2 + l * lin[2, 2])), nsrc[2], reflect)
        orow[l] = src[s + i0 * sst[1] + i1 * sst[2] + i2 * sst[3]]


def _nearest_row(r: int, index: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any, lin: Any,
                 lo: Any, hi: Any, fill: Any, reflect: bool) -> None:
    """Nearest (``x`` already holds ``+ 0.5 + SNAP_TOL``); the output's last axis is contiguous. The run
    ``[lo[r], hi[r])`` is read once into locals (a store into ``out`` could alias ``lo``, to the compiler)."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    run0, run1 = lo[r], hi[r]
    _fill_row(out, base, ost, oshape[0], run0, run1, oshape[3], fill)
    if run1 <= run0:
        return
    fast0, fast1 = _row_interior(x0, x1, x2, lin, nsrc, 0.0, 0.0, run0, run1)
    inner = fast1 > fast0
    ahead = _ahead_offset(lin, sst, 2.0)  # two rows on (a pass of hints of its own before the row: 25-37% slower in 3-D)
    d0, d1, d2 = lin[0, 2], lin[1, 2], lin[2, 2]
    for c in range(oshape[0]):
        s = c * sst[0]
        orow = out[base + c * ost[0] : base + c * ost[0] + oshape[3]]
        _nearest_interior(src, orow, s, x0, x1, x2, d0, d1, d2, fast0, fast1, sst, index, ahead)
        _nearest_edge(src, orow, s, x0, x1, x2, lin, nsrc, run0, fast0 if inner else run1, sst, reflect)
        if inner:
            _nearest_edge(src, orow, s, x0, x1, x2, lin, nsrc, fast1, run1, sst, reflect)


def _nearest_tile(t: Any, rows_a: int, rows_b: int, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any,
                  lin: Any, lo: Any, hi: Any, fill: Any, reflect: bool, tile_index: Any) -> None:
    """Tile ``t``'s rows (:func:`._rows._tile_rows`), the row inlined: one call a tile (see :func:`._runtime.compile_module`);
    ``tile_index[t]`` a row's storage offsets (:func:`._runtime.per_tile`)."""
    a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
    index = tile_index[t]
    for a in range(a0, a1):
        for b in range(b0, b1):
            _nearest_row(a * rows_b + b, index, src, sst, nsrc, out, ost, oshape, origin, lin, lo, hi, fill, reflect)


def _nearest_serial(rows_a: int, rows_b: int, args: Any) -> None:
    for t in range(((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)):
        _nearest_tile(np.uint64(t), rows_a, rows_b, *args)  # unsigned, as prange's index: faster rows


def _nearest_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for t in numba.prange(((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)):
        _nearest_tile(t, rows_a, rows_b, *args)


compile_module(globals(), helpers=('_nearest_interior', '_nearest_edge', '_nearest_row'), modes=('nearest',), unit="tile", refcounts=False)
