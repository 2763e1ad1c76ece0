"""Cubic: :func:`~..taps.snap_half`, then reflected into ``[-0.5, n - 0.5]`` or clamped to ``[-1, n]``, Keys
weights (``A = -0.75``), each of the 4 taps per axis through the tap rule; 64 taps accumulated in float64."""

from __future__ import annotations

import math
from typing import Any

from ..taps import CUBIC_A
from ._rows import _fill_row, _reflect_coord, _row_start, _snap_half, _tile_rows, _wrap
from ._runtime import TILE, compile_module, numba


def _keys_near(d: float) -> float:
    return ((CUBIC_A + 2.0) * d - (CUBIC_A + 3.0)) * d * d + 1.0


def _keys_far(d: float) -> float:
    return ((CUBIC_A * d - 5.0 * CUBIC_A) * d + 8.0 * CUBIC_A) * d - 4.0 * CUBIC_A


def _cubic_axis(x: float, n: int, stride: int, reflect: bool) -> tuple[tuple[int, int, int, int], tuple[float, float, float, float]]:
    """The 4 taps of one axis: storage offsets (index through the tap rule, times ``stride``) and Keys weights
    (two homogeneous tuples: numba indexes those with a loop variable)."""
    x = _snap_half(x)
    x = _reflect_coord(x, n) if reflect else min(max(x, -1.0), float(n))
    first = math.floor(x)
    t = x - first
    f = int(first)
    offsets = (_wrap(f - 1, n, reflect) * stride, _wrap(f, n, reflect) * stride,
               _wrap(f + 1, n, reflect) * stride, _wrap(f + 2, n, reflect) * stride)
    return offsets, (_keys_far(t + 1.0), _keys_near(t), _keys_near(1.0 - t), _keys_far(2.0 - t))


def _cubic_row(r: int, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any, lin: Any,
                lo: Any, hi: Any, fill: Any, reflect: bool) -> None:
    """Keys cubic: 64 taps per voxel, accumulated in float64 along the last axis first."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    _fill_row(out, base, ost, oshape[0], lo[r], hi[r], oshape[3], fill)
    for l in range(lo[r], hi[r]):
        o0, v0 = _cubic_axis(x0 + l * lin[0, 2], nsrc[0], sst[1], reflect)
        o1, v1 = _cubic_axis(x1 + l * lin[1, 2], nsrc[1], sst[2], reflect)
        o2, v2 = _cubic_axis(x2 + l * lin[2, 2], nsrc[2], sst[3], reflect)
        for c in range(oshape[0]):
            total = 0.0
            for e0 in range(4):
                w0 = v0[e0]
                if w0 == 0.0:  # the dummy axis of a 2-D image, and exact integer coordinates
                    continue
                plane = 0.0
                for e1 in range(4):
                    at = c * sst[0] + o0[e0] + o1[e1]
                    row = (src[at + o2[0]] * v2[0] + src[at + o2[1]] * v2[1]
                           + src[at + o2[2]] * v2[2] + src[at + o2[3]] * v2[3])
                    plane += row * v1[e1]
                total += plane * w0
            out[base + c * ost[0] + l * ost[3]] = total


def _cubic_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _cubic_row(a * rows_b + b, *args)


def _cubic_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _cubic_row(a * rows_b + b, *args)


compile_module(globals(), helpers=('_keys_near', '_keys_far', '_cubic_axis'), modes=('cubic',))
