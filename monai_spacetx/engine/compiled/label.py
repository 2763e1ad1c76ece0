"""Label: the linear taps of the snapped coordinate, then the vote of :mod:`..label` (the class with the
largest summed weight, scores quantised by ``WEIGHT_TOL``, ties to the smaller label), with the same
summation order, so that the result is bit for bit the torch path's. A voxel whose cell's 8 taps hold
one label takes it without a vote; from a contiguous source (no reflection), by one read of the map of
the source cells (:func:`_label_uniform_row`: a cell's label where its 8 corners agree, else a mark: a
region's face across one axis, or another cell), a gather as nearest's; a face's voxel reads its 2
labels, not 8. Two classes are decided by one comparison with
:data:`TWO_CLASS_AT` (the rule's exact threshold), three or more by each distinct label's score.

Axis-aligned plans (:func:`label_axes_kernel`) also skip the vote where a cell is split across one axis
by a plane (a region's face: most mixed cells of a label map) and that axis' side is decided
(:func:`_sure_sides`): the voxel takes the label at the winning side's taps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ...geometry.tolerances import SNAP_TOL, WEIGHT_TOL
from ..box import Box
from ..options import WarpOptions
from ..plan import WarpPlan
from ..separable import run_steps, step_order
from ._args import _flat, _general_args, _geometry, _padded, _padded_out, _storage
from ._rows import _ahead_offset, _fill_row, _linear_coord, _row_interior, _row_start, _snap_half, _tile_rows
from ._runtime import TILE, _jit, _run, available, compile_module, numba, per_tile, prefetch


#: Label dtypes the vote kernel compares directly (bool is moved as uint8: False < True holds).
_LABEL_DTYPES = {torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.float32, torch.float64}


def _two_class_threshold() -> float:
    """The smallest float64 score ``s`` for which :mod:`..label`'s two-class rule,
    ``rint(s / WEIGHT_TOL) > rint((1 - s) / WEIGHT_TOL)``, gives the larger label.

    The rule is monotone in ``s`` (each side is a chain of correctly rounded monotone operations:
    the left one never decreases as ``s`` grows, the right one never increases), so it is exactly
    ``s >= threshold``, found by bisection over the ordered bit patterns of the non-negative doubles:
    the kernels compare once where the rule divides twice and rounds twice, with the same answers."""
    def larger(score: float) -> bool:
        return bool(np.rint(np.float64(score) / WEIGHT_TOL) > np.rint((1.0 - np.float64(score)) / WEIGHT_TOL))

    lo, hi = int(np.float64(0.0).view(np.int64)), int(np.float64(1.0).view(np.int64))  # larger(0) is False, larger(1) True
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if larger(float(np.int64(mid).view(np.float64))):
            hi = mid
        else:
            lo = mid
    threshold = float(np.int64(hi).view(np.float64))
    assert larger(threshold) and not larger(float(np.int64(hi - 1).view(np.float64)))
    return threshold


#: Scores at or above this give the larger of two classes (:func:`_two_class_threshold`).
TWO_CLASS_AT = _two_class_threshold()
#: How far an axis' upper weight must be from one half for :func:`_sure_sides` to decide without the score.
_SURE_MARGIN = 1e-12
#: The same decision from a weight not yet snapped (:func:`_label_interior`): snapping moves it by at most SNAP_TOL.
_UPPER_SURE = TWO_CLASS_AT + _SURE_MARGIN + 2.0 * SNAP_TOL
_LOWER_SURE = (1.0 - TWO_CLASS_AT) - _SURE_MARGIN - 2.0 * SNAP_TOL


def _sure_sides(u: np.ndarray) -> np.ndarray:
    """``(3, L)`` int8 from the upper-tap weights ``u`` ``(3, L)`` of an axis-aligned resample: which side
    wins at target index ``j`` of axis ``k`` in a source cell split across ``k`` by a plane (two classes,
    each on one side: a region's face, the usual mixed cell): 1 the upper side, 0 the lower, -1 undecided.

    The larger label's score is its side's 4 tap weights summed, products ``(w_0 * w_1) * w_2`` of the
    float64 factors ``w = 1 - u`` below and ``u`` above; exactly, it is that side's own weight along ``k``
    (``u`` or ``1 - u`` as computed) times ``((1 - u) + u)`` along the two other axes, each 1 within
    2^-53, and the 11 roundings move it by less than 2e-15. So where ``u >= TWO_CLASS_AT + margin`` the
    upper side wins whichever label it holds (holding the larger, it scores at least the threshold;
    holding the smaller, the larger scores ``1 - u``, below it); where ``u <= 1 - TWO_CLASS_AT - margin``
    the lower side wins; in between (within about 1e-12 of one half: exact ties included, which go to the
    smaller label, whichever side holds it) the score must decide."""
    wins = np.full(u.shape, -1, dtype=np.int8)
    wins[u >= TWO_CLASS_AT + _SURE_MARGIN] = 1
    wins[u <= (1.0 - TWO_CLASS_AT) - _SURE_MARGIN] = 0
    return wins


def _vote8(a0: Any, a1: Any, a2: Any, a3: Any, a4: Any, a5: Any, a6: Any, a7: Any, u0: float, u1: float, u2: float,
           labels: Any, weights: Any) -> Any:
    """The vote of :mod:`.label` among a voxel's 8 linear taps' labels ``a`` (tap ``(c0, c1, c2)`` is
    ``a[4 c0 + 2 c1 + c2]``, ``c2`` fastest, the torch path's order), weights ``u`` of the upper taps.
    Weights ``((1 * w_0) * w_1) * w_2`` as label._label_tile's ``weights_at``; scores summed in tap
    order. Two classes (most mixed cells) in registers, a tap of the smaller class adding ``0 * w``
    (exactly 0: the same sum); more in the scratch arrays."""
    v0, v1, v2 = 1.0 - u0, 1.0 - u1, 1.0 - u2
    f00, f01, f10, f11 = v0 * v1, v0 * u1, u0 * v1, u0 * u1
    low = min(min(min(a0, a1), min(a2, a3)), min(min(a4, a5), min(a6, a7)))
    high = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))
    if (((a0 == low) | (a0 == high)) & ((a1 == low) | (a1 == high)) & ((a2 == low) | (a2 == high)) & ((a3 == low) | (a3 == high))
            & ((a4 == low) | (a4 == high)) & ((a5 == low) | (a5 == high)) & ((a6 == low) | (a6 == high))
            & ((a7 == low) | (a7 == high))):  # label._of_two
        score = (1.0 if a0 == high else 0.0) * (f00 * v2)
        score += (1.0 if a1 == high else 0.0) * (f00 * u2)
        score += (1.0 if a2 == high else 0.0) * (f01 * v2)
        score += (1.0 if a3 == high else 0.0) * (f01 * u2)
        score += (1.0 if a4 == high else 0.0) * (f10 * v2)
        score += (1.0 if a5 == high else 0.0) * (f10 * u2)
        score += (1.0 if a6 == high else 0.0) * (f11 * v2)
        score += (1.0 if a7 == high else 0.0) * (f11 * u2)
        return high if score >= TWO_CLASS_AT else low
    labels[0], labels[1], labels[2], labels[3], labels[4], labels[5], labels[6], labels[7] = a0, a1, a2, a3, a4, a5, a6, a7
    weights[0], weights[1], weights[2], weights[3] = f00 * v2, f00 * u2, f01 * v2, f01 * u2
    weights[4], weights[5], weights[6], weights[7] = f10 * v2, f10 * u2, f11 * v2, f11 * u2
    best = -1.0  # label._winner_of_many then label._best, once per distinct label (a repeat changes nothing)
    winner = high
    for t in range(8):
        seen = False
        for e in range(t):
            seen |= labels[e] == labels[t]
        if seen:
            continue
        score = 0.0
        for e in range(8):
            score += weights[e] if labels[e] == labels[t] else 0.0  # adding 0 to a sum of weights: exact
        rounded = np.rint(score / WEIGHT_TOL)
        if rounded > best or (rounded == best and labels[t] < winner):
            best, winner = rounded, labels[t]
    return winner


def _label_vote(src: Any, s: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int, u0: float, u1: float, u2: float,
                labels: Any, weights: Any) -> Any:
    """:func:`_vote8` of the 8 linear taps at storage offsets ``p``/``q`` (lower/upper tap) per axis."""
    return _vote8(src[s + p0 + p1 + p2], src[s + p0 + p1 + q2], src[s + p0 + q1 + p2], src[s + p0 + q1 + q2],
                  src[s + q0 + p1 + p2], src[s + q0 + p1 + q2], src[s + q0 + q1 + p2], src[s + q0 + q1 + q2],
                  u0, u1, u2, labels, weights)


def _uniform(src: Any, s: int, p0: int, q0: int, p1: int, q1: int, p2: int, q2: int, first: Any) -> bool:
    """Whether the 8 taps all hold ``first`` (the tap at ``p0 + p1 + p2``), with early exits."""
    return bool(src[s + p0 + p1 + q2] == first and src[s + p0 + q1 + p2] == first and src[s + p0 + q1 + q2] == first
                and src[s + q0 + p1 + p2] == first and src[s + q0 + p1 + q2] == first
                and src[s + q0 + q1 + p2] == first and src[s + q0 + q1 + q2] == first)


def _cell_marks(none: Any, dtype: Any) -> Any:
    """The 4 marks of the map of cells (:func:`_label_uniform_row`), in ``dtype``: ``none`` (the dtype's
    largest value: another cell) and the three values below it (a region's face across axis 0, 1, 2);
    for floats ``none`` is infinity, which minus 1 to 3 is infinity again: every cell not uniform is
    marked as another cell (read the 8 labels). Each mark is at least the smallest one, and a label below it
    is no mark: one comparison tells a label from a mark."""
    marks = np.empty(4, dtype=dtype)
    marks[0], marks[1], marks[2], marks[3] = none, none - 1, none - 2, none - 3
    return marks


def _label_cells_along(x0: float, x1: float, x2: float, d0: float, d1: float, d2: float, l0: int, l1: int, sst: Any,
                       index: Any) -> None:
    """The storage offset (channel 0) of the source cell of each voxel ``[l0, l1)`` of a row in the interior
    (coordinates in ``[0, n - 1)``), into ``index``: ``floor(snap_half(x))`` per axis without a branch (a
    coordinate within ``SNAP_TOL`` below an integer is that integer: :func:`._rows._snapped_floor`), so
    that the loop is vectorised (an unsigned count over a slice that starts at ``l0``: see
    :func:`.nearest._nearest_interior`)."""
    t0, t1, t2 = sst[1], sst[2], sst[3]
    count = np.uint64(max(l1 - l0, 0))
    offsets = index[l0:l1]
    for k in range(np.uint64(0), count):
        l = float(np.int64(k) + l0)  # exact: the same float64 coordinates as x + l * step
        y0, y1, y2 = x0 + l * d0, x1 + l * d1, x2 + l * d2
        i0, i1, i2 = int(y0), int(y1), int(y2)
        i0 += 1 if (i0 + 1.0) - y0 <= SNAP_TOL else 0
        i1 += 1 if (i1 + 1.0) - y1 <= SNAP_TOL else 0
        i2 += 1 if (i2 + 1.0) - y2 <= SNAP_TOL else 0
        offsets[k] = i0 * t0 + i1 * t1 + i2 * t2


def _label_split(a0: Any, a1: Any, a2: Any, a3: Any, a4: Any, a5: Any, a6: Any, a7: Any, l: float, x0: float, x1: float,
                 x2: float, d0: float, d1: float, d2: float, labels: Any, weights: Any) -> Any:
    """The label of interior voxel ``l`` of a row (:func:`_label_interior`) whose cell's 8 labels ``a``
    (:func:`_vote8`'s order) are not all one. A region's face (two labels split across one axis by a
    plane): the heavier side wins whichever label it holds where its weight is clearly off one half
    (:func:`_sure_sides`; the weight here is not snapped yet, which moves it by at most SNAP_TOL: hence
    the wider margin); else the vote."""
    along2 = (a0 == a1) & (a2 == a3) & (a4 == a5) & (a6 == a7)
    along1 = (a0 == a2) & (a1 == a3) & (a4 == a6) & (a5 == a7)
    along0 = (a0 == a4) & (a1 == a5) & (a2 == a6) & (a3 == a7)
    if along0 & along1:
        y, upper = x2 + l * d2, a1
    elif along0 & along2:
        y, upper = x1 + l * d1, a2
    elif along1 & along2:
        y, upper = x0 + l * d0, a4
    else:
        y, upper = -1.0, a0
    if y >= 0.0:
        i = int(y)
        i += 1 if (i + 1.0) - y <= SNAP_TOL else 0
        w = y - i
        if w >= _UPPER_SURE:
            return upper
        if w <= _LOWER_SURE:
            return a0
    y0, y1, y2 = _snap_half(x0 + l * d0), _snap_half(x1 + l * d1), _snap_half(x2 + l * d2)
    return _vote8(a0, a1, a2, a3, a4, a5, a6, a7, y0 - int(y0), y1 - int(y1), y2 - int(y2), labels, weights)


def _label_interior(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, d0: float, d1: float,
                    d2: float, l0: int, l1: int, sst: Any, labels: Any, weights: Any, index: Any, flat: bool, ahead: int) -> None:
    """Label over the voxels ``[l0, l1)`` of a row whose snapped coordinates lie in ``[0, n - 1)`` on every
    axis (their cells in ``index``, :func:`_label_cells_along`): no padding rule, both taps on the grid;
    ``orow`` the output row (a view), ``s`` the channel's source offset. Each voxel reads its cell's 8
    labels (compared without branches), a cell found uniform answering the next voxels of the row that
    fall in it (the usual upsampling back to the scan); the others :func:`_label_split`.
    ``flat``: the source's first axis has a stride of 0 (a 2-D image), so the 4 taps one step along it
    are the 4 read already (the same values: the same labels and votes), not read again; there each voxel
    asks for the 2 tap lines ``ahead`` elements further (:func:`._rows._ahead_offset`: from a 2-D source
    out of cache, 25-30% faster on sweep geometry 9; in 3-D the hints gave nothing). The voxels are
    counted unsigned over slices that start at ``l0``, the reads through unsigned offsets (numba adds a
    negative-index wraparound, a compare and a select, to every signed subscript)."""
    t0, t1, t2 = np.uint64(sst[1]), np.uint64(sst[2]), np.uint64(sst[3])
    t01, t02, t12, t012 = t0 + t1, t0 + t2, t1 + t2, t0 + t1 + t2
    count = np.uint64(max(l1 - l0, 0))
    offsets, values = index[l0:l1], orow[l0:l1]
    us, further = np.uint64(s), np.uint64(ahead)
    last = np.uint64(0)
    last_label = src[s]
    found = False
    for k in range(np.uint64(0), count):
        cell = us + np.uint64(offsets[k])
        if found and cell == last:
            values[k] = last_label
            continue
        if flat:
            prefetch(src, cell + further)
            prefetch(src, cell + further + t1)
        a0, a1, a2, a3 = src[cell], src[cell + t2], src[cell + t1], src[cell + t12]
        if flat:
            a4, a5, a6, a7 = a0, a1, a2, a3
        else:
            a4, a5, a6, a7 = src[cell + t0], src[cell + t02], src[cell + t01], src[cell + t012]
        if (a1 == a0) & (a2 == a0) & (a3 == a0) & (a4 == a0) & (a5 == a0) & (a6 == a0) & (a7 == a0):
            last, last_label, found = cell, a0, True
            values[k] = a0
            continue
        values[k] = _label_split(a0, a1, a2, a3, a4, a5, a6, a7, float(np.int64(k) + l0), x0, x1, x2, d0, d1, d2, labels, weights)


def _label_interior_mapped(src: Any, orow: Any, s: int, x0: float, x1: float, x2: float, d0: float, d1: float,
                           d2: float, l0: int, l1: int, sst: Any, labels: Any, weights: Any, uniform: Any, marks: Any,
                           index: Any, todo: Any, ahead: int) -> None:
    """:func:`_label_interior` of a contiguous source with its map of cells ``uniform`` (:func:`_label_uniform_row`:
    at a cell's offset its label where its 8 corners agree, else one of the 4 ``marks``,
    :func:`_cell_marks`). A gather as nearest's (one read a voxel, asking for the line ``ahead`` elements
    further) lists the voxels that read a mark (into ``todo``, without a branch). Those then, without a
    branch either (so that their reads overlap; with branches each paid its cache misses in turn): a
    region's face across axis ``k`` reads 2 labels (the cell's lowest corner and the next along ``k``),
    takes the side its weight along ``k`` decides (:func:`_label_split`'s rule); another cell asks for
    its lines. The voxels left (another cell, or a face's weight about one half) read their labels
    again: a face's 2 (whose 8 taps they give), another cell's 8; then :func:`_label_split` as
    :func:`_label_interior`. Sweep geometry 0 (downsampling, 5% of the voxels read a mark, 85% of them
    a face): those took 1.8 ms reading 8 labels each with branches, 1.2 ms this way."""
    t0, t1, t2 = np.uint64(sst[1]), np.uint64(sst[2]), np.uint64(sst[3])
    t01, t02, t12, t012 = t0 + t1, t0 + t2, t1 + t2, t0 + t1 + t2
    count = np.uint64(max(l1 - l0, 0))
    offsets, values = index[l0:l1], orow[l0:l1]
    us, further = np.uint64(s), np.uint64(ahead)
    other, across0, across1, across2 = marks[0], marks[1], marks[2], marks[3]
    low = min(min(other, across0), min(across1, across2))  # the marks are the dtype's 4 largest values (or all inf)
    listed = np.uint64(0)
    for k in range(np.uint64(0), count):
        cell = us + np.uint64(offsets[k])
        prefetch(uniform, cell + further)
        value = uniform[cell]
        values[k] = value
        todo[listed] = k
        listed += np.uint64(1) if value >= low else np.uint64(0)
    # the listed voxels without a branch, so that their reads overlap: a face's two labels, and the side its
    # weight along the face's axis decides; those left (another cell, or a weight about one half) listed again
    rest = np.uint64(0)
    for j in range(np.uint64(0), listed):
        voxel = np.uint64(todo[j])
        code = values[voxel]
        cell = us + np.uint64(offsets[voxel])
        l = float(np.int64(voxel) + l0)
        y = x2 + l * d2 if code == across2 else (x1 + l * d1 if code == across1 else x0 + l * d0)
        step = t2 if code == across2 else (t1 if code == across1 else t0)
        lower, upper = src[cell], src[cell + step]
        prefetch(src, cell + (t1 if code == other else step))  # another cell's other two lines, for the loop below
        prefetch(src, cell + (t01 if code == other else step))
        i = int(y)
        i += 1 if (i + 1.0) - y <= SNAP_TOL else 0
        w = y - i
        values[voxel] = upper if w >= _UPPER_SURE else lower
        todo[rest] = voxel  # rest <= j: todo[j] is read already
        rest += np.uint64(1) if (code == other) | (y < 0.0) | ((w > _LOWER_SURE) & (w < _UPPER_SURE)) else np.uint64(0)
    for j in range(np.uint64(0), rest):
        voxel = np.uint64(todo[j])
        cell = us + np.uint64(offsets[voxel])
        code = uniform[cell]
        a0 = src[cell]
        if code == other:
            a1, a2, a3 = src[cell + t2], src[cell + t1], src[cell + t12]
            a4, a5, a6, a7 = src[cell + t0], src[cell + t02], src[cell + t01], src[cell + t012]
            if (a1 == a0) & (a2 == a0) & (a3 == a0) & (a4 == a0) & (a5 == a0) & (a6 == a0) & (a7 == a0):
                values[voxel] = a0
                continue
        elif code == across2:
            a1 = src[cell + t2]
            a2, a3, a4, a5, a6, a7 = a0, a1, a0, a1, a0, a1
        elif code == across1:
            a2 = src[cell + t1]
            a1, a3, a4, a5, a6, a7 = a0, a2, a0, a0, a2, a2
        else:
            a4 = src[cell + t0]
            a1, a2, a3, a5, a6, a7 = a0, a0, a0, a4, a4, a4
        values[voxel] = _label_split(a0, a1, a2, a3, a4, a5, a6, a7, float(np.int64(voxel) + l0), x0, x1, x2, d0, d1, d2, labels, weights)


def _label_edge(src: Any, out: Any, at: int, step: int, s: int, x0: float, x1: float, x2: float, lin: Any, nsrc: Any,
                l0: int, l1: int, sst: Any, labels: Any, weights: Any, reflect: bool, uniform: Any, low: Any, mapped: bool) -> None:
    """Label over the voxels ``[l0, l1)`` of a row, some of whose taps need the padding rule. ``mapped``: a
    voxel whose clamped cell the map of cells ``uniform`` holds as uniform (a value below ``low``, the
    smallest mark) takes that label without reading its 8 taps (the map's last cells pair with themselves,
    as the clamped taps do: the same corners; 5-7% of the call on sweep geometries 0, 3 and 7)."""
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
        if mapped:
            code = uniform[s + p0 + p1 + p2]
            if code < low:
                out[at + l * step] = code
                continue
        first = src[s + p0 + p1 + p2]
        if _uniform(src, s, p0, q0, p1, q1, p2, q2, first):
            out[at + l * step] = first
        else:
            out[at + l * step] = _label_vote(src, s, p0, q0, p1, q1, p2, q2, y0 - f0, y1 - f1, y2 - f2, labels, weights)


def _label_row(r: int, labels: Any, weights: Any, index: Any, todo: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any,
               oshape: Any, origin: Any, lin: Any, lo: Any, hi: Any, fill: Any, reflect: bool, uniform: Any, marks: Any,
               mapped: bool) -> None:
    """Label: the 8 linear taps' labels; where they differ, the vote of :mod:`.label` (``labels``,
    ``weights``: the vote's scratch, 8 each; ``index``, ``todo``: a row's cells and voxels; one set per
    tile). ``mapped``: the interior reads the map of cells ``uniform`` first, ``marks`` its marks
    (:func:`_label_interior_mapped`)."""
    base, x0, x1, x2 = _row_start(r, ost, oshape, origin, lin)
    run0, run1 = lo[r], hi[r]  # read once into locals (a store into out could alias lo, to the compiler)
    _fill_row(out, base, ost, oshape[0], run0, run1, oshape[3], fill)
    # kept 1e-6 below n - 1, so that snapping (by at most SNAP_TOL) cannot reach the last index; none
    # with reflection, whose arithmetic moves even an inside coordinate by round-off (and so the vote)
    fast0, fast1 = _row_interior(x0, x1, x2, lin, nsrc, 0.0, -1.0 - 1e-6, run0, run1)
    fast1 = fast0 if reflect else fast1
    inner = fast1 > fast0
    d0, d1, d2 = lin[0, 2], lin[1, 2], lin[2, 2]
    _label_cells_along(x0, x1, x2, d0, d1, d2, fast0, fast1, sst, index)
    ahead = _ahead_offset(lin, sst, 2.0) if sst[1] == 0 or mapped else 0  # two rows on, as linear and nearest (2-D or the map)
    low = min(min(marks[0], marks[1]), min(marks[2], marks[3]))  # the smallest mark (see _label_interior_mapped)
    for c in range(oshape[0]):
        s, at = c * sst[0], base + c * ost[0]
        # the last axis is contiguous (label_kernel): a row without a step is typed contiguous, its stores
        # without a stride (3-5% of the call on sweep geometries 0, 2, 4 and 7 against a row with a step)
        orow = out[at : at + oshape[3]]
        if mapped:
            _label_interior_mapped(src, orow, s, x0, x1, x2, d0, d1, d2, fast0, fast1, sst, labels, weights, uniform, marks, index, todo, ahead)
        elif sst[1] == 0:  # a 2-D image: separate calls, so that each loop is compiled for its case
            _label_interior(src, orow, s, x0, x1, x2, d0, d1, d2, fast0, fast1, sst, labels, weights, index, True, ahead)
        else:
            _label_interior(src, orow, s, x0, x1, x2, d0, d1, d2, fast0, fast1, sst, labels, weights, index, False, 0)
        _label_edge(src, out, at, ost[3], s, x0, x1, x2, lin, nsrc, run0, fast0 if inner else run1, sst,
                    labels, weights, reflect, uniform, low, mapped)
        if inner:
            _label_edge(src, out, at, ost[3], s, x0, x1, x2, lin, nsrc, fast1, run1, sst, labels, weights, reflect, uniform, low, mapped)


def _label_tile(t: int, rows_a: int, rows_b: int, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any, origin: Any,
                lin: Any, lo: Any, hi: Any, fill: Any, reflect: bool, uniform: Any, marks: Any, mapped: bool, tile_labels: Any,
                tile_weights: Any, tile_index: Any, tile_todo: Any) -> None:
    """Tile ``t``'s rows (:func:`._rows._tile_rows`), the row inlined: one call a tile (see :func:`._runtime.compile_module`).
    Compiled without reference counting: the vote's scratch and the row's cells and voxels to finish
    are the tile's ``[t]`` of ``tile_*`` (:func:`._runtime.per_tile`)."""
    a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
    labels, weights, index, todo = tile_labels[t], tile_weights[t], tile_index[t], tile_todo[t]
    for a in range(a0, a1):
        for b in range(b0, b1):
            _label_row(a * rows_b + b, labels, weights, index, todo, src, sst, nsrc, out, ost, oshape, origin, lin, lo, hi, fill,
                       reflect, uniform, marks, mapped)


def _label_serial(rows_a: int, rows_b: int, args: Any) -> None:
    for t in range(((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)):
        _label_tile(t, rows_a, rows_b, *args)


def _label_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for t in numba.prange(((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)):
        _label_tile(t, rows_a, rows_b, *args)


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


def _label_axes_row(r: int, labels: Any, weights: Any, code: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any,
                    oshape: Any, p: Any, q: Any, u: Any, n: Any, decided: Any) -> None:
    """An axis-aligned label row (target axis ``k`` reads source axis ``k``): the taps and weights of
    each axis from its table (:func:`_axis_table`). A voxel whose cell is uniform, or split across one
    axis whose side is decided (``decided``: 1 where :func:`_sure_sides` is), takes the label at its taps
    ``n`` (the winning side's per axis); the rest vote as :func:`_label_edge` does (same taps, weights and
    order: the same labels). With a contiguous last axis the row's source cells are classified first,
    whole rows compared without branches (``code``: per cell, bit 0 decided whatever the last axis'
    side, bit 1 uniform along the two other axes), so that a voxel reads its cell's code, not its 8 labels."""
    a = r // oshape[2]
    b = r - a * oshape[2]
    base = ost[1] * a + ost[2] * b
    p0, q0, u0, p1, q1, u1 = p[0, a], q[0, a], u[0, a], p[1, b], q[1, b], u[1, b]
    sure0, sure1 = decided[0, a] == 1, decided[1, b] == 1
    n2 = nsrc[2]
    for c in range(oshape[0]):
        s, at = c * sst[0], base + c * ost[0]
        r00, r01, r10, r11 = s + p0 + p1, s + p0 + q1, s + q0 + p1, s + q0 + q1
        rn = s + n[0, a] + n[1, b]
        if sst[3] == 1 and n2 > 1:
            x00, x01, x10, x11 = src[r00 : r00 + n2], src[r01 : r01 + n2], src[r10 : r10 + n2], src[r11 : r11 + n2]
            for i2 in range(n2 - 1):
                along2 = (x00[i2] == x00[i2 + 1]) & (x01[i2] == x01[i2 + 1]) & (x10[i2] == x10[i2 + 1]) & (x11[i2] == x11[i2 + 1])
                along1 = (x00[i2] == x01[i2]) & (x00[i2 + 1] == x01[i2 + 1]) & (x10[i2] == x11[i2]) & (x10[i2 + 1] == x11[i2 + 1])
                along0 = (x00[i2] == x10[i2]) & (x00[i2 + 1] == x10[i2 + 1]) & (x01[i2] == x11[i2]) & (x01[i2 + 1] == x11[i2 + 1])
                fine = (along0 & along1 & along2) | (along0 & along2 & sure1) | (along1 & along2 & sure0)
                code[i2] = (1 if fine else 0) | (2 if along0 & along1 else 0)
            last = n2 - 1
            along1 = (x00[last] == x01[last]) & (x10[last] == x11[last])
            along0 = (x00[last] == x10[last]) & (x01[last] == x11[last])
            fine = (along0 & along1) | (along0 & sure1) | (along1 & sure0)
            code[last] = (1 if fine else 0) | (2 if along0 & along1 else 0)
            for l in range(oshape[3]):
                p2 = p[2, l]
                cell = code[p2]
                if (cell & 1) | ((cell >> 1) & decided[2, l]):
                    out[at + l * ost[3]] = src[rn + n[2, l]]
                else:
                    out[at + l * ost[3]] = _label_vote(src, s, p0, q0, p1, q1, p2, q[2, l], u0, u1, u[2, l], labels, weights)
            continue
        for l in range(oshape[3]):
            p2, q2 = p[2, l], q[2, l]
            a0, a1, a2, a3 = src[r00 + p2], src[r00 + q2], src[r01 + p2], src[r01 + q2]
            a4, a5, a6, a7 = src[r10 + p2], src[r10 + q2], src[r11 + p2], src[r11 + q2]
            along2 = (a0 == a1) & (a2 == a3) & (a4 == a5) & (a6 == a7)
            along1 = (a0 == a2) & (a1 == a3) & (a4 == a6) & (a5 == a7)
            along0 = (a0 == a4) & (a1 == a5) & (a2 == a6) & (a3 == a7)
            if ((along0 & along1 & (along2 | (decided[2, l] == 1))) | (along0 & along2 & sure1)
                    | (along1 & along2 & sure0)):
                out[at + l * ost[3]] = src[rn + n[2, l]]
            else:
                out[at + l * ost[3]] = _vote8(a0, a1, a2, a3, a4, a5, a6, a7, u0, u1, u[2, l], labels, weights)


def _label_cells_row(r: int, src: Any, sst: Any, nsrc: Any, cells: Any, sure: Any) -> None:
    """Source slab ``r`` (channel ``r // n0``, index ``r % n0`` on axis 0) of the decided-cell map of a
    contiguous source: 1 where the cell (its corners ``i`` and ``min(i + 1, n - 1)`` per axis) is uniform,
    or holds two labels split across one axis whose side is decided for each of its readers along it
    (``sure[k, i]``, from :func:`_sure_sides`): its readers' labels are those at their ``n`` taps; 0 where
    they must vote. ``cells`` ``(C n0, S)``, a slab's cell ``(i1, i2)`` at ``i1 * n2 + i2``, the padding to
    ``S`` left as it is (1). The inner loop compares whole rows (no branch: vectorised)."""
    c = r // nsrc[0]
    i0 = r - c * nsrc[0]
    n2 = nsrc[2]
    s = c * sst[0]
    r0, r1 = s + i0 * sst[1], s + min(i0 + 1, nsrc[0] - 1) * sst[1]
    sure0 = sure[0, i0]
    sure2 = sure[2, :n2]
    for i1 in range(nsrc[1]):
        j1 = min(i1 + 1, nsrc[1] - 1)
        # the four source rows of the cells (i0, i1, :), and the cells' rows of the map
        x00, x01 = src[r0 + i1 * sst[2] : r0 + i1 * sst[2] + n2], src[r0 + j1 * sst[2] : r0 + j1 * sst[2] + n2]
        x10, x11 = src[r1 + i1 * sst[2] : r1 + i1 * sst[2] + n2], src[r1 + j1 * sst[2] : r1 + j1 * sst[2] + n2]
        row = cells[r, i1 * n2 : i1 * n2 + n2]
        sure1 = sure[1, i1]
        for i2 in range(n2 - 1):
            a0, a1, a2, a3 = x00[i2], x00[i2 + 1], x01[i2], x01[i2 + 1]
            a4, a5, a6, a7 = x10[i2], x10[i2 + 1], x11[i2], x11[i2 + 1]
            along2 = (a0 == a1) & (a2 == a3) & (a4 == a5) & (a6 == a7)
            along1 = (a0 == a2) & (a1 == a3) & (a4 == a6) & (a5 == a7)
            along0 = (a0 == a4) & (a1 == a5) & (a2 == a6) & (a3 == a7)
            row[i2] = (along0 & along1 & (along2 | sure2[i2])) | (along0 & along2 & sure1) | (along1 & along2 & sure0)
        # the last index pairs with itself along axis 2
        last = n2 - 1
        along1 = (x00[last] == x01[last]) & (x10[last] == x11[last])
        along0 = (x00[last] == x10[last]) & (x01[last] == x11[last])
        row[last] = (along0 & along1) | (along0 & sure1) | (along1 & sure0)


def _cell_code(a0: Any, a1: Any, a2: Any, a3: Any, a4: Any, a5: Any, a6: Any, a7: Any, other: Any, across0: Any,
               across1: Any, across2: Any) -> Any:
    """A cell's value in the map of cells (:func:`_label_uniform_row`) from its 8 corners (:func:`_vote8`'s order):
    their label where they agree, the mark ``across<k>`` where two labels are split across axis ``k`` by a
    plane (the corners agree along the two other axes: :func:`_label_split`'s faces), else ``other``. A
    uniform cell whose label is a mark is read as that mark says, with the same answer: as a face, its 2
    labels are one (either side gives it); as another cell, its 8 agree."""
    along2 = (a0 == a1) & (a2 == a3) & (a4 == a5) & (a6 == a7)
    along1 = (a0 == a2) & (a1 == a3) & (a4 == a6) & (a5 == a7)
    along0 = (a0 == a4) & (a1 == a5) & (a2 == a6) & (a3 == a7)
    uniform = along0 & along1 & along2
    code = across2 if along0 & along1 else (across1 if along0 & along2 else (across0 if along1 & along2 else other))
    return a0 if uniform else code


def _label_uniform_row(r: int, src: Any, nsrc: Any, uniform: Any, none: Any) -> None:
    """Source slab ``r`` (channel ``r // n0``, index ``r % n0`` on axis 0) of the map of cells of a
    contiguous source (``uniform``, laid out as ``src``): at a cell's offset (its lowest corner's) the
    label of its 8 corners (``i`` and ``min(i + 1, n - 1)`` per axis, as a stride of 0 reads an axis of
    one voxel) where they agree, else a mark (:func:`_cell_marks` of ``none``; :func:`_cell_code`): a
    region's face across axis ``k`` (two labels, the cell's corners agreeing along the two other axes,
    as :func:`_label_split` tells it), or another cell. The slab is compared as one flat run without a
    branch (vectorised; row by row, 128 cells a row, the loop's entry cost about doubled the pass), the
    cells it gets wrong (the last of each row and the last row, whose upper corners are clamped) again after."""
    n0, n1, n2 = nsrc[0], nsrc[1], nsrc[2]
    c = r // n0
    i0 = r - c * n0
    size = n1 * n2
    r0 = (c * n0 + i0) * size
    r1 = (c * n0 + min(i0 + 1, n0 - 1)) * size
    marks = _cell_marks(none, src.dtype)
    other, across0, across1, across2 = marks[0], marks[1], marks[2], marks[3]
    lower, upper, row = src[r0 : r0 + size], src[r1 : r1 + size], uniform[r0 : r0 + size]
    one, w, v = np.uint64(1), np.uint64(n2), np.uint64(n2 + 1)  # unsigned subscripts: no negative-index wraparound
    for j in range(np.uint64(0), np.uint64(max((n1 - 1) * n2 - 1, 0))):
        row[j] = _cell_code(lower[j], lower[j + one], lower[j + w], lower[j + v], upper[j], upper[j + one], upper[j + w],
                            upper[j + v], other, across0, across1, across2)
    for i1 in range(n1):  # the last cell of each row pairs with itself along axis 2
        j, k = i1 * n2 + n2 - 1, min(i1 + 1, n1 - 1) * n2 + n2 - 1
        row[j] = _cell_code(lower[j], lower[j], lower[k], lower[k], upper[j], upper[j], upper[k], upper[k], other, across0,
                            across1, across2)
    for j in range((n1 - 1) * n2, size - 1):  # the last row pairs with itself along axis 1
        row[j] = _cell_code(lower[j], lower[j + 1], lower[j], lower[j + 1], upper[j], upper[j + 1], upper[j], upper[j + 1], other,
                            across0, across1, across2)


def _label_mixed_row(r: int, labels: Any, weights: Any, kinds: Any, masks: Any, src: Any, sst: Any, nsrc: Any, out: Any, ost: Any, oshape: Any,
                     p: Any, q: Any, u: Any, first: Any, last: Any, cells: Any, words: Any) -> None:
    """The second pass, source slab ``r`` (channel ``r // n0``, first source index ``r % n0``): every
    cell of the slab that is not decided (``cells`` 0, :func:`_label_cells_row`; ``words``: the same map
    8 cells a word, so that a run of decided cells is skipped a word at a time) votes for the target
    voxels that read it, the box ``[first, last)`` per axis of the targets whose lowest tap is the cell's
    corner."""
    c = r // nsrc[0]
    i0 = r - c * nsrc[0]
    if first[0, i0] >= last[0, i0]:
        return
    s = c * sst[0]
    count = nsrc[1] * nsrc[2]
    for w in range(words.shape[1]):
        if words[r, w] == 0x0101010101010101:  # int64 words: an exact integer comparison (uint64 against an int
            continue  # literal compares as float64 in numba, where a word one byte off rounds to equal)
        for e in range(w * 8, min(w * 8 + 8, count)):
            if cells[r, e]:
                continue
            i1 = e // nsrc[2]
            i2 = e - i1 * nsrc[2]
            if first[1, i1] >= last[1, i1] or first[2, i2] >= last[2, i2]:
                continue
            # the cell's 8 labels once; two classes: each reader only weighs them, with _vote8's
            # arithmetic (the same products, summed in tap order; a tap of the smaller class adds 0 * w,
            # exactly 0) and its threshold
            p0, q0 = i0 * sst[1], min(i0 + 1, nsrc[0] - 1) * sst[1]
            p1, q1 = i1 * sst[2], min(i1 + 1, nsrc[1] - 1) * sst[2]
            p2, q2 = i2 * sst[3], min(i2 + 1, nsrc[2] - 1) * sst[3]
            t0, t1, t2, t3 = src[s + p0 + p1 + p2], src[s + p0 + p1 + q2], src[s + p0 + q1 + p2], src[s + p0 + q1 + q2]
            t4, t5, t6, t7 = src[s + q0 + p1 + p2], src[s + q0 + p1 + q2], src[s + q0 + q1 + p2], src[s + q0 + q1 + q2]
            low = min(min(min(t0, t1), min(t2, t3)), min(min(t4, t5), min(t6, t7)))
            high = max(max(max(t0, t1), max(t2, t3)), max(max(t4, t5), max(t6, t7)))
            if (((t0 == low) | (t0 == high)) & ((t1 == low) | (t1 == high)) & ((t2 == low) | (t2 == high))
                    & ((t3 == low) | (t3 == high)) & ((t4 == low) | (t4 == high)) & ((t5 == low) | (t5 == high))
                    & ((t6 == low) | (t6 == high)) & ((t7 == low) | (t7 == high))):
                m0, m1, m2, m3 = (1.0 if t0 == high else 0.0), (1.0 if t1 == high else 0.0), (1.0 if t2 == high else 0.0), (1.0 if t3 == high else 0.0)
                m4, m5, m6, m7 = (1.0 if t4 == high else 0.0), (1.0 if t5 == high else 0.0), (1.0 if t6 == high else 0.0), (1.0 if t7 == high else 0.0)
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
                            score = m0 * (f00 * v2)
                            score += m1 * (f00 * u2)
                            score += m2 * (f01 * v2)
                            score += m3 * (f01 * u2)
                            score += m4 * (f10 * v2)
                            score += m5 * (f10 * u2)
                            score += m6 * (f11 * v2)
                            score += m7 * (f11 * u2)
                            out[at + l * ost[3]] = high if score >= TWO_CLASS_AT else low
                continue
            # three or more classes: the cell's distinct labels and, per label, the 0/1 mask of its taps once;
            # each reader scores every label as _vote8 does (masked: the same sum in tap order)
            labels[0], labels[1], labels[2], labels[3], labels[4], labels[5], labels[6], labels[7] = t0, t1, t2, t3, t4, t5, t6, t7
            classes = 0
            for t in range(8):
                seen = False
                for e in range(t):
                    seen |= labels[e] == labels[t]
                if not seen:
                    for e in range(8):
                        masks[classes, e] = 1.0 if labels[e] == labels[t] else 0.0
                    kinds[classes] = labels[t]
                    classes += 1
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
                        weights[0], weights[1], weights[2], weights[3] = f00 * v2, f00 * u2, f01 * v2, f01 * u2
                        weights[4], weights[5], weights[6], weights[7] = f10 * v2, f10 * u2, f11 * v2, f11 * u2
                        best = -1.0
                        winner = high
                        for k in range(classes):
                            score = masks[k, 0] * weights[0]
                            for e in range(1, 8):
                                score += masks[k, e] * weights[e]
                            rounded = np.rint(score / WEIGHT_TOL)
                            if rounded > best or (rounded == best and kinds[k] < winner):
                                best, winner = rounded, kinds[k]
                        out[at + l * ost[3]] = winner


def _label_cells_serial(rows_a: int, rows_b: int, args: Any) -> None:
    for r in range(rows_a * rows_b):
        _label_cells_row(r, *args)


def _label_cells_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for r in numba.prange(rows_a * rows_b):
        _label_cells_row(r, *args)


def _label_uniform_serial(rows_a: int, rows_b: int, args: Any) -> None:
    for r in range(rows_a * rows_b):
        _label_uniform_row(r, *args)


def _label_uniform_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for r in numba.prange(rows_a * rows_b):
        _label_uniform_row(r, *args)


def _label_mixed_serial(rows_a: int, rows_b: int, args: Any) -> None:
    labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
    kinds, masks = np.empty(8, dtype=args[0].dtype), np.empty((8, 8), dtype=np.float64)
    for r in range(rows_a * rows_b):
        _label_mixed_row(r, labels, weights, kinds, masks, *args)


def _label_mixed_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    for t in numba.prange((rows_a * rows_b + 7) // 8):  # 8 source slabs a task: the vote's scratch once
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        kinds, masks = np.empty(8, dtype=args[0].dtype), np.empty((8, 8), dtype=np.float64)
        for r in range(t * 8, min(rows_a * rows_b, t * 8 + 8)):
            _label_mixed_row(r, labels, weights, kinds, masks, *args)


def _label_axes_serial(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in range(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        code = np.empty(args[2][2], dtype=np.uint8)  # the row's source cells (nsrc[2])
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_axes_row(a * rows_b + b, labels, weights, code, *args)


def _label_axes_parallel(rows_a: int, rows_b: int, args: Any) -> None:
    tiles = ((rows_a + TILE - 1) // TILE) * ((rows_b + TILE - 1) // TILE)
    for t in numba.prange(tiles):
        a0, a1, b0, b1 = _tile_rows(t, rows_a, rows_b)
        labels, weights = np.empty(8, dtype=args[0].dtype), np.empty(8, dtype=np.float64)
        code = np.empty(args[2][2], dtype=np.uint8)  # the row's source cells (nsrc[2])
        for a in range(a0, a1):
            for b in range(b0, b1):
                _label_axes_row(a * rows_b + b, labels, weights, code, *args)


compile_module(globals(), helpers=('_vote8', '_label_vote', '_uniform', '_cell_marks', '_cell_code', '_label_cells_along', '_label_split', '_label_interior',
                                    '_label_interior_mapped', '_label_edge', '_label_row'),
               modes=('label',), unit="tile", refcounts=False)
compile_module(globals(), helpers=(), modes=('label_axes', 'label_cells', 'label_mixed', 'label_uniform'))
if numba is not None:
    _axis_table = _jit(_axis_table, nogil=True)


def _none(dtype: torch.dtype) -> Any:
    """The mark of the other cells in the map of cells (:func:`_label_uniform_row`), a numpy scalar of
    ``dtype``: its largest value (infinity for floats), an unlikely label; the faces' marks are the 3
    values below it (:func:`_cell_marks`). A uniform cell of a mark's label is only read the slower way
    (its 8 corners), with the same answer."""
    return torch.tensor(math.inf if dtype.is_floating_point else torch.iinfo(dtype).max, dtype=dtype).numpy()[()]


#: :func:`_none` of each label dtype, made once (4.6 us a call: 2% of a 512x512 nearest call), and its 4 marks (:func:`_cell_marks`).
_NONE = {dtype: _none(dtype) for dtype in _LABEL_DTYPES}
_MARKS = {dtype: getattr(_cell_marks, "py_func", _cell_marks)(none, none.dtype) for dtype, none in _NONE.items()}


def label_kernel(src: torch.Tensor, matrix: np.ndarray, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> bool:
    """The general path's label mode with a compiled kernel (same arguments and refusals as :func:`general_kernel`)."""
    if not available() or src.device.type != "cpu" or dest.device.type != "cpu" or src.dtype != dest.dtype:
        return False
    view = torch.uint8 if src.dtype == torch.bool else None
    if (view or src.dtype) not in _LABEL_DTYPES or dest.stride(-1) != 1:  # rows written as contiguous runs
        return False
    oshape, sst, source_span, nsrc, ost, out_span, tail = _general_args(src, dest, matrix, plan, box, options, view)
    source, out = _flat(src, source_span, view), _flat(dest, out_span, view)
    reflect = options.padding_mode == "reflection"
    # the map of uniform cells: one branch-free pass over the source (about a third of nearest's time a source
    # voxel), then a voxel in a uniform cell reads one value (most voxels: 93-95% on the sweep's maps),
    # where it read 8 and compared them (sweep geometry 0, downsampling: label 7.3 -> 5.3 + 1.1 ms for the map);
    # most others (85%) lie on a region's face and read 2; 2-D too (label / nearest 2.4-2.7 -> 1.6-1.9 on the
    # sweep's 512x512 geometries, where each voxel read its cell's 4 labels)
    mapped = not reflect and src.is_contiguous()
    none = _NONE[view or dest.dtype]
    uniform = source[:1]
    if mapped:
        uniform = np.empty_like(source)
        _run("label_uniform", np.asarray([1, int(src.shape[0] * nsrc[0]), 1, 1], dtype=np.int64), source, nsrc, uniform, none)
    length = int(oshape[3])
    _run("label", oshape, source, sst, nsrc, out, ost, *tail, uniform, _MARKS[view or dest.dtype], mapped,
         per_tile(oshape, (8,), source.dtype), per_tile(oshape, (8,), np.float64), per_tile(oshape, (length,), np.int64),
         per_tile(oshape, (length,), np.int64))
    return True


def label_axes_kernel(img: torch.Tensor, plan: WarpPlan, box: Box, options: WarpOptions, dest: torch.Tensor) -> bool:
    """An axis-aligned (separable or index) plan's label mode with a compiled kernel, target axis
    ``k`` reading source axis ``k`` (no permutation): per-axis tap tables, then a voxel in a uniform or
    decided cell (:func:`_sure_sides`) takes the label at its winning taps ``n`` and the others vote.
    Targets with at least as many voxels as a contiguous 3-D source (no reflection) take two passes:
    all voxels the label at ``n`` by torch's index gathers (as ``nearest``), then the map of the
    source's undecided cells (:func:`_label_cells_row`) and their readers' votes
    (:func:`_label_mixed_row`); other targets one pass (:func:`_label_axes_row`). ``img`` ``(N,
    *source)`` the whole source; ``dest`` the box (the box of an axis-aligned plan is exact: every
    voxel of it is inside). False (nothing written) where it does not apply: as :func:`label_kernel`,
    a permuting plan, or a thick axis with its own mode."""
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
    # a cell split across one axis by a plane, that axis' side decided at every target: its readers take
    # the labels at the winning side's taps n (lower taps where undecided: such cells vote)
    side = _sure_sides(u)
    n = np.where(side == 1, q, p)
    if plan.ndim == 3 and not reflect and img.is_contiguous() and dest[0].numel() >= img[0].numel():
        # two passes: every voxel the label at its taps n (a gather: right in uniform and decided cells),
        # then the readers of the other cells vote (the map of the source's cells, built in one pass and
        # scanned a word at a time, pays off where the target has as many voxels as the source)
        # (the gather as nearest's: one torch index step per axis, whole rows and slabs copied at once)
        index = [torch.from_numpy(n[k, : oshape[1 + k]] // max(1, int(sst[1 + k]))) for k in range(3)]
        run_steps(img, [[(i, None)] for i in index], step_order([float(oshape[1 + k] / nsrc[k]) for k in range(3)]), dest)
        # per axis and source index: the side of every target reading it (as its lower tap) is decided
        sure = np.ones((3, width), dtype=np.bool_)
        for k in range(3):
            sure[k, p[k, : oshape[1 + k]][side[k, : oshape[1 + k]] < 0] // max(1, int(sst[1 + k]))] = False
        slabs = oshape[0] * nsrc[0]
        count = int(nsrc[1] * nsrc[2])
        cells = np.ones((slabs, -(-count // 8) * 8), dtype=np.uint8)
        slab_rows = np.asarray([1, slabs, 1, 1], dtype=np.int64)
        _run("label_cells", slab_rows, source, sst, nsrc, cells, sure)
        _run("label_mixed", slab_rows, source, sst, nsrc, out, ost, oshape, p, q, u, first, last, cells, cells.view(np.int64))
        return True
    _run("label_axes", oshape, source, sst, nsrc, out, ost, oshape, p, q, u, n, (side >= 0).astype(np.uint8))
    return True
