"""Linear: the coordinate reflected about ``-0.5``/``n - 0.5`` (reflection) then clamped to ``[0, n - 1]``
(:func:`~..taps.wrap_coord`), taps ``floor(x)`` and ``min(floor(x) + 1, n - 1)``, 7 lerps in the image's
dtype (float32 arithmetic for float32 images, as ``grid_sample``'s)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._rows import _ahead_offset, _fill_row, _linear_coord, _row_interior, _row_start, _tile_rows
from ._runtime import TILE, compile_module, numba, prefetch


def _linear_interior(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, d0: float, d1: float, d2: float,
                     l0: int, l1: int, sst: Any, index: Any, weights: Any, ahead: int) -> None:
    """Linear over the voxels ``[l0, l1)`` of a row whose 8 taps are all on the grid: no padding rule, no
    branch; ``orow`` is the contiguous output row, ``s`` the channel's source offset. Two tight loops:
    each voxel's first tap and weights into ``index`` and ``weights`` (no memory read: the compiler
    vectorises it), then the taps and the lerps. Both count with an unsigned integer over slices that
    start at ``l0`` and read through unsigned offsets (see :func:`.nearest._nearest_interior`: numba's
    negative-index wraparound on signed subscripts kept the first loop scalar).

    While a voxel's taps are read, the second loop asks for the source lines of the voxel ``ahead``
    storage elements further (:func:`._rows._ahead_offset`: the same voxel of the row two rows on),
    its 4 tap lines: a hint, never a read, so it need not be exact or inside the source."""
    s0, s1, s2 = sst[1], sst[2], sst[3]  # locals: the int64 stores into index could alias sst, to the compiler
    count = np.uint64(max(l1 - l0, 0))
    offsets, values = index[l0:l1], orow[l0:l1]
    f0, f1, f2 = weights[0, l0:l1], weights[1, l0:l1], weights[2, l0:l1]
    for k in range(np.uint64(0), count):
        l = float(np.int64(k) + l0)  # exact: the same float64 coordinates as x + l * step
        y0, y1, y2 = x0 + l * d0, x1 + l * d1, x2 + l * d2
        i0, i1, i2 = int(y0), int(y1), int(y2)
        # the weights in the image's dtype (float32 arithmetic for float32 images, as grid_sample's)
        f0[k], f1[k], f2[k] = y0 - i0, y1 - i1, y2 - i2
        offsets[k] = s + i0 * s0 + i1 * s1 + i2 * s2
    t0, t1, t2, further = np.uint64(s0), np.uint64(s1), np.uint64(s2), np.uint64(ahead)
    for k in range(np.uint64(0), count):
        w0, w1, w2 = f0[k], f1[k], f2[k]
        p = np.uint64(offsets[k])
        q = p + further
        prefetch(src, q)
        prefetch(src, q + t1)
        prefetch(src, q + t0)
        prefetch(src, q + t0 + t1)
        v00 = src[p]
        v00 += (src[p + t2] - v00) * w2
        v01 = src[p + t1]
        v01 += (src[p + t1 + t2] - v01) * w2
        v10 = src[p + t0]
        v10 += (src[p + t0 + t2] - v10) * w2
        v11 = src[p + t0 + t1]
        v11 += (src[p + t0 + t1 + t2] - v11) * w2
        v00 += (v01 - v00) * w1
        v10 += (v11 - v10) * w1
        values[k] = v00 + (v10 - v00) * w0


def _linear_interior_2d(src: Any, orow: Any, s: int, x1: float, x2: float, d1: float, d2: float,
                        l0: int, l1: int, sst: Any, index: Any, weights: Any, ahead: int) -> None:
    """:func:`_linear_interior` of a 2-D image (its leading axis of one voxel at coordinate 0): the 4
    taps of the last two axes, the 2 tap lines ahead. The 3-D loop's last blend, ``v + (v - v) * 0``,
    is ``v`` itself."""
    s1, s2 = sst[2], sst[3]
    count = np.uint64(max(l1 - l0, 0))
    offsets, values = index[l0:l1], orow[l0:l1]
    f1, f2 = weights[1, l0:l1], weights[2, l0:l1]
    for k in range(np.uint64(0), count):
        l = float(np.int64(k) + l0)
        y1, y2 = x1 + l * d1, x2 + l * d2
        i1, i2 = int(y1), int(y2)
        f1[k], f2[k] = y1 - i1, y2 - i2
        offsets[k] = s + i1 * s1 + i2 * s2
    t1, t2, further = np.uint64(s1), np.uint64(s2), np.uint64(ahead)
    for k in range(np.uint64(0), count):
        w1, w2 = f1[k], f2[k]
        p = np.uint64(offsets[k])
        prefetch(src, p + further)
        prefetch(src, p + further + t1)
        v00 = src[p]
        v00 += (src[p + t2] - v00) * w2
        v01 = src[p + t1]
        v01 += (src[p + t1 + t2] - v01) * w2
        values[k] = v00 + (v01 - v00) * w1


def _linear_edge(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, lin: Any, nsrc: Any,
                 l0: int, l1: int, sst: Any, weights: Any, reflect: bool) -> None:
    """Linear over the voxels ``[l0, l1)`` of a row, some of whose taps need the padding rule."""
    n0, n1, n2 = nsrc[0], nsrc[1], nsrc[2]
    for l in range(l0, l1):
        y0 = _linear_coord(x0 + l * lin[0, 2], n0, reflect)
        y1 = _linear_coord(x1 + l * lin[1, 2], n1, reflect)
        y2 = _linear_coord(x2 + l * lin[2, 2], n2, reflect)
        i0, i1, i2 = int(math.floor(y0)), int(math.floor(y1)), int(math.floor(y2))
        p0, q0 = i0 * sst[1], min(i0 + 1, n0 - 1) * sst[1]
        p1, q1 = i1 * sst[2], min(i1 + 1, n1 - 1) * sst[2]
        p2, q2 = i2 * sst[3], min(i2 + 1, n2 - 1) * sst[3]
        weights[0, l], weights[1, l], weights[2, l] = y0 - i0, y1 - i1, y2 - i2
        w0, w1, w2 = weights[0, l], weights[1, l], weights[2, l]
        v00 = src[s + p0 + p1 + p2]
        v00 += (src[s + p0 + p1 + q2] - v00) * w2
        v01 = src[s + p0 + q1 + p2]
        v01 += (src[s + p0 + q1 + q2] - v01) * w2
        v10 = src[s + q0 + p1 + p2]
        v10 += (src[s + q0 + p1 + q2] - v10) * w2
        v11 = src[s + q0 + q1 + p2]
        v11 += (src[s + q0 + q1 + q2] - v11) * w2
        v00 += (v01 - v00) * w1
        v10 += (v11 - v10) * w1
        orow[l] = v00 + (v10 - v00) * w0


def _linear_row(r: int, index: Any, weights: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any, lin: Any,
                lo: Any, hi: Any, fill: Any, reflect: bool) -> None:
    """Linear: 8 taps per voxel, 7 lerps in the image's dtype; the output's last axis is contiguous. The run
    ``[lo[r], hi[r])`` is read once into locals (a store into ``out`` could alias ``lo``, to the compiler)."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    run0, run1 = lo[r], hi[r]
    _fill_row(out, base, ost, oshape[0], run0, run1, oshape[3], fill)
    if run1 <= run0:
        return
    # inside [0, n - 1) on every axis the coordinate needs no padding rule and both taps are on the grid
    fast0, fast1 = _row_interior(x0, x1, x2, lin, nsrc, 0.0, -1.0, run0, run1)
    inner = fast1 > fast0
    d0, d1, d2 = lin[0, 2], lin[1, 2], lin[2, 2]
    flat = nsrc[0] == 1 and sst[1] == 0 and x0 == 0.0 and d0 == 0.0  # a 2-D image
    ahead = _ahead_offset(lin, sst, 2.0)  # two rows on (one: 5-20% slower on sweep geometries 3, 6, 7, 9)
    for c in range(oshape[0]):
        s = c * sst[0]
        orow = out[base + c * ost[0] : base + c * ost[0] + oshape[3]]
        if flat:
            _linear_interior_2d(src, orow, s, x1, x2, d1, d2, fast0, fast1, sst, index, weights, ahead)
        else:
            _linear_interior(src, orow, s, x0, x1, x2, d0, d1, d2, fast0, fast1, sst, index, weights, ahead)
        _linear_edge(src, orow, s, x0, x1, x2, lin, nsrc, run0, fast0 if inner else run1, sst, weights, reflect)
        if inner:
            _linear_edge(src, orow, s, x0, x1, x2, lin, nsrc, fast1, run1, sst, weights, reflect)


