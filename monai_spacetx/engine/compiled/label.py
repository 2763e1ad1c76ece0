"""Label: the linear taps of the snapped coordinate, then the vote of :mod:`..label` (the class with the
largest summed weight, scores quantised by ``WEIGHT_TOL``, ties to the smaller label), with the same
summation order, so that the result is bit for bit the torch path's. A voxel whose cell's 8 taps hold
one label takes it without a vote; for targets at least as large as the source, from a one-byte map
of the uniform source cells (:func:`_uniform_cells`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ...geometry.tolerances import WEIGHT_TOL
from ..box import Box
from ..options import WarpOptions
from ..plan import WarpPlan
from ._args import _fill_value, _geometry, _padded, _padded_out, _runs, _storage
from ._rows import _fill_row, _linear_coord, _row_interior, _row_start, _snap_half, _snapped_floor, _tile_rows
from ._runtime import TILE, _jit, _run, available, compile_module, numba


#: Label dtypes the vote kernel compares directly (bool is moved as uint8: False < True holds).
_LABEL_DTYPES = {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float32, torch.float64}


def _label_vote(src: Any, s: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int, u0: float, u1: float, u2: float,
                labels: Any, weights: Any) -> Any:
    """The vote of :mod:`.label` among a voxel's 8 linear taps whose labels differ (storage offsets ``p``/``q``
    per axis, weights ``u`` of the upper taps). Taps in the torch path's order: ``(c0, c1, c2)``, ``c2``
    fastest; weights ``((1 * w_0) * w_1) * w_2`` as label._label_tile's ``weights_at``; scores summed in
    tap order. Two classes (most mixed cells) in registers; more in the scratch arrays."""
    a0, a1, a2, a3 = src[s + p0 + p1 + p2], src[s + p0 + p1 + q2], src[s + p0 + q1 + p2], src[s + p0 + q1 + q2]
    a4, a5, a6, a7 = src[s + q0 + p1 + p2], src[s + q0 + p1 + q2], src[s + q0 + q1 + p2], src[s + q0 + q1 + q2]
    v0, v1, v2 = 1.0 - u0, 1.0 - u1, 1.0 - u2
    w0, w1, w2, w3 = (v0 * v1) * v2, (v0 * v1) * u2, (v0 * u1) * v2, (v0 * u1) * u2
    w4, w5, w6, w7 = (u0 * v1) * v2, (u0 * v1) * u2, (u0 * u1) * v2, (u0 * u1) * u2
    low = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
    high = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))
    if ((a0 == low or a0 == high) and (a1 == low or a1 == high) and (a2 == low or a2 == high) and (a3 == low or a3 == high)
            and (a4 == low or a4 == high) and (a5 == low or a5 == high) and (a6 == low or a6 == high)
            and (a7 == low or a7 == high)):  # label._of_two
        score = 0.0
        score += w0 if a0 == high else 0.0
        score += w1 if a1 == high else 0.0
        score += w2 if a2 == high else 0.0
        score += w3 if a3 == high else 0.0
        score += w4 if a4 == high else 0.0
        score += w5 if a5 == high else 0.0
        score += w6 if a6 == high else 0.0
        score += w7 if a7 == high else 0.0
        return high if np.rint(score / WEIGHT_TOL) > np.rint((1.0 - score) / WEIGHT_TOL) else low
    labels[0], labels[1], labels[2], labels[3], labels[4], labels[5], labels[6], labels[7] = a0, a1, a2, a3, a4, a5, a6, a7
    weights[0], weights[1], weights[2], weights[3], weights[4], weights[5], weights[6], weights[7] = w0, w1, w2, w3, w4, w5, w6, w7
    best = -1.0  # label._winner_of_many then label._best
    winner = high
    for t in range(8):
        score = 0.0
        for u in range(8):
            if labels[u] == labels[t]:
                score += weights[u]
        rounded = np.rint(score / WEIGHT_TOL)
        if rounded > best:
            best, winner = rounded, labels[t]
        elif rounded == best and labels[t] < winner:
            winner = labels[t]
    return winner


def _uniform(src: Any, s: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int, first: Any) -> bool:
    """Whether the 8 taps all hold ``first`` (the tap at ``p0 + p1 + p2``), with early exits."""
    return bool(src[s + p0 + p1 + q2] == first and src[s + p0 + q1 + p2] == first and src[s + p0 + q1 + q2] == first
                and src[s + q0 + p1 + p2] == first and src[s + q0 + p1 + q2] == first
                and src[s + q0 + q1 + p2] == first and src[s + q0 + q1 + q2] == first)


def _label_interior(src: Any, out: Any, at: int, step: int, s: int, x0: float, x1: float, x2: float, d0: float, d1: float,
                    d2: float, l0: int, l1: int, sst: Any, labels: Any, weights: Any, cells: Any,
                    mapped: bool) -> None:
    """Label over the voxels ``[l0, l1)`` of a row whose snapped coordinates lie in ``[0, n - 1)`` on every
    axis: no padding rule, both taps on the grid. With a map of uniform cells (``mapped``: one byte a
    source voxel, 1 where the cell's 8 corners agree) a voxel reads one byte; without it, a cell found
    uniform answers the next voxels of the row that fall in it (the usual upsampling back to the scan)."""
    t0, t1, t2 = sst[1], sst[2], sst[3]
    last = -1
    last_label = src[s]
    for l in range(l0, l1):
        y0, y1, y2 = x0 + l * d0, x1 + l * d1, x2 + l * d2
        i0, i1, i2 = _snapped_floor(y0), _snapped_floor(y1), _snapped_floor(y2)
        p0, p1, p2 = i0 * t0, i1 * t1, i2 * t2
        cell = p0 + p1 + p2
        if mapped:
            if cells[s + cell]:
                out[at + l * step] = src[s + cell]
                continue
        elif cell == last:
            out[at + l * step] = last_label
            continue
        else:
            first = src[s + cell]
            if _uniform(src, s, p0, p0 + t0, p1, p1 + t1, p2, p2 + t2, first):
                last, last_label = cell, first
                out[at + l * step] = first
                continue
        y0, y1, y2 = _snap_half(y0), _snap_half(y1), _snap_half(y2)
        out[at + l * step] = _label_vote(src, s, p0, p0 + t0, p1, p1 + t1, p2, p2 + t2, y0 - i0, y1 - i1, y2 - i2,
                                         labels, weights)


def _label_edge(src: Any, out: Any, at: int, step: int, s: int, x0: float, x1: float, x2: float, lin: Any, nsrc: Any,
                l0: int, l1: int, sst: Any, labels: Any, weights: Any, reflect: bool) -> None:
    """Label over the voxels ``[l0, l1)`` of a row, some of whose taps need the padding rule."""
    n0, n1, n2 = nsrc[0], nsrc[1], nsrc[2]
    for l in range(l0, l1):
        y0 = _linear_coord(_snap_half(x0 + l * lin[0, 2]), n0, reflect)
        y1 = _linear_coord(_snap_half(x1 + l * lin[1, 2]), n1, reflect)
        y2 = _linear_coord(_snap_half(x2 + l * lin[2, 2]), n2, reflect)
        f0, f1, f2 = math.floor(y0), math.floor(y1), math.floor(y2)
        i0, i1, i2 = int(f0), int(f1), int(f2)
        p0, q0 = i0 * sst[1], min(i0 + 1, n0 - 1) * sst[1]
        p1, q1 = i1 * sst[2], min(i1 + 1, n1 - 1) * sst[2]
        p2, q2 = i2 * sst[3], min(i2 + 1, n2 - 1) * sst[3]
        first = src[s + p0 + p1 + p2]
        if _uniform(src, s, p0, q0, p1, q1, p2, q2, first):
            out[at + l * step] = first
        else:
            out[at + l * step] = _label_vote(src, s, p0, q0, p1, q1, p2, q2, y0 - f0, y1 - f1, y2 - f2, labels, weights)


def _label_row(r: int, labels: Any, weights: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any,
               oshape: Any, origin: Any, lin: Any, lo: Any, hi: Any, fill: Any, reflect: bool, cells: Any, mapped: bool) -> None:
    """Label: the 8 linear taps' labels; where they differ, the vote of :mod:`.label` (``labels``,
    ``weights``: the vote's scratch, 8 each, one set per tile)."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    _fill_row(out, base, ost, oshape[0], lo[r], hi[r], oshape[3], fill)
    # kept 1e-6 below n - 1, so that snapping (by at most SNAP_TOL) cannot reach the last index; none
    # with reflection, whose arithmetic moves even an inside coordinate by round-off (and so the vote)
    fast0, fast1 = _row_interior(x0, x1, x2, lin, nsrc, 0.0, -1.0 - 1e-6, lo[r], hi[r])
    fast1 = fast0 if reflect else fast1
    inner = fast1 > fast0
    for c in range(oshape[0]):
        s, at = c * sst[0], base + c * ost[0]
        _label_interior(src, out, at, ost[3], s, x0, x1, x2, lin[0, 2], lin[1, 2], lin[2, 2], fast0, fast1, sst,
                        labels, weights, cells, mapped)
        _label_edge(src, out, at, ost[3], s, x0, x1, x2, lin, nsrc, lo[r], fast0 if inner else hi[r], sst,
                    labels, weights, reflect)
        if inner:
            _label_edge(src, out, at, ost[3], s, x0, x1, x2, lin, nsrc, fast1, hi[r], sst, labels, weights, reflect)


def _label_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        # allocated per tile: per row, the threads would contend in the allocator
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_row(a * rows_b + b, labels, weights, *args)


def _label_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        # allocated per tile: per row, the threads would contend in the allocator
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_row(a * rows_b + b, labels, weights, *args)


def _axis_table(o: float, step: float, n: int, stride: int, reflect: bool, p: Any, q: Any, u: Any, first: Any, last: Any) -> None:
    """One target axis of an axis-aligned label resample: for each of its voxels ``l`` the source
    coordinate ``o + l * step`` (the general rows' arithmetic) through the edge rule of
    :func:`_label_edge`: the lower and upper taps' storage offsets (``p``, ``q``) and the upper
    tap's weight ``u``; for each source index ``i`` the targets ``[first[i], last[i])`` whose lower
    tap it is (a run: the map is monotone without reflection; ``first >= last``: none)."""
    for i in range(n):
        first[i], last[i] = p.shape[0], 0
    for l in range(p.shape[0]):
        y = _linear_coord(_snap_half(o + l * step), n, reflect)
        f = math.floor(y)
        i = int(f)
        p[l], q[l], u[l] = i * stride, min(i + 1, n - 1) * stride, y - f
        first[i], last[i] = min(first[i], l), max(last[i], l + 1)


def _label_axes_row(r: int, labels: Any, weights: Any, src: Any, sst: Any, out: Any, ost: Any, oshape: Any,
                    p: Any, q: Any, u: Any, cells: Any, mapped: bool) -> None:
    """An axis-aligned label row (target axis ``k`` reads source axis ``k``): the taps and weights of
    each axis from its table (:func:`_axis_table`), so a voxel in a uniform cell costs one table
    read, one map byte (``mapped``) or the cell's 8 taps, and one label; the rest vote as
    :func:`_label_edge` does (same taps, weights and order: the same labels)."""
    a = r // oshape[2]
    b = r - a * oshape[2]
    base = ost[1] * a + ost[2] * b
    p0, q0, u0, p1, q1, u1 = p[0, a], q[0, a], u[0, a], p[1, b], q[1, b], u[1, b]
    for c in range(oshape[0]):
        s, at = c * sst[0], base + c * ost[0]
        row = s + p0 + p1
        last = -1
        last_label = src[s]
        for l in range(oshape[3]):
            p2 = p[2, l]
            cell = row + p2
            if mapped:
                if cells[cell]:
                    out[at + l * ost[3]] = src[cell]
                    continue
            elif p2 == last:
                out[at + l * ost[3]] = last_label
                continue
            first = src[cell]
            q2 = q[2, l]
            if _uniform(src, s, p0, q0, p1, q1, p2, q2, first):
                last, last_label = p2, first
                out[at + l * ost[3]] = first
            else:
                out[at + l * ost[3]] = _label_vote(src, s, p0, q0, p1, q1, p2, q2, u0, u1, u[2, l], labels, weights)


def _label_first_row(r: int, a0: int, b0: int, src: Any, sst: Any, out: Any, ost: Any, oshape: Any, p: Any) -> None:
    """The two-pass axis-aligned label resample's first pass, one target row: every voxel takes the
    label of its cell's lowest tap (a gather, as nearest): right wherever the cell is uniform. A row
    whose lower taps are those of the row before it in the tile (``b - 1``, else ``a - 1``: written
    already, by this thread) is a copy of that row."""
    a = r // oshape[2]
    b = r - a * oshape[2]
    base = ost[1] * a + ost[2] * b
    if b > b0 and p[1, b] == p[1, b - 1]:
        before = base - ost[2]
    elif a > a0 and p[0, a] == p[0, a - 1]:
        before = base - ost[1]
    else:
        before = -1
    for c in range(oshape[0]):
        at = base + c * ost[0]
        if before >= 0:
            was = before + c * ost[0]
            if ost[3] == 1:  # a contiguous row: one block copy
                out[at : at + oshape[3]] = out[was : was + oshape[3]]
            else:
                for l in range(oshape[3]):
                    out[at + l * ost[3]] = out[was + l * ost[3]]
            continue
        row = c * sst[0] + p[0, a] + p[1, b]
        for l in range(oshape[3]):
            out[at + l * ost[3]] = src[row + p[2, l]]


def _label_mixed_row(r: int, labels: Any, weights: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any,
                     p: Any, q: Any, u: Any, first: Any, last: Any, cells: Any) -> None:
    """The second pass, source slab ``r`` (channel ``r // n0``, first source index ``r % n0``): every
    cell of the slab that is not uniform (``cells`` 0) votes for the target voxels that read it, the
    box ``[first, last)`` per axis of the targets whose lowest tap is the cell's corner."""
    c = r // nsrc[0]
    i0 = r - c * nsrc[0]
    if first[0, i0] >= last[0, i0]:
        return
    s = c * sst[0]
    for i1 in range(nsrc[1]):
        if first[1, i1] >= last[1, i1]:
            continue
        for i2 in range(nsrc[2]):
            if first[2, i2] >= last[2, i2]:
                continue
            if cells[s + i0 * sst[1] + i1 * sst[2] + i2 * sst[3]]:
                continue
            # the cell's 8 labels once; two classes (most mixed cells): each reader only weighs them,
            # with _label_vote's arithmetic (the same products, summed in tap order)
            p0, q0 = i0 * sst[1], min(i0 + 1, nsrc[0] - 1) * sst[1]
            p1, q1 = i1 * sst[2], min(i1 + 1, nsrc[1] - 1) * sst[2]
            p2, q2 = i2 * sst[3], min(i2 + 1, nsrc[2] - 1) * sst[3]
            t0, t1, t2, t3 = src[s + p0 + p1 + p2], src[s + p0 + p1 + q2], src[s + p0 + q1 + p2], src[s + p0 + q1 + q2]
            t4, t5, t6, t7 = src[s + q0 + p1 + p2], src[s + q0 + p1 + q2], src[s + q0 + q1 + p2], src[s + q0 + q1 + q2]
            low = min(min(min(t0, t1), min(t2, t3)), min(min(t4, t5), min(t6, t7)))
            high = max(max(max(t0, t1), max(t2, t3)), max(max(t4, t5), max(t6, t7)))
            if ((t0 == low or t0 == high) and (t1 == low or t1 == high) and (t2 == low or t2 == high)
                    and (t3 == low or t3 == high) and (t4 == low or t4 == high) and (t5 == low or t5 == high)
                    and (t6 == low or t6 == high) and (t7 == low or t7 == high)):
                for a in range(first[0, i0], last[0, i0]):
                    u0 = u[0, a]
                    v0 = 1.0 - u0
                    for b in range(first[1, i1], last[1, i1]):
                        u1 = u[1, b]
                        v1 = 1.0 - u1
                        f00, f01, f10, f11 = v0 * v1, v0 * u1, u0 * v1, u0 * u1
                        at = c * ost[0] + a * ost[1] + b * ost[2]
                        for l in range(first[2, i2], last[2, i2]):
                            u2 = u[2, l]
                            v2 = 1.0 - u2
                            score = 0.0
                            score += f00 * v2 if t0 == high else 0.0
                            score += f00 * u2 if t1 == high else 0.0
                            score += f01 * v2 if t2 == high else 0.0
                            score += f01 * u2 if t3 == high else 0.0
                            score += f10 * v2 if t4 == high else 0.0
                            score += f10 * u2 if t5 == high else 0.0
                            score += f11 * v2 if t6 == high else 0.0
                            score += f11 * u2 if t7 == high else 0.0
                            out[at + l * ost[3]] = high if np.rint(score / WEIGHT_TOL) > np.rint((1.0 - score) / WEIGHT_TOL) else low
                continue
            for a in range(first[0, i0], last[0, i0]):
                for b in range(first[1, i1], last[1, i1]):
                    at = c * ost[0] + a * ost[1] + b * ost[2]
                    for l in range(first[2, i2], last[2, i2]):
                        out[at + l * ost[3]] = _label_vote(src, s, p[0, a], q[0, a], p[1, b], q[1, b], p[2, l], q[2, l],
                                                           u[0, a], u[1, b], u[2, l], labels, weights)


def _label_first_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_first_row(a * rows_b + b, a0, b0, *args)


def _label_first_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_first_row(a * rows_b + b, a0, b0, *args)


def _label_mixed_serial(rows_a: int, rows_b: int, args: Any) -> None:
    labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
    for r in range(rows_a * rows_b):
        _label_mixed_row(r, labels, weights, *args)


def _label_mixed_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for t in numba.prange((rows_a * rows_b + 7) // 8):  # 8 source slabs a task: the vote's scratch once
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        for r in range(t * 8, min(rows_a * rows_b, t * 8 + 8)):
            _label_mixed_row(r, labels, weights, *args)


def _label_axes_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_axes_row(a * rows_b + b, labels, weights, *args)


def _label_axes_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_axes_row(a * rows_b + b, labels, weights, *args)


compile_module(globals(), helpers=('_label_vote', '_uniform', '_label_interior', '_label_edge'), modes=('label', 'label_axes', 'label_first', 'label_mixed'))
if numba is not None:
    _axis_table = _jit(_axis_table, nogil=True)


def label_kernel(src: torch.Tensor, matrix: np.ndarray, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> bool:
    """The general path's label mode with a compiled kernel (same arguments and refusals as :func:`general_kernel`)."""
    if not available() or src.device.type != "cpu" or dest.device.type != "cpu" or src.dtype != dest.dtype:
        return False
    view = torch.uint8 if src.dtype == torch.bool else None
    if (view or src.dtype) not in _LABEL_DTYPES:
        return False
    source, sst = _storage(src, view)
    out, ost = _storage(dest, view)
    origin, lin = _geometry(matrix, [b.start for b in box], plan.ndim, False)
    lo, hi = _runs(plan, box, options)
    oshape = _padded_out(plan.ndim, dest.shape)
    reflect = options.padding_mode == "reflection"
    # the map costs 8 reads and one byte per source voxel: worth it where the output has as many voxels
    mapped = plan.ndim == 3 and not reflect and src.is_contiguous() and dest[0].numel() >= src[0].numel()
    cells = _uniform_cells(src) if mapped else np.zeros(1, dtype=np.uint8)
    _run("label", oshape, source, sst, _padded(plan.ndim, src.shape[1:]), out, ost, oshape,
         origin, lin, lo, hi, _fill_value(options.fill, dest.dtype, view), reflect, cells, mapped)
    return True


def label_axes_kernel(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> bool:
    """An axis-aligned (separable or index) plan's label mode with a compiled kernel, target axis
    ``k`` reading source axis ``k`` (no permutation): per-axis tap tables, then per voxel a table
    read and the cell's labels. ``img`` ``(N, *source)`` the whole source; ``dest`` the box (the box
    of an axis-aligned plan is exact: every voxel of it is inside). False (nothing written) where it
    does not apply: as :func:`label_kernel`, a permuting plan, or a thick axis with its own mode."""
    if not available() or img.device.type != "cpu" or dest.device.type != "cpu" or img.dtype != dest.dtype:
        return False
    if plan.axes is None or tuple(plan.axes) != tuple(range(plan.ndim)):
        return False
    if options.thick_axis_mode is not None and plan.thick_source_axis(options.anisotropy_threshold) is not None:
        return False  # the thick axis takes its own taps (separable.separable_taps)
    view = torch.uint8 if img.dtype == torch.bool else None
    if (view or img.dtype) not in _LABEL_DTYPES:
        return False
    source, sst = _storage(img, view)
    out, ost = _storage(dest, view)
    origin, lin = _geometry(plan.matrix, [b.start for b in box], plan.ndim, False)
    nsrc, oshape = _padded(plan.ndim, img.shape[1:]), _padded_out(plan.ndim, dest.shape)
    reflect = options.padding_mode == "reflection"
    length, width = int(oshape[1:].max()), int(nsrc.max())
    p, q = np.zeros((3, length), dtype=np.int64), np.zeros((3, length), dtype=np.int64)
    u = np.zeros((3, length), dtype=np.float64)
    first, last = np.zeros((3, width), dtype=np.int64), np.zeros((3, width), dtype=np.int64)
    for k in range(3):
        _axis_table(float(origin[k]), float(lin[k, k]), int(nsrc[k]), int(sst[1 + k]), reflect,
                    p[k, : oshape[1 + k]], q[k, : oshape[1 + k]], u[k, : oshape[1 + k]], first[k, : nsrc[k]], last[k, : nsrc[k]])
    if plan.ndim == 3 and not reflect and img.is_contiguous() and dest[0].numel() >= img[0].numel():
        # two passes: every voxel its cell's first label (a gather), then the mixed cells' readers vote
        # (the cell map and the scan of the source's cells pay off where the target has as many voxels)
        _run("label_first", oshape, source, sst, out, ost, oshape, p)
        mixed_rows = np.asarray([1, oshape[0] * nsrc[0], 1, 1], dtype=np.int64)
        _run("label_mixed", mixed_rows, source, sst, nsrc, out, ost, oshape, p, q, u, first, last, _uniform_cells(img))
        return True
    _run("label_axes", oshape, source, sst, out, ost, oshape, p, q, u, np.zeros(1, dtype=np.uint8), False)
    return True


def _uniform_cells(src: torch.Tensor) -> np.ndarray:
    """Contiguous ``(C, D, H, W)`` labels -> a uint8 map of their cells in the same layout (a cell's
    storage offset is its lowest corner's): 1 where the 8 corners hold one label, 0 on each axis' last voxel."""
    corner = src[:, :-1, :-1, :-1]
    same = torch.ones_like(corner, dtype=torch.bool)
    for shift in range(1, 8):
        a, b, c = shift >> 2, (shift >> 1) & 1, shift & 1
        same &= src[:, a : a + corner.shape[1], b : b + corner.shape[2], c : c + corner.shape[3]] == corner
    cells = torch.zeros(src.shape, dtype=torch.uint8)
    cells[:, :-1, :-1, :-1] = same
    return cells.view(-1).numpy()
