"""The linear argmax export's three passes (:mod:`..export`): the first pass (every source voxel's
first-maximum class, runner-up value and class, third value), the per-cell certificate, and the
per-target-row argmax."""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ..box import Box
from ..options import WarpOptions
from ..plan import WarpPlan
from ._args import _fill_value, _geometry, _padded_out, _runs, _storage
from ._rows import _linear_coord, _row_start, _snap_half, _tile_rows
from ._runtime import TILE, _run, available, compile_module, numba


def _top3_row(r0: int, r1: int, x: Any, count: int, classes: int, length: int, first: Any, second: Any,
              second_class: Any, third: Any, nan_seen: Any) -> None:
    """Export's first pass over the source voxels of rows ``[r0, r1)`` (``length`` voxels a row, ``x``
    channel-major ``(K, count)``): the first-maximum class, the runner-up value and class, the third
    value. Class after class along a row (contiguous reads; voxel after voxel reads ``K`` pages)."""
    b1, b2, b3 = np.empty(length, dtype=np.float64), np.empty(length, dtype=np.float64), np.empty(length, dtype=np.float64)
    i1, i2 = np.empty(length, dtype=np.int64), np.empty(length, dtype=np.int64)
    for r in range(r0, r1):
        base = r * length
        for v in range(length):
            b1[v], i1[v], b2[v], i2[v], b3[v] = x[base + v], 0, -np.inf, -1, -np.inf
            if x[base + v] != x[base + v]:
                nan_seen[0] = 1
        for k in range(1, classes):
            at = k * count + base
            for v in range(length):
                value = x[at + v]
                if value > b1[v]:  # strictly: the first maximum keeps the smallest class
                    b3[v], b2[v], i2[v], b1[v], i1[v] = b2[v], b1[v], i1[v], value, k
                elif value > b2[v]:
                    b3[v], b2[v], i2[v] = b2[v], value, k
                elif value > b3[v]:
                    b3[v] = value
                elif value != value:
                    nan_seen[0] = 1
        for v in range(length):
            first[base + v], second[base + v], second_class[base + v], third[base + v] = i1[v], b2[v], i2[v], b3[v]


def _certify_row(r: int, code: Any, first: Any, x: Any, count: int, classes: int, n0: int, n1: int, n2: int,
                 second: Any, second_class: Any, third: Any, cell_low: Any, cell_high: Any) -> None:
    """Export's cell codes for the cells whose lowest corner is in row ``r`` (the cell's upper corners
    clamped onto the grid; a 2-D grid has ``n0 = 1``), as export._Pruned's torch path builds them:
    the corners' common first-maximum class (a pure cell); ``K`` for two corner classes ``lo < hi``
    with every other class below ``max(min x_lo, min x_hi)`` over the corners (the pair in
    ``cell_low``/``cell_high``); else ``K + 1``."""
    a, b = r // n1, r % n1
    a0, a1 = a * n1 * n2, min(a + 1, n0 - 1) * n1 * n2
    b0, b1 = b * n2, min(b + 1, n1 - 1) * n2
    for c in range(n2):
        v = a0 + b0 + c
        c1 = min(c + 1, n2 - 1)
        low, high = first[v], first[v]
        for t in range(8):
            tap = _corner(t, a0, a1, b0, b1, c, c1)
            low, high = min(low, first[tap]), max(high, first[tap])
        if low == high:
            code[v] = low
            continue
        code[v] = classes + 1
        two = True
        least_low, least_high, bound = np.inf, np.inf, -np.inf
        for t in range(8):
            tap = _corner(t, a0, a1, b0, b1, c, c1)
            if first[tap] != low and first[tap] != high:
                two = False
            least_low = min(least_low, x[low * count + tap])
            least_high = min(least_high, x[high * count + tap])
            taken = second_class[tap] == low or second_class[tap] == high
            bound = max(bound, float(third[tap]) if taken else float(second[tap]))
        if two and bound < max(float(least_low), float(least_high)):
            code[v], cell_low[v], cell_high[v] = classes, low, high