def _linear_tile(t: Any, rows_a: int, rows_b: int, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any,
                 lin: Any, lo: Any, hi: Any, fill: Any, reflect: bool, tile_index: Any, tile_weights: Any) -> None:
    """Tile ``t``'s rows (:func:`._rows._tile_rows`), the row inlined: one call a tile (see :func:`._runtime.compile_module`);
    ``tile_index[t]``, ``tile_weights[t]`` a row's first taps' offsets and its weights in the image's dtype
    (:func:`._runtime.per_tile`)."""
    a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
    index, weights = tile_index[t], tile_weights[t]
    for a in range(a0, a1):
        for b in range(b0, b1):
            _linear_row(a * rows_b + b, index, weights, src, sst, nsrc, out, ost, oshape, origin, lin, lo, hi, fill, reflect)


def _linear_serial(rows_a: int, rows_b: int, args: Any) -> None:
    for t in range(((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)):
        _linear_tile(np.uint64(t), rows_a, rows_b, *args)  # unsigned, as prange's index: faster rows


def _linear_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for t in numba.prange(((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)):
        _linear_tile(t, rows_a, rows_b, *args)


compile_module(globals(), helpers=('_linear_interior', '_linear_interior_2d', '_linear_edge', '_linear_row'), modes=('linear',), unit="tile", refcounts=False)
