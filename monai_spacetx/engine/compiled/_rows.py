"""The helpers every kernel family shares, compiled inline into the rows: the tap and padding rules
of one coordinate (:mod:`..taps`'s rules, one value at a time), a row's interior (where no tap needs
the padding rule), a row's start and fill, and the tiles the drivers visit.

The drivers visit the rows in tiles of ``TILE x TILE`` rows: neighbouring rows of an oblique target
read neighbouring source lines, which a tile finds in cache (256^3 -> 200^3 rotated, nearest: 20-25%
faster than row after row).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...geometry.tolerances import SNAP_TOL
from ._runtime import TILE, compile_module

# Plain Python functions, compiled at the end of the module; numba ignores the annotations. Arguments:
#   src, out: 1-D views of the storages; sst, ost: int64 (4,) element strides (channel, 3 axes)
#   nsrc: int64 (3,) source sizes; oshape: int64 (4,) output box shape (channels first)
#   origin: float64 (3,), lin: float64 (3, 3): x_k = ((origin_k + i lin_k0) + j lin_k1) + l lin_k2
#   lo, hi: int64 (rows,) the inside run of each output row (flat over its first two axes)


def _tile_rows(t: int, rows_a: int, rows_b: int) -> tuple[int, int, int, int]:
    """Tile ``t``'s rows: ``a`` in ``[a0, a1)``, ``b`` in ``[b0, b1)``."""
    tiles_b = (rows_b + TILE - 1) // TILE
    ta = t // tiles_b
    tb = t - ta * tiles_b
    return ta * TILE, min(ta * TILE + TILE, rows_a), tb * TILE, min(tb * TILE + TILE, rows_b)


def _wrap(i: int, n: int, reflect: bool) -> int:
    """An integer tap index through the tap rule (:func:`~.taps.wrap_index`)."""
    if reflect:
        i = i % (2 * n)  # Python semantics in numba too: non-negative for n > 0
        if i >= n:
            i = 2 * n - 1 - i
    return min(max(i, 0), n - 1)


def _reflect_coord(x: float, n: int) -> float:
    """A coordinate reflected about ``-0.5`` and ``n - 0.5`` into ``[-0.5, n - 0.5]`` (torch.remainder's arithmetic)."""
    period = 2.0 * n
    y = np.fmod(x + 0.5, period)  # torch.remainder: fmod, then moved to the divisor's sign
    if y != 0.0 and y < 0.0:
        y += period
    return float((period - y if y > n else y) - 0.5)


def _snap_half(x: float) -> float:
    """:func:`~.taps.snap_half` of one value."""
    nearest = np.rint(2.0 * x) / 2.0
    return nearest if abs(x - nearest) <= SNAP_TOL else x


def _snapped_floor(x: float) -> int:
    """``floor(snap_half(x))`` for ``x >= 0``, snapping only where it can change the floor: snapping to a
    half-integer never does, to an integer only from within ``SNAP_TOL`` below it (the margin of twice
    that keeps round-off on the safe side)."""
    i = int(x)
    return i if x - i < 1.0 - 2.0 * SNAP_TOL else int(_snap_half(x))


def _linear_coord(x: float, n: int, reflect: bool) -> float:
    """:func:`~.taps.wrap_coord` (clamped) of one value (reflected even inside, as torch's arithmetic does)."""
    if reflect:
        x = _reflect_coord(x, n)
    return min(max(x, 0.0), n - 1.0)


def _interior(x: float, step: float, low: float, high: float, l0: int, l1: int) -> tuple[int, int]:
    """The ``l`` in ``[l0, l1)`` with ``low <= x + l * step < high`` for sure: one voxel is given up at
    each end so that round-off cannot let a voxel in that the exact test would keep out."""
    if step == 0.0:
        return (l0, l1) if low + 1e-6 <= x < high - 1e-6 else (l0, l0)
    a, b = (low - x) / step, (high - x) / step
    if step < 0.0:
        a, b = b, a
    a = min(max(a, l0 - 2.0), l1 + 2.0)  # bounded before the int conversion (far rows give huge values)
    b = min(max(b, l0 - 2.0), l1 + 2.0)
    start = max(l0, int(math.floor(a)) + 1)
    stop = min(l1, int(math.ceil(b)) - 1)
    return start, max(start, stop)