def _corner(t: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int) -> int:
    """Storage offset of a cell's corner ``t`` (0..7, last axis fastest): lower (``p``) or upper (``q``) per axis."""
    return (q0 if t >= 4 else p0) + (q1 if (t // 2) % 2 == 1 else p1) + (q2 if t % 2 == 1 else p2)


def _argmax_score(x: Any, count: int, k: int, taps: Any, weights: Any) -> float:
    """Class ``k``'s linear sample: its 8 taps weighted, summed in tap order, float64."""
    score = 0.0
    for t in range(8):
        score += weights[t] * x[k * count + taps[t]]
    return score


def _argmax_row(r: int, taps: Any, weights: Any, candidates: Any, x: Any, count: int, classes: int, nsrc: Any,
                code: Any, first: Any, second: Any, second_class: Any, third: Any, cell_low: Any, cell_high: Any,
                out: Any, ost: Any, prob: Any, keep_prob: bool, oshape: Any, origin: Any, lin: Any, lo: Any, hi: Any,
                fill: Any, reflect: bool) -> None:
    """Export (linear argmax) of one target row: each voxel's cell code (its lowest corner's, as
    export._Pruned builds it) gives its class (pure cell), the better of its certified pair, or the
    best of its corners' classes when every other class stays below it (each corner's runner-up, or
    third value when the runner-up is a corner class), else the best of all ``K``. Scores in float64;
    the first maximum (smallest class) wins ties. ``taps``/``weights``/``candidates``: scratch of 8."""
    n0, n1, n2 = nsrc[0], nsrc[1], nsrc[2]
    s1, s2 = n1 * n2, n2
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    for l in range(oshape[3]):
        at = base + l * ost[3]
        if l < lo[r] or l >= hi[r]:
            out[at] = fill
            if keep_prob:
                prob[at] = 0.0
            continue
        y0 = _linear_coord(_snap_half(x0 + l * lin[0, 2]), n0, reflect)
        y1 = _linear_coord(_snap_half(x1 + l * lin[1, 2]), n1, reflect)
        y2 = _linear_coord(_snap_half(x2 + l * lin[2, 2]), n2, reflect)
        f0, f1, f2 = math.floor(y0), math.floor(y1), math.floor(y2)
        u0, u1, u2 = y0 - f0, y1 - f1, y2 - f2
        i0, i1, i2 = int(f0), int(f1), int(f2)
        p0, q0 = i0 * s1, min(i0 + 1, n0 - 1) * s1
        p1, q1 = i1 * s2, min(i1 + 1, n1 - 1) * s2
        p2, q2 = i2, min(i2 + 1, n2 - 1)
        cell = code[p0 + p1 + p2]
        if cell < classes and not keep_prob:
            out[at] = cell
            continue
        for t in range(8):
            taps[t] = _corner(t, p0, q0, p1, q1, p2, q2)
            wa = u0 if t >= 4 else 1.0 - u0
            wb = u1 if (t // 2) % 2 == 1 else 1.0 - u1
            wc = u2 if t % 2 == 1 else 1.0 - u2
            weights[t] = (wa * wb) * wc
        if cell < classes:
            winner, best = cell, _argmax_score(x, count, cell, taps, weights)
        elif cell == classes:  # a certified pair: low < high, ties to low
            low, high = cell_low[p0 + p1 + p2], cell_high[p0 + p1 + p2]
            best, other = _argmax_score(x, count, low, taps, weights), _argmax_score(x, count, high, taps, weights)
            winner = low
            if other > best:
                winner, best = high, other
        else:
            found = 0
            for t in range(8):
                c = first[taps[t]]
                new = True
                for m in range(found):
                    if candidates[m] == c:
                        new = False
                if new:
                    candidates[found] = c
                    found += 1
            winner, best = -1, -np.inf
            for m in range(found):
                score = _argmax_score(x, count, candidates[m], taps, weights)
                if score > best or (score == best and candidates[m] < winner):
                    winner, best = candidates[m], score
            bound = -np.inf
            for t in range(8):
                taken = False
                for m in range(found):
                    if second_class[taps[t]] == candidates[m]:
                        taken = True
                bound = max(bound, float(third[taps[t]]) if taken else float(second[taps[t]]))
            if not bound < best:  # another class may reach the best: score them all
                winner, best = 0, _argmax_score(x, count, 0, taps, weights)
                for k in range(1, classes):
                    score = _argmax_score(x, count, k, taps, weights)
                    if score > best:
                        winner, best = k, score
        out[at] = winner
        if keep_prob:
            prob[at] = best


def _top3_serial(rows_a: int, rows_b: int, args: Any) -> None:
    _top3_row(0, rows_a * rows_b, *args)


def _top3_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    rows = rows_a * rows_b
    for t in numba.prange((rows + TILE * TILE - 1) // (TILE * TILE)):  # the row's scratch once per TILE^2 rows
        _top3_row(t * TILE * TILE, min(rows, (t + 1) * TILE * TILE), *args)


def _certify_serial(rows_a: int, rows_b: int, args: Any) -> None:
    for r in range(rows_a * rows_b):
        _certify_row(r, *args)


def _certify_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for r in numba.prange(rows_a * rows_b):
        _certify_row(r, *args)


def _argmax_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        taps, weights, candidates = np.empty(8, dtype=np.int64), np.empty(8, dtype=np.float64), np.empty(8, dtype=np.int64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _argmax_row(a * rows_b + b, taps, weights, candidates, *args)


def _argmax_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        taps, weights, candidates = np.empty(8, dtype=np.int64), np.empty(8, dtype=np.float64), np.empty(8, dtype=np.int64)
        for a in range(a0, a1):
            for b in range(b0, b1):
                _argmax_row(a * rows_b + b, taps, weights, candidates, *args)


compile_module(globals(), helpers=('_corner', '_argmax_score'), modes=('top3', 'certify', 'argmax'))


def _grid3(shape: Sequence[int]) -> tuple[int, int, int]:
    """A 2-D or 3-D source shape as 3 axes (a leading axis of one for 2-D)."""
    return (1, int(shape[0]), int(shape[1])) if len(shape) == 2 else (int(shape[0]), int(shape[1]), int(shape[2]))


def _export_applies(x: torch.Tensor) -> bool:
    """Whether the export kernels take ``x`` ``(K, *source)``: contiguous float32/float64 on CPU, 2-D or 3-D."""
    return available() and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and x.is_contiguous() and x.dim() in (3, 4)


def export_first_pass(x: torch.Tensor, first: torch.Tensor, second: torch.Tensor, second_class: torch.Tensor,
                      third: torch.Tensor) -> bool:
    """Fill, for every source voxel of ``x`` ``(K, *source)`` (contiguous, float32/float64, 2-D or 3-D),
    its first-maximum class (``first``), its runner-up value and class and its third value
    (``second``, ``second_class``, ``third``; ``-inf`` and ``-1`` where ``K`` is smaller), all flat
    over the source. Ties: the first maximum is the smallest class; among equal runners-up any
    (the certificate only needs a bound). False, with nothing promised, where the kernel does not
    apply (CUDA, another dtype, numba off) or ``x`` holds NaN (torch's NaN rule is the reference)."""
    if not _export_applies(x):
        return False
    n0, n1, n2 = _grid3(x.shape[1:])
    nan_seen = np.zeros(1, dtype=np.uint8)
    _run("top3", np.asarray([1, n0, n1, n2]), x.view(-1).numpy(), int(n0 * n1 * n2), int(x.shape[0]), n2,
         first.numpy(), second.numpy(), second_class.numpy(), third.numpy(), nan_seen)
    return not nan_seen[0]


def export_certify(x: torch.Tensor, code: torch.Tensor, first: torch.Tensor, second: torch.Tensor,
                   second_class: torch.Tensor, third: torch.Tensor, cell_low: torch.Tensor, cell_high: torch.Tensor) -> bool:
    """Export's code of every cell (flat over the source, at its lowest corner): its class when its
    corners share their first-maximum class, ``K`` for a certified pair (written to ``cell_low``/
    ``cell_high``), else ``K + 1``. From the arrays :func:`export_first_pass` filled; False where
    the kernel does not apply."""
    if not _export_applies(x):
        return False
    n0, n1, n2 = _grid3(x.shape[1:])
    _run("certify", np.asarray([1, n0, n1, n2]), code.view(-1).numpy(), first.numpy(), x.view(-1).numpy(),
         int(n0 * n1 * n2), int(x.shape[0]), n0, n1, n2, second.numpy(), second_class.numpy(), third.numpy(),
         cell_low.numpy(), cell_high.numpy())
    return True


def export_argmax(x: torch.Tensor, code: torch.Tensor, first: torch.Tensor, second: torch.Tensor, second_class: torch.Tensor,
                  third: torch.Tensor, cell_low: torch.Tensor, cell_high: torch.Tensor, plan: WarpPlan, box: Box,
                  options: WarpOptions, labels: torch.Tensor, prob: Optional[torch.Tensor]) -> bool:
    """The linear argmax export of the target ``box`` into ``labels`` (and ``prob``) ``(*box_shape)``
    views, from the per-source-voxel arrays of :func:`export_first_pass` and :func:`export_certify`
    (and the cell codes ``code``: class, ``K`` certified pair, ``K + 1`` mixed). False where the
    kernel does not apply (as :func:`export_first_pass`)."""
    if not _export_applies(x):
        return False
    ndim = plan.ndim
    n = _grid3(x.shape[1:])
    origin, lin = _geometry(plan.matrix, [b.start for b in box], ndim, False)
    lo, hi = _runs(plan, box, options)
    if prob is not None and prob.stride() != labels.stride():  # the kernel writes both at the labels' offsets
        return False
    out, ost = _storage(labels[None])
    oshape = _padded_out(ndim, (1, *labels.shape))
    probe = _storage(prob[None])[0] if prob is not None else np.zeros(1, dtype=np.float32)
    _run("argmax", oshape, x.view(-1).numpy(), int(n[0] * n[1] * n[2]), int(x.shape[0]), np.asarray(n, dtype=np.int64),
         code.view(-1).numpy(), first.numpy(), second.numpy(), second_class.numpy(), third.numpy(), cell_low.numpy(),
         cell_high.numpy(), out, ost, probe, prob is not None, oshape, origin, lin, lo, hi,
         _fill_value(options.fill, labels.dtype, None), options.padding_mode == "reflection")
    return True