def _axis_interior(x: float, step: float, n: int, low: float, high: float, l0: int, l1: int) -> tuple[int, int]:
    """:func:`_interior` of one axis; an axis of one voxel whose coordinate is exactly 0 along the whole
    row (a 2-D image's leading axis) is interior everywhere: its taps all read voxel 0 (through a
    stride of 0, :func:`._args._storage`) with weight 0, as the edge path reads them."""
    if n == 1 and x == 0.0 and step == 0.0:
        return l0, l1
    return _interior(x, step, low, n + high, l0, l1)


def _row_interior(x0: float, x1: float, x2: float, lin: Any, nsrc: Any, low: float, high: float, l0: int, l1: int) -> tuple[int, int]:
    """The part of a row where every axis' coordinate is in ``[low, n + high)`` (see :func:`_axis_interior`)."""
    s0, e0 = _axis_interior(x0, lin[0, 2], nsrc[0], low, high, l0, l1)
    s1, e1 = _axis_interior(x1, lin[1, 2], nsrc[1], low, high, l0, l1)
    s2, e2 = _axis_interior(x2, lin[2, 2], nsrc[2], low, high, l0, l1)
    start = max(s0, max(s1, s2))
    return start, max(start, min(e0, min(e1, e2)))


def _row_start(r: int, ost: Any, oshape: Any, origin: Any, lin: Any) -> tuple[int, float, float, float]:
    """Output row ``r`` (flat over the output's first two padded axes): its storage offset and the source
    coordinates of its first voxel."""
    a = r // oshape[2]
    b = r - a * oshape[2]
    return (ost[1] * a + ost[2] * b, (origin[0] + a * lin[0, 0]) + b * lin[0, 1],
            (origin[1] + a * lin[1, 0]) + b * lin[1, 1], (origin[2] + a * lin[2, 0]) + b * lin[2, 1])


def _ahead_offset(lin: Any, sst: Any, rows: float) -> int:
    """The storage offset between a voxel's first tap and (about) the same voxel's ``rows`` rows further
    along the output's second axis (each axis' step rounded): the interior loops ask for the source
    lines there while they read this row's taps. An oblique target's rows read source lines far apart,
    which the hardware's own prefetch does not foresee; from a source out of cache (as after another
    call) the 2-D linear kernel of sweep geometry 9 took 3-4x its in-cache time without the hints, 1.3x
    with them, and the 3-D ones gained 10-40% (geometries 3, 6, 7) over hints given in a pass of
    their own before the row."""
    offset: int = (int(math.floor(rows * lin[0, 1] + 0.5)) * sst[1] + int(math.floor(rows * lin[1, 1] + 0.5)) * sst[2]
                   + int(math.floor(rows * lin[2, 1] + 0.5)) * sst[3])
    return offset


def _fill_row(out: Any, at: int, ost: Any, channels: int, lo: int, hi: int, length: int, fill: Any) -> None:
    """``fill`` outside the row's inside run ``[lo, hi)``, every channel."""
    for c in range(channels):
        for l in range(0, lo):
            out[at + c * ost[0] + l * ost[3]] = fill
        for l in range(hi, length):
            out[at + c * ost[0] + l * ost[3]] = fill


compile_module(globals(), helpers=('_tile_rows', '_wrap', '_reflect_coord', '_snap_half', '_snapped_floor', '_linear_coord', '_interior', '_axis_interior', '_row_interior', '_row_start', '_ahead_offset', '_fill_row'), modes=())
